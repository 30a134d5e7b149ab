"""The central flow (Cohen, Damian et al., ICLR 2025): the ODE the time-averaged GD trajectory
follows at the edge of stability, integrated from t* as the reference branch `central_flow`.

In effective time t (Σ lr), with the oscillation's covariance Σ = σ²·u uᵀ along the top
eigenvector u of H (λ1 = uᵀHu = S):

    dw/dt = −[∇L(w) + ½σ²·∇S(w)],       ∇S = ∇(uᵀH(w)u) with u held fixed,
    σ² ≥ 0,  S ≤ 2/η,  σ²·(2/η − S) = 0     (complementarity: σ² > 0 only at the threshold).

At the threshold dS/dt = ⟨∇S, dw/dt⟩ = a_S − ½σ²·b_S (a_S = −⟨∇L, ∇S⟩, b_S = ‖∇S‖²) must vanish,
so σ² = 2·max(0, a_S)/b_S. Each explicit Euler step of length h imposes the complementarity on the
linearised sharpness at the END of the step, S + h·(a_S − ½σ²·b_S) ≤ 2/η, which gives

    σ² = max(0, 2·(S + h·a_S − 2/η)/(h·b_S)).

It is 2·a_S/b_S at the threshold, switches on the step before gradient flow would cross it, and
pulls a sharpness that has drifted above 2/η back in one step (the projection the public code
makes the same way). What it leaves is the linearisation error: S after a step is 2/η + O(h²),
corrected at the next step, so S stays within O(h²) of the threshold instead of drifting.

Predicted time averages (what the oscillating GD iterates average to): L + ½σ²·λ1 for the loss and
ℓ_k(w) + ½σ²·uᵀH_k u for group k's mean loss ℓ_k. The σ² of the prediction is the mean of the
steps' σ² over WINDOW GD steps around it (the public code likewise averages Σ over a step's
substeps): that is the oscillation the integration actually applied to hold S, drift corrections
included. On a smooth problem it equals 2·a_S/b_S to within σ²'s own change over the window.

ReLU networks: S = λ1 is only piecewise smooth (an activation flipping sign changes H at once) and
∇S sees only the smooth pieces. On teach-digits S jumps off the threshold (0.994–1.004 of 2/η)
and the steps' σ² switches between 0 and spikes several times 2·a_S/b_S, so no single step's σ²
is the oscillation; the window's mean is, and there it comes out within ~10% of 2·a_S/b_S.
The window is centred on the row (rows wait WINDOW/2 steps for it), cut at the flow's ends.

Limitation: ONE unstable direction. When a second eigenvalue also reaches 2/η the general flow
solves a semidefinite complementarity problem for Σ over all of them; this one does not, and does
not detect it either: the solver's λ2 is not converged (it stops on λ1's residual, often after
two products), so it is not stored. The baseline's tracked eigenvalues (track_fraction) tell
whether a second one nears 2/η on the EoS branch itself.

Only full-batch GD: momentum and SGD have other central flows, not implemented here.
"""

from __future__ import annotations

import math
import time

import torch

from eos_core.config import RunConfig, branch_thresholds
from eos_core.groups import GROUPS
from eos_core.science.branching import Branch, ForkState, Setup
from eos_core.science.curvature import Eigenpairs, LossGraph, align_signs, dot64, top_eigenpairs, warm_start
from eos_core.science.problem import Problem

BRANCH = "central_flow"
# Euler steps per GD step of the baseline: h = η/SUBSTEPS (the public code uses 4). Measured on the
# tests' smooth problem over 120 steps: λ1 stays within 6e-5 of 2/η at h = η/2 and 1.5e-5 at η/4
# (∝ h², the linearisation error); the predicted ℓ̂_k of the two differ by ~1% (0.1–2.7%), up to
# 16% on a group whose loss has fallen tenfold — the Euler path's own O(h) error.
SUBSTEPS = 2
# GD steps over which the prediction's σ² averages the steps' σ² (on teach-digits the steps' σ²
# switches on and off within ~16 steps; σ² itself drifts by ~10% over 200).
WINDOW = 16
# A sharpness this far above 2/η after the projection means σ² no longer holds it: the flow diverged.
RUNAWAY = 1.5


class FlowDiverged(Exception):
    """The flow left the region where it is defined: a non-finite loss or a runaway sharpness."""


def sigma_squared(S: float, a_S: float, b_S: float, threshold: float, h: float) -> float:
    """σ² of one Euler step of length h (see the module docstring): the smallest σ² ≥ 0 that keeps
    the linearised sharpness at the step's end at or below the threshold."""
    excess = S + h * a_S - threshold  # where gradient flow alone would take S
    if not math.isfinite(excess):
        raise FlowDiverged(f"λ1 = {S:.4g}, a_S = {a_S:.4g}: not finite")
    if excess <= 0:
        return 0.0
    if not b_S > 0:  # ∇S = 0: no σ² can move the sharpness
        raise FlowDiverged(f"λ1 = {S:.4g} must come down but ∇S vanishes")
    return 2.0 * excess / (h * b_S)


class FlowPoint:
    """Everything the flow knows at w: L, ∇L, the top eigenpairs, ∇S, a_S, b_S."""

    def __init__(self, problem: Problem, theta: torch.Tensor, previous: Eigenpairs | None, generator):
        leaf = theta.detach().requires_grad_(True)
        losses = problem.losses(leaf)  # (n,)
        if not bool(torch.isfinite(theta).all() and torch.isfinite(losses.detach().sum())):
            raise FlowDiverged("the loss is no longer finite")
        graph = LossGraph(leaf, losses.mean())
        start = warm_start(previous, theta.numel(), theta.device, generator)
        # k=2 as the diagnostics solve: λ1's stopping rule needs a second Ritz pair, not λ2 itself
        self.eigen = align_signs(top_eigenpairs(graph.hvp, start, k=2), previous)
        self.u = self.eigen.vectors[0].to(theta.dtype)  # (d,)
        self.losses = losses.detach()
        self.gradient = graph.grad.detach()  # (d,)
        self.grad_S = graph.sharpness_gradient(self.u)  # (d,)
        self.a_S = -dot64(self.gradient, self.grad_S)
        self.b_S = dot64(self.grad_S, self.grad_S)

    @property
    def sharpness(self) -> float:
        return float(self.eigen.values[0])

    def velocity(self, sigma2: float) -> torch.Tensor:
        """dw/dt = −(∇L + ½σ²∇S)."""
        return -(self.gradient + 0.5 * sigma2 * self.grad_S)


def group_curvatures(problem: Problem, theta: torch.Tensor, u: torch.Tensor) -> list[float]:
    """uᵀH_k u for every group k (H_k the Hessian of group k's mean loss): one forward, then one
    double backward per group."""
    leaf = theta.detach().requires_grad_(True)
    losses = problem.losses(leaf)  # (n,)
    out = []
    for members in problem.groups:
        g_k = torch.autograd.grad(losses[members].mean(), leaf, create_graph=True)[0]
        h_k_u = torch.autograd.grad(torch.dot(g_k, u), leaf, retain_graph=True)[0]
        out.append(dot64(h_k_u, u))
    return out


def window_sigma_squared(history: list[float], index: int) -> float:
    """σ² of the prediction at the step `index` of `history` (the steps' σ², one per Euler step): their
    mean over WINDOW GD steps centred on it, cut at either end of the flow. Centred, it tracks a
    smoothly changing σ² to second order (a trailing mean would lag by half a window)."""
    half = WINDOW * SUBSTEPS // 2
    window = history[max(0, index - half) : index + half + 1]
    return sum(window) / len(window)


def point_rows(problem: Problem, point: FlowPoint, theta: torch.Tensor, sigma2_step: float, where: dict):
    """The logged row and group rows at a flow point, before σ² is known (`complete` adds it):
    ℓ_k(w), uᵀH_k u and the point's sharpness terms."""
    row = {
        **where,
        "loss": float(point.losses.mean()),
        "lambda1": point.sharpness,
        "eig_residual": float(point.eigen.residuals[0]),
        "grad_norm": point.gradient.double().norm().item(),
        "a_S": point.a_S,
        "b_S": point.b_S,
        "sigma2_step": sigma2_step,
    }
    curvatures = group_curvatures(problem, theta, point.u)
    groups = [
        {**where, "group": name, "loss": float(point.losses[members].mean()), "u_curvature": curvature}
        for name, members, curvature in zip(GROUPS, problem.groups, curvatures)
    ]
    return row, groups


def complete(row: dict, groups: list[dict], sigma2: float) -> None:
    """The predicted time averages: L + ½σ²·λ1 and ℓ_k(w) + ½σ²·uᵀH_k u."""
    row["sigma2"] = sigma2
    row["predicted_loss"] = row["loss"] + 0.5 * sigma2 * row["lambda1"]
    for g in groups:
        g["predicted_loss"] = g["loss"] + 0.5 * sigma2 * g["u_curvature"]


def run_central_flow(setup: Setup, cfg: RunConfig, fork: ForkState, progress=None, measure=None) -> Branch:
    """Integrate the central flow from the fork at t* to the baseline's last step, in Euler steps of
    h = η/SUBSTEPS, logging on the baseline's logged grid (a row at baseline step s has the
    baseline's effective time at s). On divergence the branch stops with `diverged_at` and says why
    in `Branch.info`, keeping every row it logged. `progress` hears a "central_flow" event per
    logged row. (`measure`, the distance to the EoS branch, is the registry's common argument; the
    central flow is the EoS branch's time average, so it is not measured against it.)"""
    branch, message = Branch(BRANCH), ""
    started = time.perf_counter()
    if cfg.optimizer != "gd":
        message = f"the central flow is implemented for full-batch GD only, not {cfg.optimizer}"
    else:
        try:
            _integrate(setup, cfg, fork, branch, progress)
        except FlowDiverged as error:
            message = f"the central flow stopped at step {branch.diverged_at}: {error}; the rows up to there are kept"
    status = "diverged" if branch.diverged_at is not None else "done" if branch.rows else "skipped"
    branch.info = {
        "status": status,
        "message": message,
        "integrator": f"explicit Euler, h = η/{SUBSTEPS}, σ² from the linearised constraint λ1 ≤ 2/η",
        "wall_time_s": round(time.perf_counter() - started, 3),
        "rows": len(branch.rows),
    }
    return branch


def _integrate(setup: Setup, cfg: RunConfig, fork: ForkState, branch: Branch, progress) -> None:
    history, pending = [], []  # every Euler step's σ²; logged rows waiting for their window to fill
    try:
        _steps(setup, cfg, fork, branch, history, pending, progress)
    finally:  # diverged or not, every kept row gets its prediction from the σ² there is
        for index, row, groups in pending:
            complete(row, groups, window_sigma_squared(history, index))


def _steps(setup: Setup, cfg: RunConfig, fork: ForkState, branch: Branch, history, pending, progress) -> None:
    threshold = branch_thresholds(cfg)["baseline"].value
    h = cfg.lr / SUBSTEPS
    half = WINDOW * SUBSTEPS // 2
    generator = torch.Generator().manual_seed(cfg.seed)  # only used if the fork carries no eigenpairs
    theta, eigen = fork.theta, fork.warm
    for step in range(fork.step, cfg.steps + 1):
        for sub in range(SUBSTEPS):
            branch.diverged_at = step  # cleared below when the flow reaches the end
            point = FlowPoint(setup.problem, theta, eigen, generator)
            eigen = point.eigen
            if point.sharpness > RUNAWAY * threshold:
                raise FlowDiverged(_runaway(point.sharpness / threshold, step == fork.step and sub == 0))
            sigma2 = sigma_squared(point.sharpness, point.a_S, point.b_S, threshold, h)
            history.append(sigma2)
            if sub == 0 and step % cfg.log_every == 0:
                where = {"branch": BRANCH, "step": step, "t_eff": fork.t_eff + (step - fork.step) * cfg.lr}
                row, groups = point_rows(setup.problem, point, theta, sigma2, where)
                row["lr"] = cfg.lr  # a row's effective time advances at η, the baseline's rate
                branch.rows.append(row)
                branch.group_rows.extend(groups)
                pending.append((len(history) - 1, row, groups))
            while pending and len(history) > pending[0][0] + half:  # its window is full
                index, row, groups = pending.pop(0)
                complete(row, groups, window_sigma_squared(history, index))
                if progress is not None:
                    progress({"kind": BRANCH, "step": row["step"], "total": cfg.steps, "row": row})
            if step == cfg.steps:
                branch.diverged_at = None
                return
            theta = theta + h * point.velocity(sigma2)


def _runaway(ratio: float, at_fork: bool) -> str:
    if at_fork:
        return (
            f"the fork is at λ1 = {ratio:.2f}·2/η, beyond {RUNAWAY:g}·2/η: the central flow starts from the edge "
            "of stability, not from far past it (a fork near the threshold needs a lower η or a later onset)"
        )
    return f"λ1 ran away to {ratio:.2f}·2/η"

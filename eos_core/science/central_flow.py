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
ℓ_k(w) + ½σ²·uᵀH_k u for group k's mean loss ℓ_k. The prediction uses the flow's own σ² on the
constraint, 2·max(0, a_S)/b_S while the step's σ² is positive (else 0), not the step's σ²: the
step's pull-back term 2·(S − 2/η)/(h·b_S) corrects integration drift and would otherwise enter the
prediction as if it were oscillation. Both are stored (sigma2, sigma2_step).

ReLU networks: S = λ1 is only piecewise smooth (an activation flipping sign changes H at once),
and ∇S sees none of it, so S can jump off the threshold between steps; the projection brings it
back, and the drift seen on a run is the measure of it (max |λ1/(2/η) − 1| over the flow's rows).

Limitation: ONE unstable direction. When a second eigenvalue also reaches 2/η the general flow
solves a semidefinite complementarity problem for Σ over all of them; here λ2 is recorded on every
row so a run shows where that assumption stops holding (λ2/threshold near 1).

Only full-batch GD: momentum and SGD have other central flows, not implemented here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from eos_core.config import RunConfig, branch_thresholds
from eos_core.groups import GROUPS
from eos_core.science.branching import Branch, ForkState, Setup
from eos_core.science.curvature import Eigenpairs, LossGraph, align_signs, dot64, top_eigenpairs, warm_start
from eos_core.science.problem import Problem

BRANCH = "central_flow"
# Euler steps per GD step of the baseline: h = η/SUBSTEPS (the public code uses 4). Halving h
# moved the predicted group losses of the tiny test problem by under 1e-3 relative (test_central_flow).
SUBSTEPS = 2
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


def flow_sigma_squared(a_S: float, b_S: float, sigma2_step: float) -> float:
    """The flow's σ² on the constraint, 2·max(0, a_S)/b_S (dS/dt = 0), where the step's σ² is on."""
    return 2.0 * max(0.0, a_S) / b_S if sigma2_step > 0 else 0.0


def predicted_rows(problem: Problem, point: FlowPoint, theta: torch.Tensor, sigma2_step: float, where: dict):
    """The logged row and group rows at a flow point: measured ℓ_k(w) and the predicted time
    averages ℓ_k(w) + ½σ²·uᵀH_k u."""
    lam1 = point.sharpness
    sigma2 = flow_sigma_squared(point.a_S, point.b_S, sigma2_step)
    row = {
        **where,
        "loss": float(point.losses.mean()),
        "lambda1": lam1,
        "lambda2": float(point.eigen.values[1]) if len(point.eigen.values) > 1 else float("nan"),
        "eig_residual": float(point.eigen.residuals[0]),
        "grad_norm": point.gradient.double().norm().item(),
        "a_S": point.a_S,
        "b_S": point.b_S,
        "sigma2": sigma2,
        "sigma2_step": sigma2_step,
        "predicted_loss": float(point.losses.mean()) + 0.5 * sigma2 * lam1,
    }
    curvatures = group_curvatures(problem, theta, point.u) if sigma2 > 0 else [0.0] * len(problem.groups)
    groups = []
    for name, members, curvature in zip(GROUPS, problem.groups, curvatures):
        loss = float(point.losses[members].mean())
        groups.append(
            {
                **where,
                "group": name,
                "loss": loss,
                "u_curvature": curvature,
                "predicted_loss": loss + 0.5 * sigma2 * curvature,
            }
        )
    return row, groups


@dataclass
class FlowBranch(Branch):
    """A reference-flow branch: a Branch with why it stopped early (or was not run) and its cost."""

    message: str = ""
    wall_s: float = 0.0


def run_central_flow(setup: Setup, cfg: RunConfig, fork: ForkState, progress=None) -> FlowBranch:
    """Integrate the central flow from the fork at t* to the baseline's last step, in Euler steps of
    h = η/SUBSTEPS, logging on the baseline's logged grid (a row at baseline step s has the
    baseline's effective time at s). On divergence the branch stops with `diverged_at` and a
    `message`, keeping every row it logged. `progress` hears a "central_flow" event per logged row."""
    branch = FlowBranch(BRANCH)
    if cfg.optimizer != "gd":
        branch.message = f"the central flow is implemented for full-batch GD only, not {cfg.optimizer}"
        return branch
    started = time.perf_counter()
    try:
        _integrate(setup, cfg, fork, branch, progress)
    except FlowDiverged as error:
        branch.message = (
            f"the central flow stopped at step {branch.diverged_at}: {error}; the rows up to there are kept"
        )
    branch.wall_s = time.perf_counter() - started
    return branch


def _integrate(setup: Setup, cfg: RunConfig, fork: ForkState, branch: FlowBranch, progress) -> None:
    threshold = branch_thresholds(cfg)["baseline"].value
    h = cfg.lr / SUBSTEPS
    generator = torch.Generator().manual_seed(cfg.seed)  # only used if the fork carries no eigenpairs
    theta, eigen = fork.theta, fork.warm
    for step in range(fork.step, cfg.steps + 1):
        for sub in range(SUBSTEPS):
            branch.diverged_at = step  # cleared below when the flow reaches the end
            point = FlowPoint(setup.problem, theta, eigen, generator)
            eigen = point.eigen
            if point.sharpness > RUNAWAY * threshold:
                raise FlowDiverged(f"λ1 = {point.sharpness:.4g} ran away to {point.sharpness / threshold:.2f}·2/η")
            sigma2 = sigma_squared(point.sharpness, point.a_S, point.b_S, threshold, h)
            if sub == 0 and step % cfg.log_every == 0:
                where = {"branch": BRANCH, "step": step, "t_eff": fork.t_eff + (step - fork.step) * cfg.lr}
                row, groups = predicted_rows(setup.problem, point, theta, sigma2, where)
                row["lr"] = cfg.lr  # a row's effective time advances at η, the baseline's rate
                branch.rows.append(row)
                branch.group_rows.extend(groups)
                if progress is not None:
                    progress({"kind": BRANCH, "step": step, "total": cfg.steps, "row": row})
            if step == cfg.steps:
                branch.diverged_at = None
                return
            theta = theta + h * point.velocity(sigma2)

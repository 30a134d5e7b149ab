"""Diagnostics at one logged step: sharpness, alignment, per-group and per-example quantities.

Definitions follow the paper (§2.4, App. F): for group k with mean loss ℓ_k,
  cos²θ_k = (∇ℓ_k·v1)²/‖∇ℓ_k‖²,  C_k = (∇ℓ_k·v1)²,  R_k = ⟨∇ℓ_k, ∇L⟩,  Q_k = ⟨∇ℓ_k, ∇S⟩,
  a_S = −⟨∇L, ∇S⟩,  b_S = ‖∇S‖²,  and per example cos²(∇ℓ_i, v1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from eos_core.groups import GROUPS
from eos_core.science.curvature import (
    RESIDUAL_TOL,
    TRACK_TOL,
    Eigenpairs,
    align_signs,
    dot64,
    top_eigenpairs,
    track,
    warm_start,
)
from eos_core.science.per_example import ExampleTerms, alignment_terms, example_terms
from eos_core.science.problem import Problem

NOT_MEASURED = float("nan")  # a quantity this logged step skipped (see RunConfig.mechanism_every)


class NonFiniteLoss(Exception):
    """θ or the loss at θ is NaN/inf: the run diverged (nothing else is computed)."""


@dataclass
class StepDiagnostics:
    row: dict  # one trace row (without branch/step/t_eff/lr)
    group_rows: list[dict]  # one row per group
    example_loss: np.ndarray  # (n,) float32
    example_cos2: np.ndarray  # (n,) float32
    gradient: torch.Tensor  # ∇L at θ, reused for the GD step
    eigen: Eigenpairs  # kept to warm-start the next solve
    tracked_rows: list[dict] = field(default_factory=list)  # one per tracked eigenpair (track_fraction > 0)
    tracked_group_rows: list[dict] = field(default_factory=list)  # one per tracked eigenpair and group


def diagnose(
    problem: Problem,
    theta: torch.Tensor,
    centroid_distance: np.ndarray,
    previous: Eigenpairs | None,
    generator: torch.Generator,
    tol: float = RESIDUAL_TOL,
    mechanism=lambda lambda1: True,
    cut: float | None = None,
) -> StepDiagnostics:
    """Everything logged at one step from one gradient graph: its backward gives ∇L (reused for the
    GD step) and, through the layer tape, the per-example and per-group terms; the HVPs and ∇S
    reuse it. `mechanism(λ1)` says whether this step also computes the ∇S terms (a_S, b_S, Q_k:
    about three gradients); where it does not they are NaN — not measured, never interpolated.
    With `cut` (track_fraction·threshold), every eigenpair above it is tracked too, in a solve of
    its own after the top-2 one, so λ1, λ2 and everything derived from them are the same numbers
    with tracking as without."""
    graph, losses, correct, tape = problem.graph(theta)
    if not bool(torch.isfinite(theta).all() and torch.isfinite(losses.sum())):
        raise NonFiniteLoss()
    start = warm_start(previous, theta.numel(), theta.device, generator)
    eigen = align_signs(top_eigenpairs(graph.hvp, start, k=2, tol=tol), previous)
    v1 = eigen.vectors[0]
    g = graph.grad.detach()
    grad_S = graph.sharpness_gradient(v1) if mechanism(float(eigen.values[0])) else None
    g_norm = g.double().norm().item()

    terms = example_terms(problem.model, problem.loss_fn, theta, problem.x, problem.y, v1, problem.groups, tape, losses)
    group_rows = [row | {"group": name} for name, row in zip(GROUPS, group_quantities(terms, problem, v1, g, grad_S))]
    example_cos2 = cos2(terms)
    tracked_rows, tracked_group_rows = [], []
    if cut is not None:
        previous_tracked = previous.tracked if previous is not None else None
        eigen = replace(eigen, tracked=track(graph.hvp, eigen, previous_tracked, cut, generator, min(tol, TRACK_TOL)))
        tracked_rows, tracked_group_rows = tracked_quantities(eigen.tracked, terms.group_grads)
    row = {
        "loss": float(losses.mean()),
        "accuracy": float(correct.double().mean()),
        "lambda1": float(eigen.values[0]),
        "lambda2": float(eigen.values[1]) if len(eigen.values) > 1 else float("nan"),
        "eig_residual": float(eigen.residuals[0]),
        "lambda2_residual": float(eigen.residuals[1]) if len(eigen.values) > 1 else float("nan"),
        "hvps": eigen.hvps,
        "grad_norm": g_norm,
        "grad_v1_fraction": abs(dot64(g, v1)) / max(g_norm, 1e-300),
        "a_S": -dot64(g, grad_S) if grad_S is not None else NOT_MEASURED,
        "b_S": dot64(grad_S, grad_S) if grad_S is not None else NOT_MEASURED,
        "spearman_rho": spearman(centroid_distance, example_cos2),
    }
    return StepDiagnostics(
        row, group_rows, terms.losses.float().cpu().numpy(), example_cos2, g, eigen, tracked_rows, tracked_group_rows
    )


def group_quantities(terms: ExampleTerms, problem: Problem, v1, g, grad_S) -> list[dict]:
    """ℓ_k, ‖∇ℓ_k‖, cos²θ_k, C_k, Q_k, R_k for every group, from the group gradients and
    per-example losses that the per-example terms already hold (Q_k is NaN without ∇S)."""
    rows = []
    for members, gk in zip(problem.groups, terms.group_grads):
        norm2, proj = dot64(gk, gk), dot64(gk, v1)
        rows.append(
            {
                "loss": float(terms.losses[members].double().mean()),
                "grad_norm": norm2**0.5,
                "cos2": proj**2 / max(norm2, 1e-300),
                "curvature_influence": proj**2,
                "Q": dot64(gk, grad_S) if grad_S is not None else NOT_MEASURED,
                "R": dot64(gk, g),
            }
        )
    return rows


def tracked_quantities(tracked: Eigenpairs, group_grads) -> tuple[list[dict], list[dict]]:
    """Per tracked eigenpair i (rank 1 = largest): λ_i and its residual; per group k and pair i:
    cos²(∇ℓ_k, v_i) and the curvature influence (∇ℓ_k·v_i)², from one product per group."""
    rows = [
        {"rank": i + 1, "eigenvalue": float(value), "residual": float(residual)}
        for i, (value, residual) in enumerate(zip(tracked.values, tracked.residuals))
    ]
    group_rows = []
    for name, gk in zip(GROUPS, group_grads):
        gk = gk.double()
        projections = (tracked.vectors @ gk).pow(2).tolist()
        norm2 = max(float(gk @ gk), 1e-300)
        group_rows += [
            {"rank": i + 1, "group": name, "cos2": p / norm2, "curvature_influence": p}
            for i, p in enumerate(projections)
        ]
    return rows, group_rows


def cos2(terms: ExampleTerms) -> np.ndarray:
    """cos²(∇ℓ_i, v1) per example, stored as float32."""
    return (terms.dots.double().pow(2) / terms.norms2.clamp_min(1e-300)).float().cpu().numpy()


def per_example_alignment(problem: Problem, theta, v1) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ_i, cos²(∇ℓ_i, v1)) for all n examples, without a loop over examples."""
    losses, dots, norms2 = alignment_terms(problem.model, problem.loss_fn, theta, problem.x, problem.y, v1)
    cos2 = dots.double().pow(2) / norms2.clamp_min(1e-300)
    return losses.float().cpu().numpy(), cos2.float().cpu().numpy()


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    boundaries = np.flatnonzero(np.diff(sorted_values)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(values)]])
    average = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ: the Pearson correlation of the ranks."""
    ra, rb = rank(np.asarray(a, float)), rank(np.asarray(b, float))
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / denom) if denom > 0 else float("nan")

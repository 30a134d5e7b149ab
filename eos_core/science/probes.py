"""Generalisation probes of §5.2, evaluated at every logged step on both branches.

- Robustness: L∞ PGD (ε = 0.03 in [0, 1] pixel units, 10 steps of ε/4, applied before the
  normalisation) against 50 test-split boundary points chosen by k-NN label ambiguity.
- Out of distribution: the loss on test-split input-outliers built at each α_test of the config
  (the test points nearest their class centroid, displaced along the training v_diff).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from eos_core.science import prototypes
from eos_core.science.problem import Problem

EPSILON, PGD_STEPS, BOUNDARY_POINTS = 0.03, 10, 50


@dataclass
class ProbeSet:
    boundary_x: torch.Tensor  # normalised test boundary points
    boundary_y: torch.Tensor
    mean: torch.Tensor  # (1, C, 1, 1) pixel mean and std, to attack in pixel space
    std: torch.Tensor
    clip: bool  # keep attacked pixels in [0, 1] (not for synthetic data)
    ood: dict  # α_test → (inputs, labels)


def build_probe_set(ds, tax, cfg) -> ProbeSet:
    x, y = ds.x_test, ds.y_test
    k = min(cfg.k, len(x) - 1)
    index = prototypes.boundary_points(x, y, k, min(BOUNDARY_POINTS, len(x)))
    shape = (1, -1, 1, 1)
    mean = torch.tensor(ds.pixel_mean, dtype=x.dtype, device=x.device).view(shape)
    std = torch.tensor(ds.pixel_std, dtype=x.dtype, device=x.device).view(shape)
    flat = x.reshape(len(x), -1)
    near = []
    for c in (0, 1):  # the m test points of each class nearest the training centroid
        members = torch.nonzero(y == c).flatten()
        distance = (flat[members] - tax.centroids[c].to(flat.dtype)).norm(dim=1)
        near.append(members[distance.argsort()[: cfg.m]])
    near = torch.cat(near)
    ood = {
        a: (prototypes.displace(x[near], y[near], tax.v_diff.to(x.dtype), a, "coherent", None), y[near])
        for a in cfg.ood_alphas
    }
    return ProbeSet(x[index], y[index], mean, std, cfg.dataset != "synthetic", ood)


def pgd(
    problem: Problem,
    theta: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    mean,
    std,
    clip: bool,
    epsilon: float = EPSILON,
    steps: int = PGD_STEPS,
) -> torch.Tensor:
    """The L∞ PGD perturbation δ in pixel units (sign-gradient ascent on the loss, projected)."""
    pixels = x * std + mean
    theta = theta.detach()
    delta = torch.zeros_like(pixels)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = problem.loss_fn(problem.model(theta, (pixels + delta - mean) / std), y).sum()
        grad = torch.autograd.grad(loss, delta)[0]
        delta = (delta.detach() + epsilon / 4 * grad.sign()).clamp(-epsilon, epsilon)
        if clip:
            delta = (pixels + delta).clamp(0, 1) - pixels
    return delta.detach()


def evaluate(problem: Problem, theta: torch.Tensor, probes: ProbeSet) -> dict:
    """Trace columns: clean and PGD accuracy on the boundary points, OOD loss per α_test."""
    x, y = probes.boundary_x, probes.boundary_y
    delta = pgd(problem, theta, x, y, probes.mean, probes.std, probes.clip)
    with torch.no_grad():
        clean = problem.model(theta, x).argmax(1) == y
        attacked = problem.model(theta, x + delta / probes.std).argmax(1) == y
        row = {"boundary_accuracy": float(clean.double().mean()), "pgd_accuracy": float(attacked.double().mean())}
        for a, (xo, yo) in probes.ood.items():
            row[f"ood_loss_a{a:g}"] = float(problem.loss_fn(problem.model(theta, xo), yo).mean())
    return row

"""A tiny float64 problem small enough for dense Hessians and explicit per-example gradients."""

import torch

from eos_core.config import RunConfig
from eos_core.science import models
from eos_core.science.problem import Problem


def tiny_problem(loss: str = "mse", n: int = 16, width: int = 6, seed: int = 0) -> tuple[Problem, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 2, 2, generator=g, dtype=torch.float64)
    y = (torch.arange(n) % 2).long()
    cfg = RunConfig(
        dataset="synthetic", classes=("0", "1"), n_per_class=40, width=width, seed=seed, init_scale=1.0, m=2, k=3
    )
    model, theta = models.build_model(cfg, (1, 2, 2), "cpu", torch.float64)
    groups = [torch.arange(4 * i, 4 * i + 4) for i in range(4)]
    return Problem(model, x, y, loss, groups), theta


def dense_hessian(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.hessian(lambda t: problem.losses(t).mean(), theta)


def explicit_per_example(
    model, loss_fn, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference for every per-example pass: (losses ℓ_i, gradients ∇ℓ_i as the rows of G), one
    plain autograd call an example."""
    losses, rows = [], []
    for i in range(len(x)):
        leaf = theta.detach().requires_grad_(True)
        loss = loss_fn(model(leaf, x[i : i + 1]), y[i : i + 1])[0]
        rows.append(torch.autograd.grad(loss, leaf)[0])
        losses.append(loss.detach())
    return torch.stack(losses), torch.stack(rows)


def per_example_gradients(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    """G (n × dim): the rows are the examples' gradients ∇ℓ_i(θ), by `explicit_per_example`."""
    return explicit_per_example(problem.model, problem.loss_fn, theta, problem.x, problem.y)[1]


# A full run in about a second: 3×4×4 synthetic inputs, width 32. The onset fraction is set low so
# the fork happens early and both branches have several logged steps.
TINY = RunConfig(
    dataset="synthetic",
    classes=("0", "1"),
    n_per_class=40,
    image_size=4,
    width=32,
    m=4,
    k=5,
    lr=0.05,
    steps=60,
    log_every=5,
    example_every=10,
    onset_fraction=0.02,
    init_scale=1.0,
)

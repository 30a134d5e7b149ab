"""Per-example gradient quantities for all n examples, without a Python loop over examples.

  (∇ℓ_i · v)  for every i: one forward-mode JVP of the per-example loss vector along v.
  ‖∇ℓ_i‖²     for every i: for a linear layer z = W a + b the per-example gradient is δ_i a_iᵀ,
              so ‖∇_W ℓ_i‖² = ‖a_i‖²·‖δ_i‖² and ‖∇_b ℓ_i‖² = ‖δ_i‖², with δ = ∂(Σ_i ℓ_i)/∂z
              from one ordinary backward pass (example i's loss depends only on its own z_i).
Networks with other parametrised layers fall back to chunked `vmap(grad)`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import grad, jvp, vmap

from .models import FlatModel


def grad_dots(loss_vector, theta: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ℓ_i, ∇ℓ_i·v) for all i from one JVP; `loss_vector(θ)` returns the (n,) per-example losses."""
    losses, dots = jvp(loss_vector, (theta,), (v.to(theta.dtype),))
    return losses.detach(), dots.detach()


def grad_sq_norms(model: FlatModel, loss_fn, theta: torch.Tensor, x, y) -> torch.Tensor:
    """‖∇ℓ_i‖² for all i; `loss_fn(outputs, y)` returns per-example losses."""
    if all(isinstance(m, nn.Linear) for m in _parametrised(model.module)):
        return _linear_identity(model, loss_fn, theta, x, y)
    return vmap_sq_norms(model, loss_fn, theta, x, y)


def _parametrised(module: nn.Module):
    return [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]


def _linear_identity(model, loss_fn, theta, x, y):
    captured = []

    def keep(module, inputs, output):
        has_bias = 1.0 if module.bias is not None else 0.0
        captured.append((inputs[0].detach().reshape(len(x), -1), output, has_bias))

    hooks = [m.register_forward_hook(keep) for m in _parametrised(model.module)]
    try:
        theta = theta.detach().requires_grad_(True)  # so the pre-activations z join the graph
        losses = loss_fn(model(theta, x), y)
    finally:
        for h in hooks:
            h.remove()
    deltas = torch.autograd.grad(losses.sum(), [z for _, z, _ in captured])
    total = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for (a, _, has_bias), d in zip(captured, deltas):
        total += (a.double().pow(2).sum(1) + has_bias) * d.double().pow(2).sum(1)
    return total


def vmap_sq_norms(model, loss_fn, theta, x, y, chunk: int = 64) -> torch.Tensor:
    """Reference/fallback: explicit per-example gradients with vmap(grad), in chunks."""
    return torch.cat([per_example_grads(model, loss_fn, theta, x[i:i + chunk], y[i:i + chunk])
                      .double().pow(2).sum(1) for i in range(0, len(x), chunk)])


def per_example_grads(model, loss_fn, theta, x, y) -> torch.Tensor:
    """(b, d) matrix of per-example gradients."""
    def one(xi, yi):
        return grad(lambda t: loss_fn(model(t, xi[None]), yi[None])[0])(theta)

    return vmap(one)(x, y)

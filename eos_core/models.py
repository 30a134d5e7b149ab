"""Networks, as plain nn.Modules built from a RunConfig.

Training works on one flat parameter vector θ (see `FlatModel`), so Hessian-vector products,
eigenvectors, forks and checkpoints are all simple 1-D tensors.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call


def mlp(in_features: int, width: int, n_out: int = 2) -> nn.Sequential:
    """The paper's MLP: flatten → width → width → 2, ReLU (App. A.1)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, n_out),
    )


# Seam: a CNN and a BN-free ResNet-14 register here and everything else works unchanged.
ARCHITECTURES = {"mlp": lambda cfg, shape: mlp(math.prod(shape), cfg.width)}


def init_paper(model: nn.Module, scale: float, generator: torch.Generator) -> None:
    """Kaiming-normal (fan_in) weights times `scale`, zero biases (App. A.2)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            std = math.sqrt(2.0 / fan_in) * scale
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                module.bias.zero_()


class FlatModel:
    """A network evaluated at a flat parameter vector θ: `f(θ, x)`."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def unflatten(self, theta: torch.Tensor) -> dict:
        views = torch.split(theta, self.sizes)
        return {n: v.view(s) for n, v, s in zip(self.names, views, self.shapes)}

    def initial_theta(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def __call__(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, self.unflatten(theta), (x,))


def build_model(cfg, input_shape: tuple, device, dtype) -> tuple[FlatModel, torch.Tensor]:
    """The configured network and its seeded initial parameters θ0."""
    generator = torch.Generator().manual_seed(cfg.seed)
    module = ARCHITECTURES[cfg.model](cfg, tuple(input_shape))
    init_paper(module, cfg.init_scale, generator)
    module = module.to(device=device, dtype=dtype)
    flat = FlatModel(module)
    return flat, flat.initial_theta()

"""The training problem: a network, the whole (prototype-augmented) training set on the device,
and the loss. Everything is a function of one flat parameter vector θ."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from eos_core.science.curvature import LossGraph
from eos_core.science.models import FlatModel
from eos_core.science.per_example import Tape, record


def mse_per_example(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Σ over the 2 outputs of (f − onehot)², no ½ factor (the paper's convention)."""
    classes = torch.arange(outputs.shape[1], device=y.device)
    target = (y[:, None] == classes).to(outputs.dtype)  # one-hot without data-dependent checks (vmap-safe)
    return (outputs - target).pow(2).sum(1)


def ce_per_example(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, y, reduction="none")


LOSSES = {"mse": mse_per_example, "ce": ce_per_example}


@dataclass
class Problem:
    model: FlatModel
    x: torch.Tensor  # (n, C, H, W) on the device
    y: torch.Tensor  # (n,) labels after the flips
    loss_name: str
    groups: list[torch.Tensor]  # index tensor per prototype group, in groups.GROUPS order

    @property
    def loss_fn(self):
        return LOSSES[self.loss_name]

    def losses(self, theta: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Per-example losses ℓ_i(θ) over all examples, or over `index`."""
        x, y = (self.x, self.y) if index is None else (self.x[index], self.y[index])
        return self.loss_fn(self.model(theta, x), y)

    def step_gradient(
        self, theta: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(∇L, per-example losses) at θ over all examples or a minibatch: one forward, one backward."""
        leaf = theta.detach().requires_grad_(True)
        losses = self.losses(leaf, index)
        g = torch.autograd.grad(losses.mean(), leaf)[0]
        return g, losses.detach()

    def graph(self, theta: torch.Tensor) -> tuple[LossGraph, torch.Tensor, torch.Tensor, Tape | None]:
        """A reusable gradient graph at θ, with the per-example losses, correctness and the layer
        tape (None where the per-layer identity does not apply). The tape's deltas come from the
        graph's own backward, so the per-example and group terms need no pass of their own."""
        leaf = theta.detach().requires_grad_(True)
        outputs, tape = record(self.model, leaf, self.x)
        losses = self.loss_fn(outputs, self.y)
        correct = outputs.detach().argmax(1) == self.y
        graph = LossGraph(leaf, losses.mean(), tape.outputs if tape else ())
        if tape is not None:  # ∂L/∂z of the mean loss, scaled to ∂(Σ_i ℓ_i)/∂z
            tape.deltas = [len(self.x) * d for d in graph.watched_grads]
        return graph, losses.detach(), correct, tape

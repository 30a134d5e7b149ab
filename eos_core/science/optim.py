"""The optimisers of App. C.2, as functions of a flat θ: full-batch GD, full-batch heavy-ball
momentum, and minibatch SGD. Their stability thresholds live in config.py (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from eos_core.config import RunConfig
from eos_core.science.problem import Problem


@dataclass
class Optimiser:
    """Gradient and update rules. The state — the momentum buffer — travels in the fork, and SGD's
    batches are a pure function of (seed, step), so both branches see the same batch at each step."""

    cfg: RunConfig
    n: int
    _epoch: tuple = field(default=(-1, None), repr=False)  # (epoch, its permutation)

    @property
    def full_batch(self) -> bool:
        return self.cfg.optimizer != "sgd"

    def batch(self, step: int) -> torch.Tensor:
        per_epoch = max(1, self.n // self.cfg.batch_size)
        epoch, position = divmod(step, per_epoch)
        if self._epoch[0] != epoch:
            generator = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            self._epoch = (epoch, torch.randperm(self.n, generator=generator))
        start = position * self.cfg.batch_size
        return self._epoch[1][start : start + self.cfg.batch_size]

    def gradient(self, problem: Problem, theta: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(update direction's gradient, full per-example losses if they came for free)."""
        if self.full_batch:
            return problem.step_gradient(theta)
        index = self.batch(step).to(problem.x.device)
        return problem.step_gradient(theta, index)[0], None

    def update(
        self, theta: torch.Tensor, gradient: torch.Tensor, lr: float, buffer: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.cfg.optimizer == "momentum":  # PyTorch's heavy ball: b ← βb + g, θ ← θ − ηb
            buffer = gradient if buffer is None else self.cfg.momentum * buffer + gradient
            return theta - lr * buffer, buffer
        return theta - lr * gradient, buffer

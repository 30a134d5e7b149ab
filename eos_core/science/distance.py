"""How far a branch has moved from the EoS branch at equal effective time.

A result folder stores no weights, and keeping the baseline's θ at every logged step would cost
a parameter vector per step. Instead a shadow copy of the EoS branch is advanced from the fork
state alongside the branch being measured, with the baseline's own update rule and no
diagnostics. Full-batch GD, heavy-ball momentum and SGD (batches a function of seed and step)
are deterministic, and at the baseline's logged steps the shadow takes its gradient from the
same graph as `diagnose` does, so the shadow is the stored baseline bit for bit.

At a branch's logged time t the shadow stands at the baseline step whose effective time is
nearest t: exactly t when c·log_every is an integer; otherwise the gap (baseline time − branch
time, at most η/2) is stored next to the distances.
"""

from __future__ import annotations

import math

import torch

from eos_core.config import RunConfig
from eos_core.science.branching import ForkState, Setup
from eos_core.science.optim import Optimiser

NOT_MEASURED = {"branch_distance": math.nan, "output_rms": math.nan, "distance_time_gap": math.nan}


class Shadow:
    """The EoS branch replayed from the fork, advanced on demand to a branch's logged times.
    `setup` and `cfg` are the baseline's (a fork may train its exit branch on another loss or η)."""

    def __init__(self, setup: Setup, cfg: RunConfig, fork: ForkState):
        self.problem, self.cfg = setup.problem, cfg
        self.optimiser = Optimiser(cfg, len(setup.problem.x))
        self.step, self.t_eff, self.theta = fork.step, fork.t_eff, fork.theta.clone()
        self.buffer = None if fork.buffer is None else fork.buffer.clone()
        self.fork_step, self.fork_t_eff = fork.step, fork.t_eff

    def advance_to(self, step: int) -> None:
        """Baseline steps until the shadow stands at `step` (never backwards)."""
        while self.step < step:
            gradient = self._gradient()
            self.theta, self.buffer = self.optimiser.update(self.theta, gradient, self.cfg.lr, self.buffer)
            self.step, self.t_eff = self.step + 1, self.t_eff + self.cfg.lr

    def _gradient(self) -> torch.Tensor:
        """The gradient the baseline used at this step: at its logged steps `diagnose`'s graph
        gives it (see branching._logged_step), elsewhere the optimiser's own pass."""
        if self.optimiser.full_batch and self.step % self.cfg.log_every == 0:
            return self.problem.graph(self.theta)[0].grad.detach()
        return self.optimiser.gradient(self.problem, self.theta, self.step)[0]

    def nearest_step(self, t_eff: float) -> int:
        return self.fork_step + round((t_eff - self.fork_t_eff) / self.cfg.lr)

    def measure(self, t_eff: float, theta: torch.Tensor) -> tuple[dict, list[dict]]:
        """(trace columns, one dict per group) comparing `theta` with the EoS branch at `t_eff`:
        ‖θ − θ_EoS‖, the RMS over examples of ‖f(x_i; θ) − f(x_i; θ_EoS)‖ (all n, then per group)
        and the time gap. Not measured (NaN) past the baseline's last step."""
        step = self.nearest_step(t_eff)
        if step > self.cfg.steps:
            return dict(NOT_MEASURED), [{"output_rms": math.nan} for _ in self.problem.groups]
        self.advance_to(step)
        with torch.no_grad():
            squared = (self._outputs(theta) - self._outputs(self.theta)).double().pow(2).sum(1)
        row = {
            "branch_distance": (theta.double() - self.theta.double()).norm().item(),
            "output_rms": squared.mean().sqrt().item(),
            "distance_time_gap": self.t_eff - t_eff,
        }
        return row, [{"output_rms": squared[members].mean().sqrt().item()} for members in self.problem.groups]

    def _outputs(self, theta: torch.Tensor) -> torch.Tensor:
        return self.problem.model(theta, self.problem.x)

"""The gradient-flow reference branch: dθ/dt = −∇L(θ) from the fork state, in effective-time
units (t_eff = Σ η_s), to the exit branch's end time.

GD at step η follows this flow up to O(η) per unit time while η·λ1 is small; at EoS it does not.
Comparing the EoS branch with the flow (not only with the exit branch at c·η) separates what EoS
does from what a smaller step does.

The flow is logged on the exit branch's grid: its step s stands for effective time
t* + (s − t*)·c·η, the exit branch's at step s, so ℓ_k, λ1 and the distances compare at equal
time by step. Between two grid points it is integrated by classical RK4 with step doubling: the
interval is taken with n and with 2n substeps; the 2n result is kept, and
‖θ_2n − θ_n‖/15 (Richardson, order 4) estimates its local error. The interval is accepted when
that estimate is at most rtol·max(‖Δθ‖, Δt·‖∇L(θ*)‖) + 10·eps·‖θ‖: relative to the interval's
displacement, or to the distance the flow covered per unit time at the fork once it has slowed
down (a converging flow is not held to ever smaller absolute errors), plus what the dtype can
resolve; otherwise n doubles. Progressive sharpening continues along the flow, so n
also never starts below c·η·λ1/2 at a logged step (RK4's real stability limit is h·λ ≈ 2.79).
The accumulated local estimates (`flow_error`) estimate the global error where the flow does not
expand errors; the meta states them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from eos_core.config import RunConfig
from eos_core.science.branching import (
    Branch,
    ForkState,
    Setup,
    _logged_event,
    _Loop,
    _record,
    _TwoStepBook,
    add_measures,
)
from eos_core.science.diagnostics import NonFiniteLoss, diagnose
from eos_core.science.optim import Optimiser

RTOL = 1e-3  # local error per interval, relative to the interval's displacement
MAX_SUBSTEPS = 1 << 14  # per exit step; beyond, the flow is too stiff to follow at this cost
OVERFLOW_DOUBLINGS = 4  # non-finite passes in a row, n doubling each time, before the flow counts as diverged
CALM = 8  # intervals in a row well inside the tolerance before n is halved
STABLE_H_LAMBDA = 2.0  # h·λ1 at most this on the coarse pass, inside RK4's stability interval


class FlowStopped(Exception):
    """The integrator could not meet its tolerance within MAX_SUBSTEPS (stiff or non-finite)."""

    def __init__(self, message: str, diverged: bool):
        super().__init__(message)
        self.diverged = diverged


def rk4(gradient, theta: torch.Tensor, k1: torch.Tensor, duration: float, n: int) -> torch.Tensor:
    """n classical RK4 steps of dθ/dt = −∇L(θ) over `duration`; `k1` is ∇L(θ), already known."""
    h = duration / n
    for i in range(n):
        k1 = k1 if i == 0 else gradient(theta)
        k2 = gradient(theta - (h / 2) * k1)
        k3 = gradient(theta - (h / 2) * k2)
        k4 = gradient(theta - h * k3)
        theta = theta - (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    return theta


@dataclass
class Integrator:
    """RK4 with step doubling over fixed intervals; keeps the error estimates and the cost."""

    gradient: object  # θ ↦ ∇L(θ)
    rtol: float = RTOL
    substeps: int = 1  # the coarse pass's; the kept pass has twice as many
    error: float = 0.0  # Σ local error estimates so far (‖·‖ in θ)
    largest_local: float = 0.0
    evaluations: int = 0  # gradients evaluated
    used: list = field(default_factory=list)  # kept substeps per interval
    speed: float | None = None  # ‖∇L‖ where the integration started
    calm: int = 0  # accepted intervals in a row with a large margin

    def advance(self, theta: torch.Tensor, k1: torch.Tensor, duration: float) -> torch.Tensor:
        if not bool(torch.isfinite(k1).all()):
            raise FlowStopped("the gradient is NaN/inf", diverged=True)
        floor = 10 * torch.finfo(theta.dtype).eps * theta.double().norm().item()
        overflows = 0
        while True:
            coarse = rk4(self._counted, theta, k1, duration, self.substeps)
            fine = rk4(self._counted, theta, k1, duration, 2 * self.substeps)
            local = (fine.double() - coarse.double()).norm().item() / 15
            finite = math.isfinite(local)
            if self.speed is None:  # ‖dθ/dt‖ at the start: the scale errors are measured against
                self.speed = k1.double().norm().item()
            moved = max((fine.double() - theta.double()).norm().item(), duration * self.speed)
            tolerance = self.rtol * moved + floor
            if finite and local <= tolerance:
                self._accept(local, tolerance)
                return fine
            overflows = 0 if finite else overflows + 1
            if overflows > OVERFLOW_DOUBLINGS:  # n is past the stability bound already: the flow itself blows up
                raise FlowStopped(f"its steps overflow with {2 * self.substeps} substeps per exit step", diverged=True)
            self.at_least(2 * self.substeps)

    def at_least(self, substeps: int) -> None:
        """Raise n to `substeps`, or stop the flow where that would pass MAX_SUBSTEPS."""
        if 2 * substeps > MAX_SUBSTEPS:
            raise FlowStopped(
                f"the flow needs more than {MAX_SUBSTEPS} RK4 substeps per exit step to meet rtol = {self.rtol:g}",
                diverged=False,
            )
        self.substeps = max(self.substeps, substeps)

    def _accept(self, local: float, tolerance: float) -> None:
        self.error += local
        self.largest_local = max(self.largest_local, local)
        self.used.append(2 * self.substeps)
        # The local error scales as h⁵, so halving n costs 32× in error; halve only after CALM
        # intervals in a row with 64× to spare, since every rejected interval costs a pass.
        self.calm = self.calm + 1 if local < tolerance / 64 else 0
        if self.calm >= CALM and self.substeps > 1:
            self.substeps, self.calm = self.substeps // 2, 0

    def _counted(self, theta: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        return self.gradient(theta)


def run_gradient_flow(
    setup: Setup, cfg: RunConfig, fork: ForkState, progress=None, measure=None, rtol: float = RTOL
) -> Branch:
    """Integrate the flow from `fork` to the exit branch's end time, with the diagnostics of any
    branch at its logged steps and ℓ_k at every grid point. A flow that overflows or cannot meet
    its tolerance stops there and keeps what it computed (`Branch.info` says why)."""
    started = time.perf_counter()
    problem, interval = setup.problem, cfg.c * cfg.lr  # one grid interval per exit step
    branch = Branch("gradient_flow")
    full_batch = Optimiser(cfg.replace(optimizer="gd"), len(problem.x))  # the flow's gradient is ∇L's
    integrator = Integrator(lambda theta: problem.step_gradient(theta)[0], rtol)
    loop = _Loop(fork.step, fork.t_eff, fork.theta.clone(), None, fork.warm, torch.Generator().manual_seed(cfg.seed))
    book = _TwoStepBook(problem)
    stopped = None
    try:
        while True:
            if loop.step % cfg.log_every == 0:
                k1 = _logged(setup, cfg, branch, loop, book, integrator, measure, progress)
            else:
                k1 = book.unlogged_step(loop, full_batch)
            if loop.step == cfg.steps:
                break
            loop.theta = integrator.advance(loop.theta, k1, interval)
            loop.step, loop.t_eff = loop.step + 1, loop.t_eff + interval
        book.after_last_step(loop, integrator.advance(loop.theta, k1, interval), interval)
    except NonFiniteLoss:
        stopped = FlowStopped(f"the loss is NaN/inf at step {loop.step}", diverged=True)
    except FlowStopped as error:
        stopped = error
    if stopped is not None:
        branch.diverged_at = loop.step
    book.keep(branch)
    branch.info = _info(branch, loop, integrator, stopped, time.perf_counter() - started)
    return branch


def _logged(setup, cfg, branch, loop, book, integrator, measure, progress) -> torch.Tensor:
    """A logged grid point: diagnostics, the integrator's state, distances; returns ∇L there."""
    book.top_of_logged_step(branch, loop.theta)
    d = diagnose(setup.problem, loop.theta, setup.centroid_distance, loop.warm, loop.generator)
    book.logged(branch, loop, d)
    d.row.update({"flow_error": integrator.error, "flow_substeps": 2 * integrator.substeps})
    if measure is not None:
        add_measures(d, *measure(loop.t_eff, loop.theta))
    book.pending = _record(branch, cfg, d, loop.step, loop.t_eff, math.nan)  # no step: lr is NaN
    loop.warm = d.eigen
    integrator.at_least(math.ceil(cfg.c * cfg.lr * d.row["lambda1"] / STABLE_H_LAMBDA))
    if progress is not None:
        progress(_logged_event(branch, cfg, book.pending, math.inf))
    return d.gradient


def _info(branch: Branch, loop: _Loop, integrator: Integrator, stopped: FlowStopped | None, wall: float) -> dict:
    """The flow's entry in the result's meta: status, how it was integrated and its error."""
    used = integrator.used or [0]
    if stopped is None:
        status, message = "done", ""
    else:
        status = "diverged" if stopped.diverged else "stopped"
        message = (
            f"the {branch.name} branch stopped at step {loop.step} (t_eff = {loop.t_eff:.6g}): {stopped}; "
            "what it computed up to there is kept"
        )
    return {
        "status": status,
        "message": message,
        "integrator": "RK4 with step doubling per exit step (Richardson error estimate ‖θ_2n − θ_n‖/15)",
        "rtol": integrator.rtol,
        "error_estimate": integrator.error,
        "largest_local_error": integrator.largest_local,
        "substeps": [min(used), max(used)],
        "gradients": integrator.evaluations,
        "end_t_eff": loop.t_eff,
        "wall_time_s": round(wall, 3),
    }

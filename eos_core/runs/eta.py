"""Time left for a running job, from the measured speed of this very run. Torch-free.

The worker appends one progress record per logged step: (branch, step, phase, wall time). A run
trains the baseline from step 0 to `steps`, then the exit branch from t* to `steps`; so the work
left is the baseline's remaining steps plus the exit branch's. Before the fork the exit branch's
length is unknown: the estimate then assumes the fork happens now, an upper bound (a later fork
means a shorter exit branch).

The speed is measured over the current phase (sharpening, EoS, exit) because the phases cost
differently per step — from t* on the run also evaluates the generalisation probes.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

MIN_INTERVALS = 2  # logged intervals of the current phase before its own speed is trusted


@dataclass(frozen=True)
class Record:
    branch: str  # "baseline" | "exit"
    step: int
    phase: str  # "sharpening" | "eos" | "exit"
    time: float  # wall clock, seconds


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None until two records exist
    baseline_left: int  # steps
    exit_left: int  # steps (an upper bound when `upper_bound`)
    upper_bound: bool  # the fork has not happened yet
    steps_per_second: float | None


def phase(event: dict) -> str:
    """The phase a run's "logged" progress event falls in (see branching.run_branch): the exit
    branch, the baseline at EoS (forked at t*), or the baseline still sharpening."""
    if event["branch"] != "baseline":  # the exit branch, or a reference flow on its grid after it
        return "exit"
    return "sharpening" if event.get("forked_at") is None else "eos"


def records(raw) -> list[Record]:
    """Records from their stored form: lists or dicts of (branch, step, phase, time)."""
    out = []
    for r in raw or []:
        if isinstance(r, dict):
            out.append(Record(r["branch"], int(r["step"]), r["phase"], float(r["time"])))
        else:
            branch, step, phase, when = r
            out.append(Record(branch, int(step), phase, float(when)))
    return out


def fork_step(recs: list[Record]) -> int | None:
    """t*: the first baseline record at EoS, or where the exit branch starts."""
    for r in recs:
        if r.phase == "eos" or r.branch != "baseline":
            return r.step
    return None


def steps_left(recs: list[Record], steps: int) -> tuple[int, int, bool]:
    """(baseline steps left, exit steps left, whether the exit count is an upper bound)."""
    if not recs:
        return steps, steps, True
    last, t_star = recs[-1], fork_step(recs)
    if last.branch != "baseline":
        return 0, steps - last.step, False
    baseline_left = steps - last.step
    if t_star is None:
        return baseline_left, steps - last.step, True
    return baseline_left, steps - t_star, False


def speed(recs: list[Record]) -> float | None:
    """Steps per second over the current phase's records (or all, when it has too few)."""
    phase = [r for r in recs if r.phase == recs[-1].phase and r.branch == recs[-1].branch] if recs else []
    chosen = phase if len(phase) > MIN_INTERVALS else recs
    done = elapsed = 0.0
    for a, b in itertools.pairwise(chosen):
        if a.branch == b.branch and b.step > a.step:  # a branch switch is not a training interval
            done += b.step - a.step
            elapsed += b.time - a.time
    return done / elapsed if done and elapsed > 0 else None


def estimate(raw, steps: int, now: float | None = None) -> Eta:
    """The time left for a job with `steps` per branch, given its progress records so far."""
    recs = records(raw)
    baseline_left, exit_left, bound = steps_left(recs, steps)
    rate = speed(recs)
    if rate is None:
        return Eta(None, baseline_left, exit_left, bound, None)
    now = time.time() if now is None else now
    since_last = max(0.0, now - recs[-1].time)
    seconds = max(0.0, (baseline_left + exit_left) / rate - since_last)
    return Eta(seconds, baseline_left, exit_left, bound, rate)


def describe(eta: Eta) -> str:
    """'about 40 s left (baseline 120 + exit 432 steps at 14 steps/s)' — or 'estimating…'."""
    if eta.seconds is None:
        return "estimating time left…"
    amount = f"{eta.seconds:.0f} s" if eta.seconds < 120 else f"{eta.seconds / 60:.0f} min"
    exit_part = f"≤ {eta.exit_left}" if eta.upper_bound else f"{eta.exit_left}"
    return (
        f"{'up to about' if eta.upper_bound else 'about'} {amount} left (baseline {eta.baseline_left} + exit "
        f"{exit_part} steps at {eta.steps_per_second:.3g} steps/s)"
    )

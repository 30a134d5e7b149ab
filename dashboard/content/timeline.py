"""The dashboard's one clock, without Streamlit: the times it runs over, where each branch stands at
a time, the stored per-example checkpoint nearest to it, and the numbers a figure shows there in
words (the figure's text alternative). Torch-free.

The clock keeps **effective time** t = Σ η_s, not a step number. The exit branch runs at c·η, so
one step number means different amounts of training on the two branches; at one effective time
both have travelled the same distance in learning rate — the comparison Δℓ_k makes. Its positions
are every time either branch logged; each branch is read at its logged step nearest the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eos_core.analysis.results import Result
from eos_core.groups import GROUPS, LABELS

BRANCH_WORDS = {"baseline": "the EoS branch", "exit": "the exit branch"}


def ticks(trace: pd.DataFrame) -> list[float]:
    """The clock's positions: every effective time either branch was logged at, in order, so each
    logged step and stored checkpoint of either branch can be shown (the exit branch's are c times
    closer together). Times equal but for rounding (the branches at the fork) count once."""
    shown = trace[trace.branch.isin(list(BRANCH_WORDS))]  # not the reference flows' own grids
    out: list[float] = []
    for t in sorted(float(v) for v in (shown if len(shown) else trace).t_eff):
        if not out or t - out[-1] > 1e-9 * max(abs(t), 1.0):
            out.append(t)
    return out


def nearest(values, t: float) -> int:
    """The position in `values` of the value nearest `t` (the earlier one on a tie)."""
    return int(np.argmin(np.abs(np.asarray(values, dtype=float) - t)))


def snap(positions: list[float], t: float) -> float:
    """The clock position nearest `t`."""
    return positions[nearest(positions, t)]


def label(t: float) -> str:
    return f"t = {t:.4g}"


def step_at(trace: pd.DataFrame, branch: str, t: float) -> tuple[int, float] | None:
    """The branch's logged (step, effective time) nearest `t`; None when `t` lies outside the times
    the branch was logged at (the exit branch before the fork, or after it ended)."""
    rows = trace[trace.branch == branch].sort_values("step")
    if rows.empty:
        return None
    times = rows.t_eff.to_numpy(dtype=float)
    slack = 1e-9 * max(abs(times[-1]), 1.0)
    if not times[0] - slack <= t <= times[-1] + slack:
        return None
    i = nearest(times, t)
    return int(rows.step.iloc[i]), float(times[i])


def origin(result: Result, aligned: bool) -> tuple[float, float]:
    """Where a figure's x axis starts, as (step, effective time): the fork when its x is measured
    from each seed's fork (a median over seeds), else 0."""
    t_star = result.meta.get("t_star")
    if not aligned or t_star is None:
        return 0.0, 0.0
    rows = result.trace[(result.trace.branch == "baseline") & (result.trace.step == t_star)]
    return float(t_star), float(rows.t_eff.iloc[0]) if len(rows) else 0.0


def lines(trace: pd.DataFrame, t: float, x: str, start: tuple[float, float] = (0.0, 0.0)) -> list[tuple[float, str]]:
    """The clock's vertical lines on a figure whose x axis is `x` ("step" or "time") and starts at
    `start` (see `origin`): one at `t` on a time axis; on a step axis one at the EoS branch's step
    and, where the exit branch reached `t` at another step, a second at that step."""
    if x != "step":
        return [(t - start[1], label(t))]
    found = {b: step_at(trace, b, t) for b in BRANCH_WORDS}
    out = []
    if found["baseline"] is not None:
        out.append((found["baseline"][0] - start[0], label(t)))
    if found["exit"] is not None and (found["baseline"] is None or found["exit"][0] != found["baseline"][0]):
        out.append((found["exit"][0] - start[0], f"exit at {label(t)}"))
    return out


@dataclass(frozen=True)
class Checkpoint:
    branch: str
    step: int
    t_eff: float
    row: int  # its row in the per-example arrays


def checkpoint_times(result: Result, branch: str) -> np.ndarray:
    """The effective time of each stored per-example checkpoint of `branch`, read off the branch's
    logged (step, t_eff) (checkpoints sit on logged steps; one between them is interpolated)."""
    steps = np.asarray(result.per_example.get(f"{branch}_steps", []), dtype=float)
    rows = result.trace[result.trace.branch == branch].sort_values("step")
    if rows.empty:
        return np.full(len(steps), np.nan)
    return np.interp(steps, rows.step.to_numpy(dtype=float), rows.t_eff.to_numpy(dtype=float))


def nearest_checkpoint(result: Result, branch: str, t: float) -> Checkpoint | None:
    """The stored per-example checkpoint of `branch` nearest the clock's time `t`."""
    steps = result.per_example.get(f"{branch}_steps", [])
    if not len(steps):
        return None
    times = checkpoint_times(result, branch)
    row = nearest(times, t)
    return Checkpoint(branch, int(steps[row]), float(times[row]), row)


def checkpoint_time(result: Result, branch: str, step: int) -> float:
    """The effective time of the stored checkpoint at `step` (what an old link's ?step= means)."""
    steps = [int(s) for s in result.per_example[f"{branch}_steps"]]
    return float(checkpoint_times(result, branch)[steps.index(step)])


def describe_checkpoint(point: Checkpoint, t: float) -> str:
    return (
        f"Nearest stored checkpoint of {BRANCH_WORDS.get(point.branch, point.branch)} to the clock's "
        f"{label(t)}: step {point.step}, {label(point.t_eff)}."
    )


def prototype_values(result: Result, point: Checkpoint) -> pd.DataFrame:
    """Each tracked example's loss ℓ_i and alignment cos²(∇ℓ_i, v1) at the checkpoint, by its index."""
    index = np.asarray(result.per_example.get("prototype_index", []), dtype=int)
    rows = pd.Index(result.examples["index"]).get_indexer(index)  # the examples' order is the arrays'
    loss = result.per_example[f"{point.branch}_loss"][point.row]
    cos2 = result.per_example[f"{point.branch}_cos2"][point.row]
    return pd.DataFrame({"loss": loss[rows], "cos2": cos2[rows]}, index=pd.Index(index, name="index"))


def prototype_captions(values: pd.DataFrame) -> dict[int, str]:
    return {int(i): f"ℓ {r.loss:.3g} · cos² {r.cos2:.3g}" for i, r in values.iterrows()}


def describe_sharpness(trace: pd.DataFrame, t: float) -> str:
    """λ1 of each branch at the clock (the line's text alternative)."""
    parts = []
    for branch, words in BRANCH_WORDS.items():
        found = step_at(trace, branch, t)
        if found is not None:
            row = trace[(trace.branch == branch) & (trace.step == found[0])].iloc[0]
            parts.append(f"λ1 = {row.lambda1:.4g} on {words} (step {found[0]})")
    return f"At the line, {label(t)}: " + ("; ".join(parts) or "no branch was logged then") + "."


def describe_groups(groups: pd.DataFrame, t: float, quantity: str = "loss") -> str:
    """Each group's `quantity` on each branch at the clock (the line's text alternative)."""
    parts = []
    for branch, words in BRANCH_WORDS.items():
        found = step_at(groups, branch, t)
        if found is None:
            continue
        at = groups[(groups.branch == branch) & (groups.step == found[0])].set_index("group")[quantity]
        values = ", ".join(f"{LABELS[g]} {at[g]:.4g}" for g in GROUPS if g in at.index)
        parts.append(f"on {words} (step {found[0]}): {values}")
    return f"At the line, {label(t)}, each group's loss " + ("; ".join(parts) or "was not logged") + "."

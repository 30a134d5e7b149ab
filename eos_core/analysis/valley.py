"""Reading the valley a run stored (valley_every > 0; science.valley computes it): which steps
have a slice, one checkpoint's slice, surface and iterates, the curvature the slice shows at the
current weights, and the baseline's checkpoints paired with the exit branch's at equal effective time.

Torch-free: the dashboard and the CLI read valleys with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from eos_core.analysis.results import Result
from eos_core.config import Threshold, branch_thresholds

HOW_TO_GET = (
    "run it with valley slices, e.g. `eos run --preset teach-selective` or "
    "`--set valley_every=N` (about N steps between slices)"
)


class ValleyError(ValueError):
    """A valley that is not there: a run without slices, or a step without one."""


@dataclass
class Valley:
    """One branch's valley at one checkpoint."""

    branch: str
    step: int
    t_eff: float
    slice: pd.DataFrame  # s1, loss: along v1, sorted by s1
    surface: pd.DataFrame  # s1, s2, loss over v1 × v2 (empty where v2 was not solved for)
    iterates: pd.DataFrame  # lag, s1, s2, loss: the previous iterates, θ_{t−1} first
    threshold: Threshold  # the branch's stability threshold (2/η, or 2/(c·η) on the exit branch)

    @property
    def loss(self) -> float:
        """L(θ_t): the slice at s = 0."""
        return float(self.slice.loss.iloc[len(self.slice) // 2])

    @property
    def curvature(self) -> float:
        """The slice's second difference at s = 0: λ1 along v1, to O(h²) in the grid spacing h."""
        s, loss = self.slice.s1.to_numpy(), self.slice.loss.to_numpy()
        mid = len(s) // 2
        h = s[mid + 1] - s[mid]
        return float((loss[mid + 1] - 2 * loss[mid] + loss[mid - 1]) / h**2)

    @property
    def slope(self) -> float:
        """The slice's central difference at s = 0: ∇L·v1, to O(h²)."""
        s, loss = self.slice.s1.to_numpy(), self.slice.loss.to_numpy()
        mid = len(s) // 2
        return float((loss[mid + 1] - loss[mid - 1]) / (s[mid + 1] - s[mid - 1]))


def has_valley(result: Result) -> bool:
    return bool(len(result.valley))


def valley_steps(result: Result, branch: str) -> list[int]:
    """The steps at which `branch` has a slice, ascending."""
    return sorted(int(s) for s in pd.unique(result.valley.step[result.valley.branch == branch]))


def valley_at(result: Result, branch: str, step: int) -> Valley:
    """`branch`'s valley at `step`; a ValleyError that lists the steps with one when it has none."""
    if not has_valley(result):
        raise ValleyError(f"this run has no valley slices; {HOW_TO_GET}")
    steps = valley_steps(result, branch)
    if step not in steps:
        have = ", ".join(map(str, steps)) or "none"
        raise ValleyError(f"no valley slice at step {step} on the {branch} branch; steps with one: {have}")
    grid = result.valley[(result.valley.branch == branch) & (result.valley.step == step)]
    mine = result.valley_iterates
    iterates = mine[(mine.branch == branch) & (mine.step == step)].sort_values("lag")
    return Valley(
        branch,
        step,
        float(grid.t_eff.iloc[0]),
        grid[grid.kind == "slice"].sort_values("s1")[["s1", "loss"]].reset_index(drop=True),
        grid[grid.kind == "surface"][["s1", "s2", "loss"]].reset_index(drop=True),
        iterates[["lag", "s1", "s2", "loss"]].reset_index(drop=True),
        branch_thresholds(result.meta["config"])[branch],
    )


def paired_checkpoints(result: Result) -> list[tuple[int, int | None]]:
    """(baseline step, exit step or None) for every baseline checkpoint: the exit branch's
    checkpoint at the same effective time, which it slices at the logged step nearest to it
    (science.valley.checkpoint_steps), so within half a logged interval at c·η."""
    config = result.meta["config"]
    tolerance = 0.5 * config["log_every"] * config["c"] * config["lr"] * (1 + 1e-9)
    exit_times = {step: _t_eff(result, "exit", step) for step in valley_steps(result, "exit")}
    pairs = []
    for step in valley_steps(result, "baseline"):
        t_eff = _t_eff(result, "baseline", step)
        near = [s for s, t in exit_times.items() if abs(t - t_eff) <= tolerance]
        pairs.append((step, min(near, key=lambda s: abs(exit_times[s] - t_eff)) if near else None))
    return pairs


def _t_eff(result: Result, branch: str, step: int) -> float:
    rows = result.valley[(result.valley.branch == branch) & (result.valley.step == step)]
    return float(rows.t_eff.iloc[0])


def slice_table(valley: Valley) -> pd.DataFrame:
    """The slice as a table for the CLI and downloads: offset, loss, and the loss above L(θ_t)."""
    table = valley.slice.rename(columns={"s1": "offset_along_v1"})
    return table.assign(rise=table.loss - valley.loss)

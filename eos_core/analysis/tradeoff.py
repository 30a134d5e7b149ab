"""Trade-offs over time: Δℓ_k(u) at every exit-branch step u = step − t* after the fork, at equal
effective time, its peak window, and how many seeds agree.

A single end-of-run Δℓ_k can hide a trade-off that lives for a few hundred steps after t* and then
closes, or oversell one that is a blip. So every curve is kept, and the window is found on it:

    T(u) = min(max_k Δℓ_k(u), −min_k Δℓ_k(u))    the trade-off: > 0 iff one group is ahead under
                                                 EoS (Δ > 0) while another is behind (Δ < 0);
                                                 its size is the smaller of the two
    peak window [u1, u2]: the contiguous steps around argmax T where T ≥ ½·max T (half-maximum
    width, as for a spectral line); none where T never rises above 0.

Seeds share the lattice u (every seed's exit branch steps once per step from its own t*), so
curves align without interpolation. Torch-free: the dashboard and the regime map call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eos_core.analysis.results import Result, delta_loss
from eos_core.groups import GROUPS

# The paper's MSE pattern (§4, Fig. 4): EoS ahead on input-outliers, behind on inliers and boundary points.
PAPER_PATTERN = {"input_outlier": 1, "inlier": -1, "boundary": -1}


@dataclass(frozen=True)
class Window:
    u1: int  # first exit step after t* in the window
    u2: int  # last
    peak_u: int  # where the trade-off T(u) is largest
    size: float  # T at the peak

    @property
    def steps(self) -> int:
        return self.u2 - self.u1 + 1


@dataclass
class TradeOff:
    """One configuration's trade-off over its seeds (one seed is a family of one)."""

    n_seeds: int
    curves: pd.DataFrame  # u, group, mean, std, agree (seeds with mean's sign), n
    window: Window | None
    window_mean: dict = field(default_factory=dict)  # group → mean over seeds of its window mean Δℓ_k
    window_agree: dict = field(default_factory=dict)  # group → seeds whose window mean has that sign
    end: dict = field(default_factory=dict)  # group → mean Δℓ_k at the last common u
    end_agree: dict = field(default_factory=dict)
    pattern_seeds: int = 0  # seeds showing the paper's pattern in the window
    pattern_run: tuple | None = None  # (u1, u2): the longest stretch where the mean curves show it

    def pattern(self) -> bool:
        """Whether the mean curves show the paper's pattern in the peak window."""
        return bool(self.window) and all(np.sign(self.window_mean.get(g, 0.0)) == s for g, s in PAPER_PATTERN.items())


def delta_over_time(result: Result, column: str = "loss_avg2") -> pd.DataFrame:
    """Δℓ_k(u) at every exit step u ≥ 1 after the fork (columns u, group, delta_loss); empty if the
    run never forked. Exact: the baseline's per-step losses at equal effective time."""
    d = delta_loss(result, column, every_step=True).dropna(subset=["delta_loss"])
    if d.empty:
        return pd.DataFrame(columns=["u", "group", "delta_loss"])
    d = d.assign(u=(d.step - result.meta["t_star"]).astype(int))
    return d[d.u >= 1][["u", "group", "delta_loss"]].reset_index(drop=True)


def strength(wide: pd.DataFrame) -> pd.Series:
    """T(u) from a table indexed by u with one column per group."""
    return np.minimum(wide.max(axis=1), -wide.min(axis=1))


def longest_pattern_run(wide: pd.DataFrame) -> tuple[int, int] | None:
    """The longest stretch of consecutive steps where the paper's pattern holds (each group of
    PAPER_PATTERN with its sign), wherever the peak window is; None if it never holds."""
    if not set(PAPER_PATTERN) <= set(wide.columns):
        return None
    holds = np.logical_and.reduce([np.sign(wide[g].to_numpy()) == s for g, s in PAPER_PATTERN.items()])
    best, start = None, None
    for i, ok in enumerate([*holds, False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if best is None or i - start > best[1] - best[0] + 1:
                best = (start, i - 1)
            start = None
    u = wide.index.to_numpy()
    return (int(u[best[0]]), int(u[best[1]])) if best else None


def peak_window(wide: pd.DataFrame) -> Window | None:
    """The half-maximum window around the largest trade-off, or None if no group ever gains while
    another loses."""
    t = strength(wide).to_numpy()
    if not len(t) or not np.nanmax(t) > 0:
        return None
    peak = int(np.nanargmax(t))
    half = t[peak] / 2
    lo = hi = peak
    while lo > 0 and t[lo - 1] >= half:
        lo -= 1
    while hi < len(t) - 1 and t[hi + 1] >= half:
        hi += 1
    u = wide.index.to_numpy()
    return Window(int(u[lo]), int(u[hi]), int(u[peak]), float(t[peak]))


def tradeoff(results: list[Result], column: str = "loss_avg2") -> TradeOff:
    """The seeds of one configuration: mean Δℓ_k(u) with its spread and sign agreement, the peak
    window of the mean, and per group the window and end values with how many seeds agree."""
    per_seed = [w for w in (_wide(delta_over_time(r, column)) for r in results) if not w.empty]
    if not per_seed:
        return TradeOff(0, pd.DataFrame(columns=["u", "group", "mean", "std", "agree", "n"]), None)
    common = per_seed[0].index
    for w in per_seed[1:]:
        common = common.intersection(w.index)
    groups = [g for g in GROUPS if all(g in w.columns for w in per_seed)]
    stack = np.stack([w.loc[common, groups].to_numpy() for w in per_seed])  # (seeds, u, groups)
    mean = pd.DataFrame(stack.mean(axis=0), index=common, columns=groups)
    window = peak_window(mean)
    out = TradeOff(len(per_seed), _curves(stack, common, groups), window, pattern_run=longest_pattern_run(mean))
    out.end, out.end_agree = _agreement(stack[:, -1, :], groups)
    if window is not None:
        inside = (common >= window.u1) & (common <= window.u2)
        seed_means = stack[:, inside, :].mean(axis=1)  # (seeds, groups)
        out.window_mean, out.window_agree = _agreement(seed_means, groups)
        out.pattern_seeds = int(
            sum(
                all(np.sign(row[groups.index(g)]) == s for g, s in PAPER_PATTERN.items() if g in groups)
                for row in seed_means
            )
        )
    return out


def _wide(d: pd.DataFrame) -> pd.DataFrame:
    return d.pivot_table(index="u", columns="group", values="delta_loss").sort_index() if len(d) else d


def _curves(stack: np.ndarray, u, groups) -> pd.DataFrame:
    mean = stack.mean(axis=0)
    agree = (np.sign(stack) == np.sign(mean)[None]).sum(axis=0)
    frames = [
        pd.DataFrame(
            {
                "u": u,
                "group": g,
                "mean": mean[:, j],
                "std": stack[:, :, j].std(axis=0),
                "agree": agree[:, j],
                "n": len(stack),
            }
        )
        for j, g in enumerate(groups)
    ]
    return pd.concat(frames, ignore_index=True)


def _agreement(values: np.ndarray, groups) -> tuple[dict, dict]:
    """(group → mean over seeds, group → seeds with the mean's sign) of a (seeds, groups) array."""
    mean = values.mean(axis=0)
    agree = (np.sign(values) == np.sign(mean)).sum(axis=0)
    return ({g: float(mean[j]) for j, g in enumerate(groups)}, {g: int(agree[j]) for j, g in enumerate(groups)})


def describe(t: TradeOff) -> str:
    """One sentence: the end values, the peak window with its size and seed agreement."""
    if not t.n_seeds:
        return "no run forked, so there is no trade-off to measure"
    end = ", ".join(f"{g} {v:+.3g} ({t.end_agree[g]}/{t.n_seeds})" for g, v in t.end.items())
    run = (
        f"the paper's pattern holds on the mean curves for u ∈ [{t.pattern_run[0]}, {t.pattern_run[1]}] "
        f"({t.pattern_run[1] - t.pattern_run[0] + 1} steps)"
        if t.pattern_run
        else "the paper's pattern holds at no step of the mean curves"
    )
    if t.window is None:
        return f"at the end Δℓ_k: {end}; no group is ahead under EoS while another is behind at any step; {run}"
    w = t.window
    inside = ", ".join(f"{g} {v:+.3g} ({t.window_agree[g]}/{t.n_seeds})" for g, v in t.window_mean.items())
    return (
        f"peak trade-off window u ∈ [{w.u1}, {w.u2}] exit steps after t* ({w.steps} steps, size {w.size:.3g} "
        f"at u = {w.peak_u}), mean Δℓ_k there: {inside}; the paper's pattern in {t.pattern_seeds}/{t.n_seeds} "
        f"seeds; {run}; at the end: {end}"
    )

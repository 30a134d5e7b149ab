"""What a page plots, computed once from results: long tables of every curve with a median and
an interquartile band, so one seed and many seeds draw through the same code.

One run: x is the step or the effective time, the band is empty. Several seeds of one config:
x is the time since each seed's fork (see `aggregate`), the curve is the median, the band the IQR.
Torch-free: the dashboard uses it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eos_core.analysis.aggregate import aggregate
from eos_core.analysis.results import Result, branch_deltas
from eos_core.runs.eta import fork_step, records


@dataclass
class Series:
    trace: pd.DataFrame  # branch, x_step, x_time, quantity, median, q25, q75
    groups: pd.DataFrame  # ... plus group
    delta: pd.DataFrame  # ... plus group (quantity delta_loss)
    config: dict
    t_star: float | None  # in x_step units
    t_star_star: float | None
    t_star_time: float | None
    t_star_star_time: float | None
    aligned: bool  # True: x is measured from the fork (several seeds)
    n_seeds: int


def _long(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    values = [
        c for c in table.columns if c not in keys + ["step", "t_eff", "lr"] and pd.api.types.is_numeric_dtype(table[c])
    ]
    long = table.melt(id_vars=keys + ["step", "t_eff"], value_vars=values, var_name="quantity", value_name="median")
    long = long.rename(columns={"step": "x_step", "t_eff": "x_time"})
    long["q25"] = np.nan
    long["q75"] = np.nan
    return long


def _from_aggregate(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns={"steps_since_fork": "x_step", "tau": "x_time"})


def series(results: list[Result]) -> Series:
    first = results[0]
    cfg = first.meta["config"]
    if len(results) == 1:
        t_star, t_ss = first.meta.get("t_star"), first.meta.get("t_star_star")
        deltas = (
            branch_deltas(first)
            if len(first.groups)
            else pd.DataFrame(columns=["step", "t_eff", "group", "delta_loss", "branch"])
        )
        return Series(
            _long(first.trace, ["branch"]),
            _long(first.groups, ["branch", "group"]),
            _long(deltas, ["branch", "group"]),
            cfg,
            t_star,
            t_ss,
            _time_of(first, "baseline", t_star),
            _time_of(first, "exit", t_ss),
            False,
            1,
        )
    agg = aggregate(results)
    seeds = agg["seeds"].dropna(subset=["t_star"])
    since = (seeds.t_star_star - seeds.t_star).dropna()
    t_ss = float(since.median()) if len(since) else None
    return Series(
        _from_aggregate(agg["trace"]),
        _from_aggregate(agg["groups"]),
        _from_aggregate(agg["delta"]),
        cfg,
        0.0,
        t_ss,
        0.0,
        None if t_ss is None else t_ss * cfg["c"] * cfg["lr"],
        True,
        len(results),
    )


def _time_of(result: Result, branch: str, step) -> float | None:
    if step is None:
        return None
    rows = result.trace[(result.trace.branch == branch) & (result.trace.step == step)]
    return float(rows.t_eff.iloc[0]) if len(rows) else None


def live_result(job: dict, live: dict) -> Result:
    """A Result-shaped view of a running job's trace so far (for curves that grow)."""
    trace = pd.DataFrame(live.get("trace", []))
    groups = pd.DataFrame(live.get("groups", []))
    t_star = fork_step(records(live.get("clock")))  # the worker's own record of when it forked
    if t_star is None and "branch" in trace and (trace.branch == "exit").any():
        t_star = int(trace.step[trace.branch == "exit"].min())
    meta = {
        "config": job["config"],
        "config_hash": job["id"],
        "status": job["state"],
        "t_star": t_star,
        "t_star_star": None,
    }
    return Result(meta, trace, groups, pd.DataFrame(), {})


def checkpoint(result: Result, branch: str, step: int) -> tuple[np.ndarray, float | None]:
    """Per-example cos² of `branch` at a stored step, and that step's logged Spearman ρ."""
    steps = list(result.per_example[f"{branch}_steps"])
    cos2 = result.per_example[f"{branch}_cos2"][steps.index(step)]
    row = result.trace[(result.trace.branch == branch) & (result.trace.step == step)]
    return cos2, (float(row.spearman_rho.iloc[0]) if len(row) else None)


def smoothed(s: Series, weight: float) -> Series:
    """Every curve as an exponential moving average (TensorBoard's smoothing: debiased, in x order),
    the raw values kept in a `raw` column so figures can draw them faintly behind."""
    if weight <= 0:
        return s
    return dataclasses.replace(
        s,
        trace=_ema(s.trace, weight, ["branch", "quantity"]),
        groups=_ema(s.groups, weight, ["branch", "quantity", "group"]),
        delta=_ema(s.delta, weight, ["branch", "quantity", "group"]),
    )


def _ema(table: pd.DataFrame, weight: float, keys: list[str]) -> pd.DataFrame:
    if table.empty:
        return table
    table = table.sort_values(keys + ["x_step"]).copy()
    table["raw"] = table["median"]
    out = []
    for _, curve in table.groupby(keys, sort=False):
        values = curve["raw"].to_numpy(dtype=float)
        ema, smooth, seen = 0.0, np.empty_like(values), 0
        for i, v in enumerate(values):
            if np.isfinite(v):
                ema, seen = weight * ema + (1 - weight) * v, seen + 1
            smooth[i] = ema / (1 - weight**seen) if seen else np.nan
        out.append(curve.assign(median=smooth))
    return pd.concat(out)

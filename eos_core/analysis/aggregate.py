"""Seed aggregation: median and interquartile range of every trace and group quantity across
seeds, aligned on time since the fork (t_eff − t_eff at t*).

Each seed forks at its own t*, but both branches log every `log_every` steps from t*, so
k = step − t* is an integer lattice shared by all seeds: τ = η·k on the baseline and c·η·k on the
exit branch (k ≥ 0), with no interpolation. Torch-free: the dashboard calls it.
"""

from __future__ import annotations

import pandas as pd

from eos_core.analysis.results import Result, branch_deltas

KEYS = ["branch", "steps_since_fork", "tau"]


def aligned(result: Result, table: pd.DataFrame) -> pd.DataFrame:
    """`table` with steps_since_fork and τ columns (None if the run never forked)."""
    t_star = result.meta["t_star"]
    cfg = result.meta["config"]
    out = table.copy()
    out["steps_since_fork"] = out["step"] - t_star
    # the central flow logs on the baseline's steps and effective time: it advances at η
    rates = {"baseline": cfg["lr"], "exit": cfg["c"] * cfg["lr"], "central_flow": cfg["lr"]}
    rate = out["branch"].map(rates).fillna(cfg["c"] * cfg["lr"])
    rate = rate.where(out["steps_since_fork"] >= 0, cfg["lr"])  # before the fork both run at η
    out["tau"] = rate * out["steps_since_fork"]
    return out


def _summarise(frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    data = pd.concat(frames, ignore_index=True)
    values = [
        c
        for c in data.columns
        if c not in keys + ["step", "t_eff", "lr", "seed"] and pd.api.types.is_numeric_dtype(data[c])
    ]
    long = data.melt(id_vars=keys, value_vars=values, var_name="quantity")
    grouped = long.groupby(keys + ["quantity"], sort=True)["value"]
    summary = pd.DataFrame(
        {
            "median": grouped.median(),
            "q25": grouped.quantile(0.25),
            "q75": grouped.quantile(0.75),
            "n_seeds": grouped.count(),
        }
    )
    return summary.reset_index()


def aggregate(results: list[Result]) -> dict[str, pd.DataFrame]:
    """Tables `trace`, `groups`, `delta` (long format: quantity, median, q25, q75, n_seeds) and
    `seeds` (each seed's t*, t** and status). Runs that never forked appear only in `seeds`."""
    seeds = pd.DataFrame(
        [
            {
                "seed": r.meta["config"]["seed"],
                "config_hash": r.meta["config_hash"],
                "status": r.status,
                "t_star": r.meta["t_star"],
                "t_star_star": r.meta["t_star_star"],
            }
            for r in results
        ]
    )
    forked = [r for r in results if r.meta["t_star"] is not None]
    if not forked:
        empty = pd.DataFrame(columns=KEYS + ["quantity", "median", "q25", "q75", "n_seeds"])
        return {"trace": empty, "groups": empty, "delta": empty, "seeds": seeds}
    trace = _summarise([aligned(r, r.trace) for r in forked], KEYS)
    groups = _summarise([aligned(r, r.groups) for r in forked], KEYS + ["group"])
    deltas = [aligned(r, branch_deltas(r)) for r in forked]  # the exit branch's and any reference flow's
    delta = _summarise(deltas, KEYS + ["group"])
    return {"trace": trace, "groups": groups, "delta": delta, "seeds": seeds}

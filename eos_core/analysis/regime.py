"""The regime map: where in (pair, α, c, η, loss, displacement) EoS helps which group.

Stored runs are grouped into configurations (all fields but the seed); each configuration's seeds
give one `tradeoff`. Pick two axes: every cell holds one configuration's Δℓ_k per group, at its
peak window or at the end, with how many seeds agree in sign. Runs that differ on a field that is
neither an axis nor fixed by `where` would share a cell: the cell keeps the configuration with the
most seeds and says how many it hid. Torch-free: the dashboard and the CLI call it.
"""

from __future__ import annotations

import pandas as pd

from eos_core.analysis.results import Result
from eos_core.analysis.tradeoff import PAPER_PATTERN, tradeoff
from eos_core.config import family_key
from eos_core.groups import GROUPS, SHORT

AXES = {"pair": "class pair", "alpha": "α", "c": "c", "lr": "η", "loss": "loss", "displacement": "displacement"}
FILTERS = ("dataset", *AXES)  # what `where` may fix
COLUMNS = [
    "family",
    "runs",
    "n_seeds",
    *FILTERS,
    "group",
    "value",
    "agree",
    "u1",
    "u2",
    "pattern_seeds",
    "pattern_u1",
    "pattern_u2",
    "hidden",
]


def axis_value(config: dict, axis: str):
    return "–".join(config["classes"]) if axis == "pair" else config[axis]


def _matches(column: pd.Series, value) -> pd.Series:
    """Equality as a user means it: 3 matches α = 3.0."""
    try:
        return column.astype(float) == float(value)
    except (TypeError, ValueError):
        return column.astype(str) == str(value)


def table(results: list[Result], at: str = "peak") -> pd.DataFrame:
    """One row per configuration and group: its axis values, Δℓ_k (mean over seeds) at the peak
    window or at the end, seeds agreeing in sign, the window and the seeds showing the paper's pattern."""
    if at not in ("peak", "end"):
        raise ValueError(f"at={at!r}: choose peak or end")
    families: dict[str, list[Result]] = {}
    for r in results:
        families.setdefault(family_key(r.meta["config"]), []).append(r)
    rows = []
    for key, runs in families.items():
        t = tradeoff(runs)
        config = runs[0].meta["config"]
        values, agree = (t.window_mean, t.window_agree) if at == "peak" else (t.end, t.end_agree)
        w = t.window
        for group in GROUPS:
            rows.append(
                {
                    "family": key,
                    "runs": ",".join(r.meta["config_hash"] for r in runs),
                    "n_seeds": t.n_seeds,
                    **{a: axis_value(config, a) for a in FILTERS},
                    "group": group,
                    "value": values.get(group),
                    "agree": agree.get(group),
                    "u1": w.u1 if w else None,
                    "u2": w.u2 if w else None,
                    "pattern_seeds": t.pattern_seeds,
                    "pattern_u1": t.pattern_run[0] if t.pattern_run else None,
                    "pattern_u2": t.pattern_run[1] if t.pattern_run else None,
                    "hidden": 0,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def select(frame: pd.DataFrame, rows: str, cols: str, where: dict | None = None) -> pd.DataFrame:
    """Rows of `table` kept for a map over (rows, cols): `where` fixes other axes (e.g. loss=mse);
    of several configurations in one cell, the one with the most seeds stays."""
    for axis in (rows, cols):
        if axis not in AXES:
            raise ValueError(f"unknown axis {axis!r}; axes are {', '.join(AXES)}")
    if rows == cols:
        raise ValueError("choose two different axes")
    for axis, value in (where or {}).items():
        if axis not in FILTERS:
            raise ValueError(f"cannot fix {axis!r}; fix one of {', '.join(FILTERS)}")
        frame = frame[_matches(frame[axis], value)]
    families = frame.drop_duplicates("family").sort_values("n_seeds", ascending=False, kind="stable")
    kept = families.drop_duplicates([rows, cols])
    hidden = families.groupby([rows, cols]).size() - 1
    out = frame[frame.family.isin(kept.family)].copy()
    out["hidden"] = [int(hidden[(r, c)]) for r, c in zip(out[rows], out[cols])]
    return out


def cell_text(cell: pd.DataFrame) -> str:
    """'in -0.0089 (5/5) · … · io +0.015 (5/5) · oo +0.00038 (2/5) ✓ pattern 5/5': each group's Δℓ_k
    with the seeds agreeing in sign, ✓ where these means show the paper's pattern, and the seeds
    showing it in the peak window."""
    if cell.value.isna().all():
        return "no trade-off window" if cell.n_seeds.iloc[0] else "never forked"
    n = int(cell.n_seeds.iloc[0])
    parts = [
        f"{SHORT[g]} {v:+.2g} ({int(a)}/{n})" for g, v, a in zip(cell.group, cell.value, cell.agree) if pd.notna(v)
    ]
    means = dict(zip(cell.group, cell.value))
    mark = "✓" if all(pd.notna(means.get(g)) and (means[g] > 0) == (s > 0) for g, s in PAPER_PATTERN.items()) else "·"
    extra = f" (+{int(cell.hidden.iloc[0])} more)" if cell.hidden.iloc[0] else ""
    return " · ".join(parts) + f" {mark} pattern {int(cell.pattern_seeds.iloc[0])}/{n}{extra}"


def grid(frame: pd.DataFrame, rows: str, cols: str) -> pd.DataFrame:
    """The map as text cells: index = row axis values, columns = column axis values."""
    cells = {(r, c): cell_text(g) for (r, c), g in frame.groupby([rows, cols], sort=True)}
    out = pd.Series(cells).unstack() if cells else pd.DataFrame()
    out.index.name, out.columns.name = AXES[rows], AXES[cols]
    return out.fillna("—")


def markdown(g: pd.DataFrame) -> str:
    header = [f"{g.index.name} \\ {g.columns.name}", *map(str, g.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in g.iterrows():
        lines.append("| " + " | ".join([str(index), *row.astype(str)]) + " |")
    return "\n".join(lines)

"""The Branches page's figures and words: one baseline and every exit branch grown from it (several
c, several fork points) on shared axes of effective time. Built from analysis.lineage's family
tables; torch-free, no streamlit.

The baseline is drawn once, solid; each branch dashed in its own colour, with its threshold as a
dotted line of that colour and its fork point as a diamond on the baseline.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.content.naming import differences
from dashboard.content.plots import BRANCH_COLORS, GROUP_LABELS, RUN_COLORS
from eos_core.config import branch_thresholds
from eos_core.groups import GROUPS

X_TITLE = "effective time t_eff = Σ η_s"


def colours(table: pd.DataFrame) -> dict[str, str]:
    """A colour for each branch of the table (they repeat past six)."""
    return {key: RUN_COLORS[i % len(RUN_COLORS)] for i, key in enumerate(table.id)}


def branch_labels(table: pd.DataFrame, origin: dict) -> dict[str, str]:
    """Each branch named by where it forks and what differs from the origin run's config `origin`
    (t*: a run's own fork; fork@: a fork job's)."""
    labels = {}
    for row in table.itertuples():
        where = f"t*={row.fork_step}" if row.kind == "run" else f"fork@{row.fork_step}"
        changed = differences(_config(row), _config_of(origin))
        labels[row.id] = " · ".join([where, *changed]) if changed else f"{where} · c={row.c:g}"
    return labels


def _config(row) -> dict:
    return {"c": row.c, "lr": row.lr, "loss": row.loss, "optimizer": row.optimizer}


def _config_of(config: dict) -> dict:
    return {k: config[k] for k in ("c", "lr", "loss", "optimizer")}


def _exits(frame: pd.DataFrame, table: pd.DataFrame):
    """(table row, that branch's exit rows) for every branch with a stored exit branch."""
    for row in table.itertuples():
        rows = frame[(frame.member == row.id) & (frame.branch == "exit")].sort_values("t_eff")
        if len(rows):
            yield row, rows


def sharpness_figure(trace: pd.DataFrame, table: pd.DataFrame, labels: dict, origin: dict) -> go.Figure:
    """λ1 of the baseline and of every branch against t_eff, with each one's threshold (`origin`: the
    origin run's config, whose baseline it is)."""
    fig = go.Figure()
    base = trace[trace.branch == "baseline"].drop_duplicates("step").sort_values("t_eff")
    baseline = branch_thresholds(origin)["baseline"]
    fig.add_trace(_curve(base.t_eff, base.lambda1, f"baseline (η) · {baseline.symbol}", BRANCH_COLORS["baseline"]))
    fig.add_hline(y=baseline.value, line={"color": BRANCH_COLORS["baseline"], "width": 1})
    colour = colours(table)
    drawn = {baseline.value}
    for row, rows in _exits(trace, table):
        fig.add_trace(_curve(rows.t_eff, rows.lambda1, labels[row.id], colour[row.id], "dash", row.id))
        if not any(math.isclose(row.exit_threshold, v) for v in drawn):  # one line per distinct threshold
            drawn.add(row.exit_threshold)
            fig.add_hline(y=row.exit_threshold, line={"color": colour[row.id], "width": 1, "dash": "dot"})
    _fork_points(fig, base, table, colour, labels)
    fig.update_xaxes(title_text=X_TITLE)
    return _layout(fig, "sharpness λ1", "Sharpness λ1 of the baseline and its branches, with their thresholds")


def _fork_points(fig: go.Figure, base: pd.DataFrame, table: pd.DataFrame, colour: dict, labels: dict) -> None:
    at = base.set_index("step")
    for row in table.itertuples():
        if row.fork_step in at.index:
            point = at.loc[row.fork_step]
            fig.add_trace(
                go.Scatter(
                    x=[point.t_eff],
                    y=[point.lambda1],
                    mode="markers",
                    marker={"symbol": "diamond", "size": 11, "color": colour[row.id], "line": {"width": 1}},
                    name=f"fork point · {labels[row.id]}",
                    legendgroup=row.id,
                    showlegend=False,
                )
            )


def loss_figure(groups: pd.DataFrame, table: pd.DataFrame, labels: dict, column: str = "loss_avg2") -> go.Figure:
    """ℓ_k of the baseline and every branch, one panel per group, fork points as dotted lines."""
    fig = make_subplots(rows=2, cols=2, shared_xaxes=True, subplot_titles=[GROUP_LABELS[g] for g in GROUPS])
    colour = colours(table)
    times = {row.id: row.fork_t_eff for row in table.itertuples() if _number(row.fork_t_eff)}
    for i, group in enumerate(GROUPS):
        cell = {"row": i // 2 + 1, "col": i % 2 + 1}
        mine = groups[groups.group == group]
        base = mine[mine.branch == "baseline"].drop_duplicates("step").sort_values("t_eff")
        first = i == 0
        fig.add_trace(_curve(base.t_eff, base[column], "baseline (η)", BRANCH_COLORS["baseline"], show=first), **cell)
        for row, rows in _exits(mine, table):
            fig.add_trace(
                _curve(rows.t_eff, rows[column], labels[row.id], colour[row.id], "dash", row.id, show=first), **cell
            )
    for key, t in times.items():
        fig.add_vline(x=t, line={"color": colour[key], "dash": "dot", "width": 1}, row="all", col="all")
    what = "two-step averaged group loss ℓ̄_k" if column == "loss_avg2" else "group loss ℓ_k"
    fig.update_xaxes(title_text=X_TITLE, row=2)
    fig = _layout(fig, what, f"{what[0].upper()}{what[1:]} per group, the baseline and its branches")
    return fig.update_layout(height=620)


def _number(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _curve(x, y, name: str, colour: str, dash: str = "solid", group: str = "baseline", show: bool = True):
    return go.Scatter(
        x=x, y=y, mode="lines", name=name, line={"color": colour, "dash": dash}, legendgroup=group, showlegend=show
    )


def _layout(fig: go.Figure, y: str, title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        legend={"groupclick": "togglegroup"},
        margin={"t": 80, "r": 20, "l": 60, "b": 50},
        hovermode="x unified",
    )
    return fig.update_yaxes(title_text=y)


def describe(table: pd.DataFrame) -> list[str]:
    """The page's explainer sentences for this family."""
    forks = table[table.kind == "fork"]
    runs = table[table.kind == "run"]
    sentences = [
        f"One baseline at η and {len(table)} exit branch(es) grown from it: {len(runs)} at the run's own "
        f"onset t* (one per stored c) and {len(forks)} forked elsewhere or with other settings.",
        "Every branch starts from the baseline's exact state at its fork point (a diamond on the baseline) "
        "and continues at its own c·η; on effective time t_eff = Σ η_s the branches are compared at equal "
        "distance travelled, so a branch at a smaller rate is not simply behind.",
        "Each branch's dotted line is its own threshold 2/(c·η): a branch that reaches it is back at the "
        "edge of stability (t**).",
    ]
    pending = table[~table.status.isin(["done", "no_onset", "diverged"])]
    if len(pending):
        sentences.append(f"{len(pending)} fork(s) are not stored yet (queued, running, failed or cancelled).")
    return sentences

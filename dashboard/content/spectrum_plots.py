"""The Hessian's spectrum drawn: the SLQ density at a checkpoint, every tracked eigenvalue above the
cut over training, each group's alignment with each tracked direction, and their text alternatives
(the numbers, in words). Torch-free; the branch and group styles come from `plots`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.content.plots import BRANCH_COLORS, BRANCH_STYLE
from eos_core.config import MAX_TRACKED, branch_thresholds
from eos_core.groups import GROUPS, LABELS


def spectrum_figure(spectrum, log_y: bool = True) -> go.Figure:
    """The Hessian's SLQ density (analysis.spectrum.Spectrum, Gaussian-smoothed) with the logged
    λ1 and the branch's threshold marked. On a log axis the curve stops at 1e-7 of its peak: the
    Gaussians' far tails say nothing about the Hessian."""
    grid = spectrum.grid()
    density = spectrum.smoothed(grid)
    if log_y:
        density = np.where(density >= 1e-7 * density.max(), density, np.nan)
    fig = go.Figure(go.Scatter(x=grid, y=density, mode="lines", name="density", line={"color": "#444444"}))
    fig.add_vline(x=spectrum.lambda1, line={"color": "#d62728", "dash": "dash"}, annotation_text="λ1")
    fig.add_vline(x=spectrum.threshold, line={"color": "#1f77b4"}, annotation_text=spectrum.threshold_symbol)
    fig.update_layout(
        title=f"Hessian spectrum, {spectrum.branch} at step {spectrum.step}",
        xaxis_title="eigenvalue λ",
        yaxis_title="density",
        template="plotly_white",
        margin={"t": 60, "r": 20, "l": 60, "b": 50},
        showlegend=False,
    )
    fig.update_yaxes(type="log" if log_y else "linear", exponentformat="power")
    return fig


def _rank_colour(rank: int) -> str:
    """Rank 1 (the largest eigenvalue) darkest; one fixed colour per rank up to MAX_TRACKED."""
    from plotly.colors import sample_colorscale

    return sample_colorscale("Viridis", [(rank - 1) / max(MAX_TRACKED - 1, 1)])[0]


def tracked_eigenvalue_figure(tracked: pd.DataFrame, config: dict, x: str = "step") -> go.Figure:
    """Every tracked eigenvalue λ_i (rank i, largest first) per branch against step or effective
    time, with each branch's threshold and the tracking cut track_fraction·threshold."""
    fig = go.Figure()
    xcol = "step" if x == "step" else "t_eff"
    for (branch, rank), frame in tracked.groupby(["branch", "rank"]):
        dash, label = BRANCH_STYLE.get(branch, ("dot", branch))
        frame = frame.sort_values(xcol)
        fig.add_trace(
            go.Scatter(
                x=frame[xcol],
                y=frame.eigenvalue,
                mode="lines+markers",
                marker={"size": 4},
                name=f"λ{rank} {label}",
                line={"color": _rank_colour(int(rank)), "dash": dash},
                legendgroup=f"rank{rank}",
            )
        )
    fraction = config.get("track_fraction", 0.0)
    for branch, threshold in branch_thresholds(config).items():
        if branch not in set(tracked.branch):
            continue
        colour = BRANCH_COLORS[branch]
        fig.add_hline(y=threshold.value, line={"color": colour, "width": 1}, annotation_text=threshold.symbol)
        fig.add_hline(
            y=fraction * threshold.value,
            line={"color": colour, "width": 1, "dash": "dot"},
            annotation_text=f"{fraction:g}·{threshold.symbol} (cut)",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title="Every tracked Hessian eigenvalue above the cut",
        xaxis_title="step" if x == "step" else "effective time t_eff = Σ η_s",
        yaxis_title="eigenvalue λ_i",
        template="plotly_white",
        legend={"groupclick": "togglegroup"},
        margin={"t": 60, "r": 20, "l": 60, "b": 50},
        hovermode="x unified",
    )
    return fig


def tracked_alignment_figure(tracked_groups: pd.DataFrame, x: str = "step", log_y: bool = False) -> go.Figure:
    """cos²(∇ℓ_k, v_i) of every group k (one panel each) with every tracked eigenvector v_i (one
    colour per rank), EoS solid and exit dashed."""
    from plotly.subplots import make_subplots

    xcol = "step" if x == "step" else "t_eff"
    fig = make_subplots(rows=2, cols=2, subplot_titles=[LABELS[g] for g in GROUPS], shared_xaxes=True)
    for index, group in enumerate(GROUPS):
        row, col = divmod(index, 2)
        mine = tracked_groups[tracked_groups.group == group]
        for (branch, rank), frame in mine.groupby(["branch", "rank"]):
            dash, label = BRANCH_STYLE.get(branch, ("dot", branch))
            frame = frame.sort_values(xcol)
            fig.add_trace(
                go.Scatter(
                    x=frame[xcol],
                    y=frame.cos2,
                    mode="lines",
                    name=f"v{rank} {label}",
                    line={"color": _rank_colour(int(rank)), "dash": dash},
                    legendgroup=f"rank{rank}-{branch}",
                    showlegend=index == 0,
                ),
                row=row + 1,
                col=col + 1,
            )
    fig.update_layout(
        title="Each group's alignment cos²(∇ℓ_k, v_i) with each tracked eigenvector",
        template="plotly_white",
        legend={"groupclick": "togglegroup"},
        margin={"t": 80, "r": 20, "l": 60, "b": 50},
        height=560,
    )
    fig.update_xaxes(title_text="step" if x == "step" else "t_eff", row=2)
    fig.update_yaxes(title_text="cos²", type="log" if log_y else "linear", col=1)
    if log_y:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def describe_tracked(tracked: pd.DataFrame, config: dict) -> str:
    """The tracked eigenvalues in words (the figure's text alternative): per branch, how many lay
    above the cut at the last logged step, and their values."""
    fraction = config.get("track_fraction", 0.0)
    thresholds = branch_thresholds(config)
    lines = []
    for branch, frame in tracked.groupby("branch"):
        last = frame[frame.step == frame.step.max()].sort_values("rank")
        values = ", ".join(f"{v:.4g}" for v in last.eigenvalue)
        symbol = thresholds[branch].symbol if branch in thresholds else "threshold"
        most = int(frame.groupby("step").size().max())
        lines.append(
            f"{BRANCH_STYLE.get(branch, ('', branch))[1]}: at step {int(last.step.iloc[0])}, {len(last)} "
            f"eigenvalue(s) above {fraction:g}·{symbol}: {values} (at most {most} at any logged step)."
        )
    return " ".join(lines)


def describe_tracked_alignment(tracked_groups: pd.DataFrame) -> str:
    """The tracked alignments in words (the figure's text alternative): at each branch's last
    logged step, the group most aligned with each tracked eigenvector."""
    lines = []
    for branch, frame in tracked_groups.groupby("branch"):
        last = frame[frame.step == frame.step.max()]
        best = last.loc[last.groupby("rank").cos2.idxmax()].sort_values("rank")
        pairs = "; ".join(f"v{int(r['rank'])}: {LABELS[r['group']]} ({r['cos2']:.3g})" for _, r in best.iterrows())
        lines.append(
            f"{BRANCH_STYLE.get(branch, ('', branch))[1]}, step {int(last.step.iloc[0])}, most aligned group "
            f"per eigenvector — {pairs}."
        )
    return " ".join(lines)

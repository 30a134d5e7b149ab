"""Figures of the trade-off over time and of the regime map (see eos_core.analysis.tradeoff and .regime).

Torch-free, like plots: pages and the Story call them with tables the analysis built.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.content.plots import GROUP_COLORS, GROUP_LABELS, band
from eos_core.groups import GROUPS


def tradeoff_figure(t, title_prefix: str = "") -> go.Figure:
    """Δℓ_k(u) at every exit step u after the fork (a `tradeoff.TradeOff`): the mean over seeds with a
    ±1 standard-deviation band, the peak trade-off window shaded, hover with the seeds agreeing in sign."""
    fig = go.Figure()
    for group in GROUPS:
        frame = t.curves[t.curves.group == group].sort_values("u")
        if not len(frame):
            continue
        color = GROUP_COLORS[group]
        if t.n_seeds > 1:
            spread = (frame["mean"] - frame["std"], frame["mean"] + frame["std"])  # ±1 standard deviation
            fig.add_trace(band(frame.u, *spread, color, group, f"{GROUP_LABELS[group]} ±1 sd"))
        fig.add_trace(
            go.Scatter(
                x=frame.u,
                y=frame["mean"],
                mode="lines",
                name=GROUP_LABELS[group],
                line={"color": color},
                legendgroup=group,
                customdata=frame["agree"],
                hovertemplate=f"%{{y:+.4f}} (%{{customdata}}/{t.n_seeds} seeds agree)",
            )
        )
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    w = t.window
    if w is not None:
        fig.add_vrect(
            x0=w.u1,
            x1=w.u2,
            fillcolor="#f2c14e",
            opacity=0.25,
            line_width=0,
            annotation_text=f"peak window [{w.u1}, {w.u2}]",
            annotation_position="top left",
        )
    seeds = f"mean of {t.n_seeds} seeds, band ±1 sd" if t.n_seeds > 1 else "one seed"
    pattern = (
        f"; the paper's pattern there in {t.pattern_seeds}/{t.n_seeds} seeds"
        if w is not None
        else "; no step where one group is ahead under EoS while another is behind"
    )
    fig.update_layout(
        title=f"{title_prefix}Δℓ_k over time since the fork ({seeds}){pattern}",
        xaxis_title="exit-branch steps since the fork u = step − t*",
        yaxis_title="Δℓ_k (equal time); > 0: EoS ahead",
        template="plotly_white",
        legend={"groupclick": "togglegroup"},
        margin={"t": 60, "r": 20, "l": 60, "b": 50},
        hovermode="x unified",
    )
    return fig


def regime_figure(
    frame: pd.DataFrame, rows: str, cols: str, group: str, texts: pd.DataFrame, axis_titles: tuple[str, str]
) -> go.Figure:
    """The regime map as squares coloured by `group`'s Δℓ_k (red: EoS ahead, blue: behind), each
    cell's full text on hover; squares (not a heatmap) so a click selects a cell."""
    mine = frame[frame.group == group]
    xs, ys = sorted(mine[cols].astype(str).unique()), sorted(mine[rows].astype(str).unique())
    values = mine.value.abs().dropna()
    limit = float(values.max()) if len(values) and values.max() > 0 else 1.0
    fig = go.Figure(
        go.Scatter(
            x=mine[cols].astype(str),
            y=mine[rows].astype(str),
            mode="markers+text",
            marker_symbol="square",
            marker={
                "size": 60,
                "color": mine.value.fillna(0),
                "colorscale": "RdBu_r",
                "cmin": -limit,
                "cmax": limit,
                "colorbar": {"title": "Δℓ_k"},
                "line": {"width": 1, "color": "#888"},
            },
            text=[
                f"{v:+.3f}<br>{a:.0f}/{n}" if pd.notna(v) else "—"
                for v, a, n in zip(mine.value, mine.agree, mine.n_seeds)
            ],
            customdata=[texts.loc[r, c] for r, c in zip(mine[rows], mine[cols])],
            textfont={"color": ["white" if pd.notna(v) and abs(v) > 0.6 * limit else "#222" for v in mine.value]},
            hovertemplate="%{y} × %{x}<br>%{customdata}<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=f"{GROUP_LABELS[group]}: Δℓ_k per cell (> 0, red: EoS ahead) and seeds agreeing",
        xaxis={"title": axis_titles[1], "categoryorder": "array", "categoryarray": xs},
        yaxis={"title": axis_titles[0], "categoryorder": "array", "categoryarray": ys},
        template="plotly_white",
        height=140 + 90 * len(ys),
        margin={"t": 60, "r": 20, "l": 120, "b": 50},
    )
    return fig

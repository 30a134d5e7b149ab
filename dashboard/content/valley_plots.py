"""The Valley page's figures and their text alternatives: the loss along v1 through the current
weights, baseline beside exit branch at equal effective time, animated over the checkpoints with
Plotly frames; and the v1 × v2 surface at one checkpoint. Torch-free, no streamlit; the numbers
come from analysis.valley.

Each panel draws the slice, a dashed parabola of curvature equal to the branch's stability
threshold (2/η, or 2/(c·η) on the exit branch) through the current point with the slice's own
slope, the current weights (a star) and the last iterates where they land on the slice.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.content.plots import BRANCH_COLORS, BRANCH_STYLE
from eos_core.analysis.results import Result
from eos_core.analysis.valley import Valley, paired_checkpoints, valley_at

PANELS = ("baseline", "exit")
TRACES_PER_PANEL = 4  # slice, threshold parabola, iterates, current point: every frame has all eight
FRAME_MS = 700


def checkpoints(result: Result) -> list[tuple[Valley, Valley | None]]:
    """(baseline valley, exit valley at the same effective time or None) per baseline checkpoint."""
    return [
        (valley_at(result, "baseline", b), valley_at(result, "exit", e) if e is not None else None)
        for b, e in paired_checkpoints(result)
    ]


def _panel_traces(valley: Valley | None, colour: str, legend: bool) -> list[go.Scatter]:
    """The four traces of one panel (empty where the branch has no checkpoint there); `legend`:
    whether they are listed in the legend (the left panel's only: both panels share the symbols)."""
    if valley is None:
        return [go.Scatter(x=[], y=[], showlegend=False) for _ in range(TRACES_PER_PANEL)]
    traces = _drawn(valley, colour)
    for trace in traces:
        trace.showlegend = legend
    return traces


def _drawn(valley: Valley, colour: str) -> list[go.Scatter]:
    s, loss = valley.slice.s1.to_numpy(), valley.slice.loss.to_numpy()
    parabola = valley.loss + valley.slope * s + 0.5 * valley.threshold.value * s**2
    landed = np.interp(valley.iterates.s1, s, loss)
    lags = lag_labels(valley.iterates.s1.to_numpy(), valley.iterates.lag.to_numpy(), s[-1] - s[0])
    return [
        go.Scatter(x=s, y=loss, mode="lines", line={"color": colour, "width": 3}, name="loss along v1"),
        go.Scatter(
            x=s,
            y=parabola,
            mode="lines",
            line={"color": colour, "width": 1.5, "dash": "dash"},
            name=f"curvature {valley.threshold.symbol}",
        ),
        go.Scatter(
            x=valley.iterates.s1,
            y=landed,
            mode="markers+text",
            text=lags,
            textposition="top center",
            marker={"color": "white", "size": 10, "line": {"color": colour, "width": 2}},
            customdata=np.c_[valley.iterates.loss, valley.iterates.s2],
            hovertemplate="%{text}: s₁ = %{x:.4g}, L = %{customdata[0]:.5g}, s₂ = %{customdata[1]:.3g}<extra></extra>",
            name="previous iterates",
        ),
        go.Scatter(
            x=[0.0],
            y=[valley.loss],
            mode="markers",
            marker={"color": colour, "size": 14, "symbol": "star"},
            name=f"θ at step {valley.step}",
        ),
    ]


def lag_labels(offsets: np.ndarray, lags: np.ndarray, width: float) -> list[str]:
    """Each iterate's label, "t−1" and so on; iterates that land within 4% of the slice's width of
    each other share one label ("t−1, t−3"), since at EoS every other iterate lands in the same place."""
    labels = [""] * len(offsets)
    for i, (offset, lag) in enumerate(zip(offsets, lags, strict=True)):
        near = next((j for j in range(i) if labels[j] and abs(offsets[j] - offset) <= 0.04 * width), None)
        if near is None:
            labels[i] = f"t−{int(lag)}"
        else:
            labels[near] += f", t−{int(lag)}"
    return labels


def _frame_data(pair) -> list[go.Scatter]:
    return [
        trace
        for valley, branch in zip(pair, PANELS)
        for trace in _panel_traces(valley, BRANCH_COLORS[branch], branch == PANELS[0])
    ]


def _y_range(pair) -> list[float]:
    """The frame's shared y-range: both slices in full, so their depths compare at a glance."""
    values = np.concatenate([v.slice.loss.to_numpy() for v in pair if v is not None])
    low, high = float(values.min()), float(values.max())
    pad = 0.06 * (high - low or abs(high) or 1.0)
    return [low - pad, high + pad]


def _frame_layout(pair) -> dict:
    y = _y_range(pair)
    titles = [_panel_title(v, b) for v, b in zip(pair, PANELS)]
    x = [[float(v.slice.s1.min()), float(v.slice.s1.max())] if v is not None else [-1.0, 1.0] for v in pair]
    return {
        "xaxis": {"range": x[0]},
        "xaxis2": {"range": x[1]},
        "yaxis": {"range": y},
        "yaxis2": {"range": y},
        "annotations": [{**a, "text": t} for a, t in zip(_ANNOTATIONS, titles)],
    }


_ANNOTATIONS = [
    {"xref": "x domain", "yref": "paper", "x": 0.5, "y": 1.08, "showarrow": False, "font": {"size": 14}},
    {"xref": "x2 domain", "yref": "paper", "x": 0.5, "y": 1.08, "showarrow": False, "font": {"size": 14}},
]


def _panel_title(valley: Valley | None, branch: str) -> str:
    name = BRANCH_STYLE[branch][1]
    if valley is None:
        return f"{name}: no slice at this effective time"
    return f"{name} · step {valley.step} · t_eff {valley.t_eff:.3g}"


def _label(pair, t_star) -> str:
    step = pair[0].step
    return f"{step} (t*)" if step == t_star else str(step)


def valley_figure(pairs: list, start: int, t_star: int | None) -> go.Figure:
    """Baseline beside exit branch at each paired checkpoint, animated with Plotly frames (Play and
    a slider); `start` is the index of the pair shown first."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06)
    for i, trace in enumerate(_frame_data(pairs[start])):
        fig.add_trace(trace, row=1, col=1 + i // TRACES_PER_PANEL)
    fig.frames = [
        go.Frame(data=_frame_data(pair), layout=_frame_layout(pair), name=_label(pair, t_star)) for pair in pairs
    ]
    fig.update_layout(
        template="plotly_white",
        height=520,
        margin={"t": 120, "b": 130, "l": 60, "r": 20},
        legend={"orientation": "h", "y": 1.22, "x": 0},
        updatemenus=[_play_buttons()],
        sliders=[_slider(pairs, start, t_star)],
        **_frame_layout(pairs[start]),
    )
    fig.update_xaxes(title_text="offset s along v1 (θ + s·v1)")
    fig.update_yaxes(title_text="full-batch loss", col=1)
    return fig


def _play_buttons() -> dict:
    play = {"frame": {"duration": FRAME_MS, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    pause = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}
    return {
        "type": "buttons",
        "direction": "left",
        "x": 0.0,
        "y": -0.2,
        "xanchor": "left",
        "buttons": [
            {"label": "▶ Play", "method": "animate", "args": [None, play]},
            {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]},
        ],
    }


def _slider(pairs: list, start: int, t_star) -> dict:
    steps = [
        {
            "label": _label(pair, t_star),
            "method": "animate",
            "args": [[_label(pair, t_star)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
        }
        for pair in pairs
    ]
    return {"active": start, "steps": steps, "x": 0.18, "y": -0.14, "len": 0.82, "currentvalue": {"prefix": "step "}}


def describe_pair(pair, t_star) -> str:
    """The figure's text alternative at one checkpoint: each panel's numbers in words."""
    sentences = [_describe(v) for v in pair if v is not None]
    if pair[1] is None:
        before = t_star is None or pair[0].step < t_star
        sentences.append(
            "The exit branch has no slice at this effective time ("
            + ("it starts at t*)." if before else "it does not reach this effective time within its steps).")
        )
    return " ".join(sentences)


def _describe(valley: Valley) -> str:
    name = BRANCH_STYLE[valley.branch][1]
    ratio = valley.curvature / valley.threshold.value
    s = valley.slice.s1
    lands = ", ".join(f"t−{int(r.lag)} at s = {r.s1:.3g} (loss {r.loss:.4g})" for r in valley.iterates.itertuples())
    sides = _sides(valley.iterates.s1.to_numpy())
    return (
        f"{name}, step {valley.step} (t_eff {valley.t_eff:.3g}): loss {valley.loss:.4g}; along v1 from "
        f"s = {s.min():.3g} to {s.max():.3g} the loss runs from {valley.slice.loss.iloc[0]:.4g} to "
        f"{valley.slice.loss.iloc[-1]:.4g} with minimum {valley.slice.loss.min():.4g}; its curvature at the "
        f"current weights is {valley.curvature:.4g} = {ratio:.2f} × {valley.threshold.symbol} "
        f"({valley.threshold.value:.4g}). "
        + (f"Previous iterates: {lands}{sides}." if lands else "No previous iterates (the branch starts here).")
    )


def _sides(offsets: np.ndarray) -> str:
    """Whether the iterates alternate sides of the current weights along v1 (the EoS bounce)."""
    if len(offsets) < 2:
        return ""
    signs = np.sign(offsets)
    alternate = bool(np.all(signs[1:] * signs[:-1] < 0))
    return "; they alternate sides of the current point (a bounce)" if alternate else "; all on one side"


def surface_figure(pair) -> go.Figure:
    """The loss over v1 × v2 around the current weights, baseline beside exit, iterates marked."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[_panel_title(v, b) for v, b in zip(pair, PANELS)])
    for col, (valley, branch) in enumerate(zip(pair, PANELS), start=1):
        if valley is None or not len(valley.surface):
            continue
        grid = valley.surface.pivot(index="s2", columns="s1", values="loss")
        fig.add_trace(
            go.Contour(
                x=grid.columns,
                y=grid.index,
                z=grid.to_numpy(),
                colorscale="Viridis",
                showscale=col == 1,
                contours={"coloring": "heatmap"},
                colorbar={"title": "loss", "x": -0.12},
                name=f"{branch} surface",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[0.0, *valley.iterates.s1],
                y=[0.0, *valley.iterates.s2],
                mode="markers+text",
                text=["θ_t", *(f"t−{int(j)}" for j in valley.iterates.lag)],
                textposition="top center",
                marker={"color": "white", "size": 9, "line": {"color": BRANCH_COLORS[branch], "width": 2}},
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    fig.update_layout(template="plotly_white", height=460, margin={"t": 70, "l": 90, "r": 20})
    fig.update_xaxes(title_text="s₁ along v1")
    fig.update_yaxes(title_text="s₂ along v2", col=1)
    return fig


def describe_surface(pair) -> str:
    """The surface's text alternative: per panel its range, its lowest grid point and the curvatures."""
    parts = []
    for valley in pair:
        if valley is None or not len(valley.surface):
            continue
        low = valley.surface.loc[valley.surface.loss.idxmin()]
        parts.append(
            f"{BRANCH_STYLE[valley.branch][1]}, step {valley.step}: over s₁ in ±{valley.surface.s1.max():.3g} "
            f"and s₂ in ±{valley.surface.s2.max():.3g} the loss spans {valley.surface.loss.min():.4g} to "
            f"{valley.surface.loss.max():.4g}; lowest at s₁ = {low.s1:.3g}, s₂ = {low.s2:.3g}."
        )
    return " ".join(parts) or "No surface is stored at this checkpoint."

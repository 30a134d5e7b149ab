"""Plotly figures for the dashboard, built from `series.Series` and results. Torch-free.

One colour per group on every figure; the EoS branch is solid and the exit branch dashed;
threshold lines at 2/η and 2/(c·η); t* and t** marked as vertical lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.content.series import Series
from eos_core.config import branch_thresholds
from eos_core.datasets import REGISTRY
from eos_core.groups import COLOURS, GROUPS, LABELS
from eos_core.quantities import axis_labels

# The groups' colours and labels, plus the examples no group tracks (natural-outliers scatter).
GROUP_COLORS = {**COLOURS, "": "#b0b0b0"}
GROUP_LABELS = {**LABELS, "": "untracked"}
BRANCH_STYLE = {"baseline": ("solid", "EoS (η)"), "exit": ("dash", "exit (c·η)")}
BRANCH_COLORS = {"baseline": "#1b3a5c", "exit": "#e07b00"}
# Reference flows (science.flows), drawn where a figure compares them with the EoS branch; a flow
# without an entry here is drawn dash-dotted under its branch name.
REFERENCE_STYLE = {"gradient_flow": ("dot", "gradient flow")}
REFERENCE_COLORS = {"gradient_flow": "#2a9d8f"}


def _reference_style(branch: str) -> tuple[str, str]:
    return REFERENCE_STYLE.get(branch, ("dashdot", branch.replace("_", " ")))


def _references(table: pd.DataFrame) -> list[str]:
    """The reference flows' branches present in a series table, in a stable order."""
    return sorted(set(table.branch) - set(BRANCH_STYLE)) if len(table) else []


QUANTITY_LABELS = axis_labels()


def x_title(s: Series, x: str) -> str:
    if x == "step":
        return "steps since the fork" if s.aligned else "step"
    return "effective time since the fork Σ η_s" if s.aligned else "effective time t_eff = Σ η_s"


def _xcol(x: str) -> str:
    return "x_step" if x == "step" else "x_time"


def band(x: pd.Series, low: pd.Series, high: pd.Series, color: str, legendgroup: str, name: str) -> go.Scatter:
    """A translucent band between `low` and `high` along `x`, grouped with its curve in the legend."""
    return go.Scatter(
        x=pd.concat([x, x[::-1]]),
        y=pd.concat([high, low[::-1]]),
        fill="toself",
        fillcolor=color,
        opacity=0.15,
        line={"width": 0},
        hoverinfo="skip",
        showlegend=False,
        legendgroup=legendgroup,
        name=name,
    )


def _line(
    fig,
    frame: pd.DataFrame,
    x: str,
    name: str,
    color: str,
    dash: str,
    legendgroup: str,
    showlegend: bool = True,
    row=None,
    col=None,
) -> None:
    frame = frame.sort_values(_xcol(x))
    sparse = _measured_between_gaps(frame["median"])
    if sparse:  # a quantity kept at fewer steps (mechanism_every): its own points, marked, nothing in between
        frame = frame[frame["median"].notna()]
    xs = frame[_xcol(x)]
    kwargs = {} if row is None else {"row": row, "col": col}
    if frame["q25"].notna().any():  # interquartile band across seeds
        fig.add_trace(band(xs, frame.q25, frame.q75, color, legendgroup, f"{name} IQR"), **kwargs)
    if "raw" in frame and frame["raw"].notna().any():  # smoothed: the raw curve faint behind it
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=frame["raw"],
                mode="lines",
                name=f"{name} (raw)",
                opacity=0.25,
                line={"color": color, "dash": dash, "width": 1},
                legendgroup=legendgroup,
                showlegend=False,
                hoverinfo="skip",
            ),
            **kwargs,
        )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=frame["median"],
            mode="lines+markers" if sparse else "lines",
            name=name,
            line={"color": color, "dash": dash},
            legendgroup=legendgroup,
            showlegend=showlegend,
        ),
        **kwargs,
    )


def _measured_between_gaps(values: pd.Series) -> bool:
    """True when NaNs (steps where the quantity was not measured) sit between measured values."""
    measured = np.flatnonzero(values.notna().to_numpy())
    return len(measured) > 1 and measured[-1] - measured[0] + 1 > len(measured)


def _markers(fig, s: Series, x: str) -> None:
    t_star = s.t_star if x == "step" else s.t_star_time
    t_ss = s.t_star_star if x == "step" else s.t_star_star_time
    for value, label in ((t_star, "t*"), (t_ss, "t**")):
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            fig.add_vline(
                x=value,
                line={"color": "#555", "dash": "dot", "width": 1},
                annotation_text=label,
                annotation_position="top",
            )


CLOCK_COLOR = "#c2185b"  # the clock's line: a colour no branch, group or threshold uses


def add_clock(fig: go.Figure, positions: list[tuple[float, str]]) -> go.Figure:
    """The clock's vertical lines (x, label) on every x axis of `fig` (subplots included), the first
    solid, any other (the exit branch's step at the same time) dashed; `fig` is changed and returned.
    Shapes added directly, not by `add_vline(row="all", col="all")`, which walks the subplot grid on
    every call: Play adds them once a frame (scripts/bench_ui.py clock times a frame)."""
    for n, (x, text) in enumerate(positions):
        for xref, yref in _axis_pairs(fig):
            dash, side = ("solid", "left") if n == 0 else ("dash", "right")
            fig.add_shape(
                type="line",
                x0=x,
                x1=x,
                xref=xref,
                y0=0,
                y1=1,
                yref=f"{yref} domain",
                line={"color": CLOCK_COLOR, "width": 2, "dash": dash},
            )
            fig.add_annotation(
                x=x,
                y=0,
                xref=xref,
                yref=f"{yref} domain",
                text=text,
                showarrow=False,
                xanchor=side,
                yanchor="bottom",
                font={"color": CLOCK_COLOR},
            )
    return fig


def _axis_pairs(fig: go.Figure) -> list[tuple[str, str]]:
    """(x axis, the y axis it is anchored to) of every subplot, as shape references ("x2", "y2")."""
    names = [k for k in fig.layout if k.startswith("xaxis")] or ["xaxis"]
    return [("x" + name[5:], fig.layout[name].anchor or "y" + name[5:]) for name in names]


def _layout(fig, s: Series, x: str, y: str, log_y: bool, title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x_title(s, x),
        yaxis_title=y,
        template="plotly_white",
        legend={"groupclick": "togglegroup"},
        margin={"t": 60, "r": 20, "l": 60, "b": 50},
        hovermode="x unified",
    )  # every curve's name and value at the hovered x
    fig.update_yaxes(type="log" if log_y else "linear")
    if log_y:
        _log_axis(fig)
    return fig


def _log_axis(fig: go.Figure) -> None:
    """Plotly places annotations on a log axis in log10 units (shapes stay in data units): a label at
    y = 2/η = 200 would sit at 10²⁰⁰ and stretch the axis to it. Ticks as powers of ten, not SI
    prefixes ("100µ")."""
    for note in fig.layout.annotations:
        if note.yref in (None, "y") and note.y is not None:
            note.y = float(np.log10(note.y)) if note.y > 0 else None
    fig.update_yaxes(exponentformat="power")


def sharpness_figure(
    s: Series,
    x: str = "step",
    log_y: bool = False,
    show_lambda2: bool = False,
    show_oscillation: bool = False,
    exit_threshold: bool = True,
) -> go.Figure:
    fig = go.Figure()
    quantities = ["lambda1"] + (["lambda2"] if show_lambda2 else [])
    for branch, (dash, label) in BRANCH_STYLE.items():
        for q in quantities:
            frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == q)]
            if len(frame):
                _line(
                    fig,
                    frame,
                    x,
                    f"{QUANTITY_LABELS[q]} {label}",
                    BRANCH_COLORS[branch],
                    dash if q == "lambda1" else "dot",
                    branch,
                )
    thresholds = branch_thresholds(s.config)
    for branch, threshold in thresholds.items():
        if branch == "exit" and not exit_threshold:
            continue
        fig.add_hline(
            y=threshold.value, line={"color": BRANCH_COLORS[branch], "width": 1}, annotation_text=threshold.symbol
        )
    if show_oscillation:
        scale = thresholds["baseline"]
        for branch, (dash, label) in BRANCH_STYLE.items():
            frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == "grad_v1_fraction")]
            if len(frame):
                frame = frame.assign(
                    median=frame["median"] * scale.value, q25=frame.q25 * scale.value, q75=frame.q75 * scale.value
                )
                _line(fig, frame, x, f"oscillation signal × {scale.symbol} {label}", "#999999", dash, "oscillation")
    _markers(fig, s, x)
    return _layout(fig, s, x, "sharpness", log_y, "Sharpness λ1 against the stability thresholds")


def live_sharpness_figure(s: Series, steps: int) -> go.Figure:
    """A running job's λ1 against 2/η, t* marked as soon as it is known. The axes hold still as the
    curve grows: x spans the whole run, y starts at 0 and ends just above the larger of 2/η and
    λ1 so far; 2/(c·η) appears only once the exit branch runs (before, it would squash the curve)."""
    exit_running = bool((s.trace.branch == "exit").any())
    fig = sharpness_figure(s, exit_threshold=exit_running)
    if not exit_running:
        seen = s.trace[s.trace.quantity == "lambda1"]["median"].max()
        top = max(branch_thresholds(s.config)["baseline"].value, 0.0 if np.isnan(seen) else seen)
        fig.update_yaxes(range=[0, 1.15 * top])
    fig.update_layout(title="Sharpness λ1 so far")
    return fig.update_xaxes(range=[0, steps])


def group_figure(s: Series, quantity: str, x: str = "step", log_y: bool = False, title: str = "") -> go.Figure:
    """One quantity per group and branch (EoS solid, exit dashed, a reference flow dotted)."""
    fig = go.Figure()
    table = s.groups[s.groups.quantity == quantity]
    curves = dict(tuple(table.groupby(["group", "branch"])))
    styles = {**BRANCH_STYLE, **{b: _reference_style(b) for b in _references(table)}}
    for group in GROUPS:
        for branch, (dash, label) in styles.items():
            frame = curves.get((group, branch))
            if frame is not None and frame["median"].notna().any():  # a branch may not store it (distances)
                _line(fig, frame, x, f"{GROUP_LABELS[group]} · {label}", GROUP_COLORS[group], dash, group)
    _markers(fig, s, x)
    return _layout(
        fig, s, x, QUANTITY_LABELS.get(quantity, quantity), log_y, title or QUANTITY_LABELS.get(quantity, quantity)
    )


CENTRAL_FLOW = "central_flow"  # the branch science.central_flow writes


def has_central_flow(s: Series) -> bool:
    return bool(((s.groups.branch == CENTRAL_FLOW) & (s.groups.quantity == "predicted_loss")).any())


def central_flow_figure(s: Series, x: str = "step", log_y: bool = False) -> go.Figure:
    """Per group: the EoS branch's measured ℓ̄_k (solid) and the central flow's predicted ℓ̂_k (dotted)."""
    fig = go.Figure()
    measured = s.groups[(s.groups.branch == "baseline") & (s.groups.quantity == "loss_avg2")]
    predicted = s.groups[(s.groups.branch == CENTRAL_FLOW) & (s.groups.quantity == "predicted_loss")]
    for group in GROUPS:
        for frame, dash, label in ((measured, "solid", "measured ℓ̄_k"), (predicted, "dot", "central flow ℓ̂_k")):
            mine = frame[frame.group == group]
            if len(mine):
                _line(fig, mine, x, f"{GROUP_LABELS[group]} · {label}", GROUP_COLORS[group], dash, group)
    _markers(fig, s, x)
    return _layout(
        fig,
        s,
        x,
        "ℓ̄_k (two-step average)",
        log_y,
        "The central flow's predicted ℓ̂_k (dotted) against the EoS branch's ℓ̄_k",
    )


def delta_figure(s: Series, x: str = "step") -> go.Figure:
    """Δℓ_k of the exit branch (solid) and of any reference flow (its own dash) against EoS."""
    fig = go.Figure()
    delta = s.delta[s.delta.quantity == "delta_loss"]
    references = _references(delta)
    for group in GROUPS:
        for branch in ["exit", *references]:
            frame = delta[(delta.group == group) & (delta.branch == branch)]
            dash, label = ("solid", "exit") if branch == "exit" else _reference_style(branch)
            if len(frame):
                name = GROUP_LABELS[group] + (f" · {label} − EoS" if references else "")
                _line(fig, frame, x, name, GROUP_COLORS[group], dash, group)
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    _markers(fig, s, x)
    return _layout(
        fig,
        s,
        x,
        "Δℓ_k (equal time); > 0: EoS ahead",
        False,
        "Δℓ_k (equal time): the branches at the same effective time — positive means EoS is ahead",
    )


DISTANCES = {"branch_distance": "‖θ − θ_EoS‖", "output_rms": "RMS ‖f − f_EoS‖"}


def distance_figure(s: Series, x: str = "step") -> go.Figure:
    """How far the exit branch (solid) and any reference flow (dotted) are from the EoS branch at
    equal effective time: in weights (left) and in the network's outputs (right)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=list(DISTANCES.values()))
    table = s.trace[s.trace.quantity.isin(list(DISTANCES))]
    for branch in ["exit", *_references(table)]:
        dash, label = ("dash", "exit (c·η)") if branch == "exit" else _reference_style(branch)
        color = BRANCH_COLORS.get(branch) or REFERENCE_COLORS.get(branch, "#777777")
        for col, quantity in enumerate(DISTANCES, start=1):
            frame = table[(table.branch == branch) & (table.quantity == quantity)]
            if len(frame):
                _line(fig, frame, x, label, color, dash, branch, showlegend=col == 1, row=1, col=col)
    _markers(fig, s, x)
    fig = _layout(fig, s, x, "distance", False, "How far each branch is from the EoS branch at equal effective time")
    fig.update_xaxes(title_text=x_title(s, x))
    return fig


def rho_figure(s: Series, x: str = "step") -> go.Figure:
    fig = go.Figure()
    for branch, (dash, label) in BRANCH_STYLE.items():
        frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == "spearman_rho")]
        if len(frame):
            _line(fig, frame, x, f"ρ {label}", BRANCH_COLORS[branch], dash, branch)
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    _markers(fig, s, x)
    return _layout(fig, s, x, "Spearman ρ", False, "ρ(centroid distance, per-example cos²) over training")


def scatter_figure(
    examples: pd.DataFrame,
    cos2: np.ndarray,
    step: int,
    rho: float | None = None,
    show_prototypes: bool = True,
    trend_bins: int = 0,
    log_x: bool = False,
) -> go.Figure:
    """Every training example: centroid distance against cos²(∇ℓ_i, v1), prototypes by group (WebGL).
    `show_prototypes=False` leaves the natural (untracked) points, so they fill the axes;
    `trend_bins` adds the median cos² in that many equal-count distance bins."""
    fig = go.Figure()
    distance = examples.centroid_distance.to_numpy()
    for group in ("",) + (GROUPS if show_prototypes else ()):
        mask = (examples.group == group).to_numpy()
        if mask.any():
            fig.add_trace(
                go.Scattergl(
                    x=distance[mask],
                    y=cos2[mask],
                    mode="markers",
                    name=GROUP_LABELS[group],
                    marker={
                        "color": GROUP_COLORS[group],
                        "size": 4 if group == "" else 7,
                        "opacity": 0.45 if group == "" else 0.9,
                    },
                )
            )
    if trend_bins:
        shown = np.ones(len(distance), bool) if show_prototypes else (examples.group == "").to_numpy()
        x, y = binned_median(distance[shown], np.asarray(cos2)[shown], trend_bins)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers",
                name=f"median in {trend_bins} bins",
                line={"color": "#222", "width": 2.5},
            )
        )
    title = f"Per-example alignment at step {step}" + (f" — Spearman ρ = {rho:.3f}" if rho is not None else "")
    fig.update_layout(
        title=title,
        xaxis_title="distance to class centroid ‖x_i − μ_c‖",
        yaxis_title="cos²(∇ℓ_i, v1)",
        template="plotly_white",
    )
    if log_x:
        fig.update_xaxes(type="log", exponentformat="power")
    return fig


def binned_median(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Median x and median y in `bins` bins holding equal numbers of points (by x)."""
    order = np.argsort(x)
    chunks = [c for c in np.array_split(order, min(bins, len(x))) if len(c)]
    return np.array([np.median(x[c]) for c in chunks]), np.array([np.median(y[c]) for c in chunks])


def centroid_distance_figure(examples: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for group in ("",) + GROUPS:
        values = examples.centroid_distance[examples.group == group]
        if len(values):
            fig.add_trace(
                go.Box(y=values, name=GROUP_LABELS[group], marker_color=GROUP_COLORS[group], boxpoints="outliers")
            )
    fig.update_layout(
        title="Distance to the class centroid by group",
        yaxis_title="‖x_i − μ_c‖",
        template="plotly_white",
        showlegend=False,
    )
    return fig


RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")  # Compare: colour = run (Okabe–Ito)
MAX_COMPARED = len(RUN_COLORS)


def compare_figure(
    runs: list[Series], names: list[str], quantity: str, group: str | None, x: str = "step", log_y: bool = False
) -> go.Figure:
    """One quantity for up to six runs on shared axes: colour = run, dash = branch (EoS solid, exit
    dashed), each run's t* a dotted vertical line in its colour."""
    fig = go.Figure()
    for s, name, color in zip(runs, names, RUN_COLORS):
        table = s.delta if quantity == "delta_loss" else s.trace if group is None else s.groups
        if group is not None:
            table = table[table.group == group]
        for branch, (dash, branch_label) in BRANCH_STYLE.items():
            frame = table[(table.branch == branch) & (table.quantity == quantity)]
            if len(frame):
                _line(fig, frame, x, f"{name} · {branch_label}", color, dash, name)
        t_star = s.t_star if x == "step" else s.t_star_time
        if t_star is not None:
            fig.add_vline(x=t_star, line={"color": color, "dash": "dot", "width": 1.5})
    fig.add_trace(
        go.Scatter(
            x=[None], y=[None], mode="lines", name="t* of each run (dotted)", line={"color": "#555", "dash": "dot"}
        )
    )
    what = QUANTITY_LABELS.get(quantity, quantity) + (f" — {GROUP_LABELS[group]}" if group else "")
    return _layout(fig, runs[0], x, QUANTITY_LABELS.get(quantity, quantity), log_y, f"{what}: {len(runs)} runs")


OUT_OF_RANGE = (1.0, 0.0, 1.0)  # magenta


def display_range(dataset: str) -> tuple[float, float]:
    """The value range a dataset's images are shown in (its spec's: real images' pixels are [0, 1])."""
    return REGISTRY[dataset].display_range if dataset in REGISTRY else (0.0, 1.0)


def display_image(
    pixels: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0), mark: bool = True
) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 for display, and the fraction of values outside `value_range`. With `mark`,
    out-of-range pixels are painted magenta rather than silently clipped, so displaced
    input-outliers show as they are; without it they are clipped to the range's ends."""
    low, high = value_range
    image = np.transpose(pixels, (1, 2, 0))
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    outside = (image < low) | (image > high)
    shown = np.clip((image - low) / (high - low), 0, 1)
    if mark:
        shown[outside.any(axis=2)] = OUT_OF_RANGE
    return (shown * 255).round().astype(np.uint8), float(outside.mean())


def mechanism_scatter(groups: pd.DataFrame) -> go.Figure:
    """Q_k² against C_k = (∇ℓ_k·v1)² for every group and logged step, log-log (Fig. 22)."""
    fig = go.Figure()
    for group in GROUPS:
        g = groups[groups.group == group]
        fig.add_trace(
            go.Scattergl(
                x=g.curvature_influence,
                y=g.Q**2,
                mode="markers",
                name=GROUP_LABELS[group],
                marker={"color": GROUP_COLORS[group], "size": 6, "opacity": 0.8},
            )
        )
    fig.update_layout(
        title="Single-mode proxy: Q_k² against (∇ℓ_k·v1)²",
        template="plotly_white",
        xaxis_title="C_k = (∇ℓ_k·v1)²",
        yaxis_title="Q_k² = ⟨∇ℓ_k, ∇S⟩²",
    )
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


def decomposition_figure(table: pd.DataFrame) -> go.Figure:
    """Proposition 2's prediction (dotted) against the measured Δℓ_k (same step) (solid)."""
    fig = go.Figure()
    for group in GROUPS:
        g = table[table.group == group]
        color = GROUP_COLORS[group]
        fig.add_trace(
            go.Scatter(
                x=g.tau, y=g.measured, name=f"{GROUP_LABELS[group]} measured", line={"color": color}, legendgroup=group
            )
        )
        fig.add_trace(
            go.Scatter(
                x=g.tau,
                y=g.predicted,
                name=f"{GROUP_LABELS[group]} predicted",
                line={"color": color, "dash": "dot"},
                legendgroup=group,
            )
        )
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    fig.update_layout(
        title="Branch decomposition: (1 − c)R_k·τ + (a_S/b_S)Q_k·τ against the measured Δℓ_k (same step)",
        xaxis_title="τ = η(t − t*)",
        yaxis_title="Δℓ_k (same step), two-step averaged",
        template="plotly_white",
    )
    return fig


def trace_figure(s: Series, quantity: str, x: str = "step", title: str = "") -> go.Figure:
    """One trace quantity for both branches (EoS solid, exit dashed)."""
    fig = go.Figure()
    for branch, (dash, label) in BRANCH_STYLE.items():
        frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == quantity)]
        if len(frame):
            _line(fig, frame, x, label, BRANCH_COLORS[branch], dash, branch)
    _markers(fig, s, x)
    return _layout(fig, s, x, QUANTITY_LABELS.get(quantity, quantity), False, title or quantity)


def ood_figure(trace: pd.DataFrame, step: int) -> go.Figure:
    """OOD loss against α_test for both branches at one logged step (§5.2, Fig. 10)."""
    columns = sorted((c for c in trace.columns if c.startswith("ood_loss_a")), key=lambda c: float(c[10:]))
    fig = go.Figure()
    for branch, (dash, label) in BRANCH_STYLE.items():
        row = trace[(trace.branch == branch) & (trace.step == step)]
        if len(row):
            fig.add_trace(
                go.Scatter(
                    x=[float(c[10:]) for c in columns],
                    y=row[columns].iloc[0].to_numpy(),
                    mode="lines+markers",
                    name=label,
                    line={"color": BRANCH_COLORS[branch], "dash": dash},
                )
            )
    fig.update_layout(
        title=f"Loss on test input-outliers at step {step}",
        xaxis_title="α_test",
        yaxis_title="loss",
        template="plotly_white",
    )
    return fig


# Projector mode: legible from the back of a room. One function restyles any figure built above.
PROJECTOR = {"tick": 18, "axis_title": 20, "title": 24, "legend": 18, "annotation": 18, "line": 3.5, "marker": 10}


def projector_style(fig: go.Figure) -> go.Figure:
    """Large fonts, thick lines and markers on `fig` (in place; returned for chaining). Bands drawn
    with zero-width outlines stay outline-free."""
    p = PROJECTOR
    # the legend goes below the plot, so a half-width figure keeps its plotting area
    fig.update_layout(
        font={"size": p["tick"]},
        title_font_size=p["title"],
        legend_font_size=p["legend"],
        hoverlabel_font_size=p["legend"],
        margin={"t": 90, "r": 30, "l": 90, "b": 80},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
        height=max(fig.layout.height or 0, 620),
    )
    fig.update_xaxes(tickfont_size=p["tick"], title_font_size=p["axis_title"])
    fig.update_yaxes(tickfont_size=p["tick"], title_font_size=p["axis_title"])
    fig.update_annotations(font_size=p["annotation"])
    fig.update_shapes(line_width=p["line"])
    for trace in fig.data:
        line = getattr(trace, "line", None)
        if line is not None and line.width != 0:
            trace.line.width = max(p["line"], line.width or 0)
        marker = getattr(trace, "marker", None)
        if marker is not None and "size" in marker and (marker.size is None or isinstance(marker.size, (int, float))):
            marker.size = max(p["marker"], marker.size or 0)
    return fig


EVIDENCE_MEASURES = {
    "influence_share_before": "(∇ℓ_k·v1)² before t*",
    "influence_share_eos": "(∇ℓ_k·v1)² from t*",
    "oscillation_share": "loss spikes Σ|ℓ_k − ℓ̄_k| after t*",
}


def evidence_figure(evidence: pd.DataFrame) -> go.Figure:
    """Each group's share of the curvature influence before and after t* (who dominates v1) and of the
    EoS oscillation's loss spikes after t* (who takes them), from `mechanism.group_evidence`."""
    fig = go.Figure()
    measures = [c for c in EVIDENCE_MEASURES if c in evidence.columns]
    for group in GROUPS:
        fig.add_trace(
            go.Bar(
                x=[EVIDENCE_MEASURES[c] for c in measures],
                y=evidence.loc[group, measures].to_numpy(),
                name=GROUP_LABELS[group],
                marker_color=GROUP_COLORS[group],
            )
        )
    fig.update_layout(
        title="Who dominates v1 and who takes the EoS loss spikes (EoS branch)",
        barmode="group",
        yaxis_title="share across the four groups",
        template="plotly_white",
    )
    fig.update_yaxes(range=[0, 1])
    return fig

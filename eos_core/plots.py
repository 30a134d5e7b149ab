"""Plotly figures for the dashboard, built from `views.Series` and results. Torch-free.

One colour per group on every figure; the EoS branch is solid and the exit branch dashed;
threshold lines at 2/η and 2/(c·η); t* and t** marked as vertical lines.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .config import GROUPS, branch_thresholds
from .views import Series

GROUP_COLORS = {"inlier": "#1f77b4", "boundary": "#2ca02c", "input_outlier": "#d62728",
                "output_outlier": "#9467bd", "": "#b0b0b0"}
GROUP_LABELS = {"inlier": "inliers", "boundary": "boundary points", "input_outlier": "input-outliers",
                "output_outlier": "output-outliers", "": "untracked"}
BRANCH_STYLE = {"baseline": ("solid", "EoS (η)"), "exit": ("dash", "exit (c·η)")}
BRANCH_COLORS = {"baseline": "#1b3a5c", "exit": "#e07b00"}
QUANTITY_LABELS = {"lambda1": "λ1", "lambda2": "λ2", "grad_v1_fraction": "|∇L·v1| / ‖∇L‖",
                   "spearman_rho": "Spearman ρ", "loss": "loss", "loss_avg2": "ℓ̄ (two-step average)",
                   "cos2": "cos²θ_k", "curvature_influence": "(∇ℓ_k·v1)²", "Q": "Q_k = ⟨∇ℓ_k, ∇S⟩",
                   "R": "R_k = ⟨∇ℓ_k, ∇L⟩", "delta_loss": "Δℓ_k = ℓ_k(exit) − ℓ_k(EoS)",
                   "pgd_accuracy": "PGD accuracy (ε = 0.03)", "boundary_accuracy": "clean accuracy"}


def x_title(s: Series, x: str) -> str:
    if x == "step":
        return "steps since the fork" if s.aligned else "step"
    return "effective time since the fork Σ η_s" if s.aligned else "effective time t_eff = Σ η_s"


def _xcol(x: str) -> str:
    return "x_step" if x == "step" else "x_time"


def _line(fig, frame: pd.DataFrame, x: str, name: str, color: str, dash: str, legendgroup: str,
          showlegend: bool = True, row=None, col=None) -> None:
    frame = frame.sort_values(_xcol(x))
    xs = frame[_xcol(x)]
    kwargs = {} if row is None else {"row": row, "col": col}
    if frame["q25"].notna().any():   # interquartile band across seeds
        fig.add_trace(go.Scatter(x=pd.concat([xs, xs[::-1]]), y=pd.concat([frame.q75, frame.q25[::-1]]),
                                 fill="toself", fillcolor=color, opacity=0.15, line={"width": 0},
                                 hoverinfo="skip", showlegend=False, legendgroup=legendgroup,
                                 name=f"{name} IQR"), **kwargs)
    fig.add_trace(go.Scatter(x=xs, y=frame["median"], mode="lines", name=name,
                             line={"color": color, "dash": dash}, legendgroup=legendgroup,
                             showlegend=showlegend), **kwargs)


def _markers(fig, s: Series, x: str) -> None:
    t_star = s.t_star if x == "step" else s.t_star_time
    t_ss = s.t_star_star if x == "step" else s.t_star_star_time
    for value, label in ((t_star, "t*"), (t_ss, "t**")):
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            fig.add_vline(x=value, line={"color": "#555", "dash": "dot", "width": 1},
                          annotation_text=label, annotation_position="top")


def _layout(fig, s: Series, x: str, y: str, log_y: bool, title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x_title(s, x), yaxis_title=y, template="plotly_white",
                      legend={"groupclick": "togglegroup"}, margin={"t": 60, "r": 20, "l": 60, "b": 50})
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig


def sharpness_figure(s: Series, x: str = "step", log_y: bool = False, show_lambda2: bool = False,
                     show_oscillation: bool = False) -> go.Figure:
    fig = go.Figure()
    quantities = ["lambda1"] + (["lambda2"] if show_lambda2 else [])
    for branch, (dash, label) in BRANCH_STYLE.items():
        for q in quantities:
            frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == q)]
            if len(frame):
                _line(fig, frame, x, f"{QUANTITY_LABELS[q]} {label}", BRANCH_COLORS[branch],
                      dash if q == "lambda1" else "dot", branch)
    thresholds = branch_thresholds(s.config)
    for branch, threshold in thresholds.items():
        fig.add_hline(y=threshold.value, line={"color": BRANCH_COLORS[branch], "width": 1},
                      annotation_text=threshold.symbol)
    if show_oscillation:
        scale = thresholds["baseline"]
        for branch, (dash, label) in BRANCH_STYLE.items():
            frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == "grad_v1_fraction")]
            if len(frame):
                frame = frame.assign(median=frame["median"] * scale.value, q25=frame.q25 * scale.value,
                                     q75=frame.q75 * scale.value)
                _line(fig, frame, x, f"oscillation signal × {scale.symbol} {label}", "#999999", dash, "oscillation")
    _markers(fig, s, x)
    return _layout(fig, s, x, "sharpness", log_y, "Sharpness λ1 against the stability thresholds")


def group_figure(s: Series, quantity: str, x: str = "step", log_y: bool = False, title: str = "") -> go.Figure:
    """One quantity per group and branch (EoS solid, exit dashed)."""
    fig = go.Figure()
    curves = dict(tuple(s.groups[s.groups.quantity == quantity].groupby(["group", "branch"])))
    for group in GROUPS:
        for branch, (dash, label) in BRANCH_STYLE.items():
            frame = curves.get((group, branch))
            if frame is not None:
                _line(fig, frame, x, f"{GROUP_LABELS[group]} · {label}", GROUP_COLORS[group], dash, group)
    _markers(fig, s, x)
    return _layout(fig, s, x, QUANTITY_LABELS.get(quantity, quantity), log_y, title or QUANTITY_LABELS.get(quantity, quantity))


def delta_figure(s: Series, x: str = "step") -> go.Figure:
    fig = go.Figure()
    for group in GROUPS:
        frame = s.delta[(s.delta.group == group) & (s.delta.quantity == "delta_loss")]
        if len(frame):
            _line(fig, frame, x, GROUP_LABELS[group], GROUP_COLORS[group], "solid", group)
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    _markers(fig, s, x)
    return _layout(fig, s, x, "Δℓ_k (> 0: EoS ahead)", False,
                   "Δℓ_k at equal effective time — positive means the EoS branch is ahead")


def rho_figure(s: Series, x: str = "step") -> go.Figure:
    fig = go.Figure()
    for branch, (dash, label) in BRANCH_STYLE.items():
        frame = s.trace[(s.trace.branch == branch) & (s.trace.quantity == "spearman_rho")]
        if len(frame):
            _line(fig, frame, x, f"ρ {label}", BRANCH_COLORS[branch], dash, branch)
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    _markers(fig, s, x)
    return _layout(fig, s, x, "Spearman ρ", False, "ρ(centroid distance, per-example cos²) over training")


def scatter_figure(examples: pd.DataFrame, cos2: np.ndarray, step: int, rho: float | None = None) -> go.Figure:
    """Every training example: centroid distance against cos²(∇ℓ_i, v1), prototypes by group (WebGL)."""
    fig = go.Figure()
    for group in ("",) + GROUPS:
        mask = (examples.group == group).to_numpy()
        if mask.any():
            fig.add_trace(go.Scattergl(
                x=examples.centroid_distance.to_numpy()[mask], y=cos2[mask], mode="markers",
                name=GROUP_LABELS[group], marker={"color": GROUP_COLORS[group], "size": 4 if group == "" else 7,
                                                  "opacity": 0.45 if group == "" else 0.9}))
    title = f"Per-example alignment at step {step}" + (f" — Spearman ρ = {rho:.3f}" if rho is not None else "")
    fig.update_layout(title=title, xaxis_title="distance to class centroid ‖x_i − μ_c‖",
                      yaxis_title="cos²(∇ℓ_i, v1)", template="plotly_white")
    return fig


def centroid_distance_figure(examples: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for group in ("",) + GROUPS:
        values = examples.centroid_distance[examples.group == group]
        if len(values):
            fig.add_trace(go.Box(y=values, name=GROUP_LABELS[group], marker_color=GROUP_COLORS[group],
                                 boxpoints="outliers"))
    fig.update_layout(title="Distance to the class centroid by group", yaxis_title="‖x_i − μ_c‖",
                      template="plotly_white", showlegend=False)
    return fig


def compare_figure(a: Series, b: Series, quantity: str, group: str | None, labels: tuple[str, str],
                   x: str = "step", log_y: bool = False) -> go.Figure:
    """The same quantity for two configurations on shared axes (A solid, B dotted)."""
    fig = go.Figure()
    for s, label, width in ((a, labels[0], 2.5), (b, labels[1], 1.5)):
        table = s.trace if group is None else s.groups[s.groups.group == group]
        if quantity == "delta_loss":
            table = s.delta if group is None else s.delta[s.delta.group == group]
        for branch, (dash, branch_label) in BRANCH_STYLE.items():
            frame = table[(table.branch == branch) & (table.quantity == quantity)]
            if len(frame):
                color = GROUP_COLORS[group] if group else BRANCH_COLORS[branch]
                _line(fig, frame, x, f"{label} · {branch_label}", color, dash, f"{label}{branch}")
                fig.data[-1].line.width = width
    return _layout(fig, a, x, QUANTITY_LABELS.get(quantity, quantity), log_y,
                   f"{QUANTITY_LABELS.get(quantity, quantity)}: {labels[0]} vs {labels[1]}")


def display_image(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 for display, and the fraction of values outside [0, 1]. Out-of-range pixels
    are painted magenta rather than silently clipped, so displaced input-outliers show as they are."""
    image = np.transpose(pixels, (1, 2, 0))
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    outside = (image < 0) | (image > 1)
    shown = np.clip(image, 0, 1)
    shown[outside.any(axis=2)] = (1.0, 0.0, 1.0)
    return (shown * 255).round().astype(np.uint8), float(outside.mean())


def mechanism_scatter(groups: pd.DataFrame) -> go.Figure:
    """Q_k² against C_k = (∇ℓ_k·v1)² for every group and logged step, log-log (Fig. 22)."""
    fig = go.Figure()
    for group in GROUPS:
        g = groups[groups.group == group]
        fig.add_trace(go.Scattergl(x=g.curvature_influence, y=g.Q ** 2, mode="markers", name=GROUP_LABELS[group],
                                   marker={"color": GROUP_COLORS[group], "size": 6, "opacity": 0.8}))
    fig.update_layout(title="Single-mode proxy: Q_k² against (∇ℓ_k·v1)²", template="plotly_white",
                      xaxis_title="C_k = (∇ℓ_k·v1)²", yaxis_title="Q_k² = ⟨∇ℓ_k, ∇S⟩²")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


def decomposition_figure(table: pd.DataFrame) -> go.Figure:
    """Proposition 2's prediction (dotted) against the measured Δ̄ℓ_k at the same step (solid)."""
    fig = go.Figure()
    for group in GROUPS:
        g = table[table.group == group]
        color = GROUP_COLORS[group]
        fig.add_trace(go.Scatter(x=g.tau, y=g.measured, name=f"{GROUP_LABELS[group]} measured",
                                 line={"color": color}, legendgroup=group))
        fig.add_trace(go.Scatter(x=g.tau, y=g.predicted, name=f"{GROUP_LABELS[group]} predicted",
                                 line={"color": color, "dash": "dot"}, legendgroup=group))
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    fig.update_layout(title="Branch decomposition: (1 − c)R_k·τ + (α/β)Q_k·τ against the measured Δ̄ℓ_k",
                      xaxis_title="τ = η(t − t*)", yaxis_title="Δ̄ℓ_k at the same step", template="plotly_white")
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
            fig.add_trace(go.Scatter(x=[float(c[10:]) for c in columns], y=row[columns].iloc[0].to_numpy(),
                                     mode="lines+markers", name=label, line={"color": BRANCH_COLORS[branch], "dash": dash}))
    fig.update_layout(title=f"Loss on test input-outliers at step {step}", xaxis_title="α_test",
                      yaxis_title="loss", template="plotly_white")
    return fig


EVIDENCE_MEASURES = {"influence_share_before": "(∇ℓ_k·v1)² before t*", "influence_share_eos": "(∇ℓ_k·v1)² from t*",
                     "oscillation_share": "loss spikes Σ|ℓ_k − ℓ̄_k| after t*"}


def evidence_figure(evidence: pd.DataFrame) -> go.Figure:
    """Each group's share of the curvature influence before and after t* (who dominates v1) and of the
    EoS oscillation's loss spikes after t* (who takes them), from `mechanism.group_evidence`."""
    fig = go.Figure()
    measures = [c for c in EVIDENCE_MEASURES if c in evidence.columns]
    for group in GROUPS:
        fig.add_trace(go.Bar(x=[EVIDENCE_MEASURES[c] for c in measures], y=evidence.loc[group, measures].to_numpy(),
                             name=GROUP_LABELS[group], marker_color=GROUP_COLORS[group]))
    fig.update_layout(title="Who dominates v1 and who takes the EoS loss spikes (EoS branch)", barmode="group",
                      yaxis_title="share across the four groups", template="plotly_white")
    fig.update_yaxes(range=[0, 1])
    return fig

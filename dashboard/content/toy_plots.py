"""The Story's toys drawn (Plotly) and told in words: each figure's text alternative is a sentence
with the numbers it shows, for screen readers. Torch-free; the numbers come from `toy`.

Colours are from the Okabe–Ito palette, which stays distinguishable under every common form of
colour blindness; the path is also marked by its markers and the threshold by its dash.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.content import toy
from dashboard.content.narrative import number

PATH, THRESHOLD, SHARPNESS = "#0072B2", "#D55E00", "#009E73"  # Okabe–Ito blue, vermillion, bluish green

QUADRATIC_INTRO = (
    "Before the runs, a loss you can hold in your head: the bowl ½(λ1x² + λ2y²), sharpest along x. "
    "Gradient descent multiplies x by 1 − η·λ1 at every step, so it converges while η·λ1 < 2, "
    "flips back and forth for ever at η = 2/λ1 and diverges above. Drag η across 2/λ1."
)
SHARPENING_INTRO = (
    f"A real loss is not a fixed bowl: its sharpness changes as training moves. In this two-parameter "
    "loss (the self-stabilisation picture of Damian, Nichani & Lee, 2023) descent itself makes the "
    f"loss sharper, towards a minimum {number(toy.DEFAULT_TOY.minimum_sharpness)} sharp. Gradient descent cannot stay stable above 2/η, yet it "
    f"does not diverge: the oscillation it starts holds the sharpness near 2/η. Try η from "
    f"{toy.SHARPENING_LR[0]:.2f} to {toy.SHARPENING_LR[1]:.2f}."
)


def quadratic_figure(path: np.ndarray, lam1: float, lam2: float, lr: float) -> go.Figure:
    """Left: the loss's contours with the gradient descent path; right: the distance to the minimum
    per step on a log axis (a straight line: a constant factor per step)."""
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.55, 0.45], subplot_titles=("the path on the loss", "distance to the minimum")
    )
    # the view holds the whole path (and at least the start's square), so a divergent path stays in sight
    reach = 1.1 * max(float(np.abs(path).max()), 1.0)
    _add_path_on_contours(fig, path, lam1, lam2, reach)
    distance = np.linalg.norm(path, axis=1)
    fig.add_trace(
        go.Scatter(
            x=np.arange(len(path)),
            y=distance,
            mode="lines+markers",
            line={"color": PATH, "width": 2},
            marker={"size": 6},
            name="‖θ_t‖",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title_text="x (curvature λ1)", range=[-reach, reach], row=1, col=1)
    fig.update_yaxes(title_text="y (curvature λ2)", range=[-reach, reach], scaleanchor="x", row=1, col=1)
    fig.update_xaxes(title_text="step", row=1, col=2)
    fig.update_yaxes(title_text="‖θ_t‖", type="log", row=1, col=2)
    fig.update_layout(
        title=f"Gradient descent on ½(λ1x² + λ2y²): η·λ1 = {lr * lam1:.2f}",
        template="plotly_white",
        showlegend=False,
        height=420,
        margin={"t": 80},
    )
    return fig


def _add_path_on_contours(fig: go.Figure, path: np.ndarray, lam1: float, lam2: float, reach: float) -> None:
    """The loss's level lines over [−reach, reach]² and the gradient descent path on them (left panel)."""
    grid = np.linspace(-reach, reach, 121)
    xx, yy = np.meshgrid(grid, grid)
    fig.add_trace(
        go.Contour(
            x=grid,
            y=grid,
            z=0.5 * (lam1 * xx**2 + lam2 * yy**2),
            colorscale=[[0, "#8c8c8c"], [1, "#8c8c8c"]],  # one grey: every level line as visible
            showscale=False,
            contours={"coloring": "lines"},
            ncontours=12,
            hoverinfo="skip",
            name="loss",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=path[:, 0],
            y=path[:, 1],
            mode="lines+markers",
            line={"color": PATH, "width": 2},
            marker={"size": 7},
            name="gradient descent",
            customdata=np.arange(len(path)),
            hovertemplate="step %{customdata}: (%{x:.3g}, %{y:.3g})<extra></extra>",
        ),
        row=1,
        col=1,
    )


def describe_quadratic(path: np.ndarray, lam1: float, lam2: float, lr: float) -> str:
    """The quadratic's figure in words: the regime, from η·λ1 against 2, and what the path did."""
    product = lr * lam1
    start, end = np.abs(path[0, 0]), np.abs(path[-1, 0])
    steps = len(path) - 1
    kind = toy.regime(lam1, lr)
    factor = f"{1 - product:+.2f}".replace("-", "−")  # a typographic minus, as the figures write it
    if kind == toy.EDGE:
        verdict = f"η·λ1 = {product:.2f} = 2: the iterates oscillate at the edge"
        what = f"after {steps} steps x still flips between {number(start)} and −{number(start)}"
    elif kind == toy.DIVERGES:
        verdict = f"η·λ1 = {product:.2f} > 2: the iterates diverge"
        what = f"after {steps} steps |x| grew from {number(start)} to {number(end)}"
    else:
        zigzag = " zig-zagging across the valley" if product > 1 else ""
        verdict = f"η·λ1 = {product:.2f} < 2: the iterates converge{zigzag}"
        what = f"after {steps} steps |x| shrank from {number(start)} to {number(end)}"
    return (
        f"{verdict}; {what}, each step multiplying x by 1 − η·λ1 = {factor} "
        f"(λ1 = {number(lam1)}, λ2 = {number(lam2)}, η = {number(lr)}, 2/λ1 = {number(2 / lam1)})."
    )


def sharpening_figure(run: toy.SharpeningRun) -> go.Figure:
    steps = np.arange(len(run.sharpness))
    fig = go.Figure(
        go.Scatter(
            x=steps,
            y=run.sharpness,
            mode="lines",
            line={"color": SHARPNESS, "width": 2},
            name="sharpness λ1",
            hovertemplate="step %{x}: λ1 = %{y:.3g}<extra></extra>",
        )
    )
    fig.add_hline(
        y=run.threshold,
        line={"color": THRESHOLD, "width": 2, "dash": "dash"},
        annotation_text=f"2/η = {number(run.threshold)}",
        annotation_position="bottom right",
    )
    fig.update_layout(
        title=f"The sharpening toy at η = {number(run.lr)}: λ1 rises, then is held near 2/η",
        xaxis_title="step",
        yaxis_title="sharpness λ1",
        template="plotly_white",
        height=380,
        margin={"t": 70},
        showlegend=False,
    )
    return fig


def describe_sharpening(run: toy.SharpeningRun) -> str:
    """The sharpening toy's figure in words, with the numbers it shows."""
    p = toy.pinning(run)
    start, last, steps = run.sharpness[0], run.sharpness[-1], len(run.sharpness) - 1
    if p.crossed is None:
        return (
            f"λ1 rises from {number(start)} to {number(last)} in {steps} steps and never reaches "
            f"2/η = {number(run.threshold)}: the minimum's sharpness, {number(run.toy.minimum_sharpness)}, "
            "is below the threshold, so gradient descent simply converges."
        )
    held = (
        f"from step {p.settled} to the last, {steps}, it stays within {p.band:.0%} of 2/η (it ends at "
        f"{number(last)}, {last / run.threshold:.1%} of 2/η)"
        if p.settled is not None
        else f"it has not settled within {p.band:.0%} of 2/η after {steps} steps (it ends at {number(last)})"
    )
    return (
        f"Progressive sharpening: λ1 rises from {number(start)} and reaches 2/η = {number(run.threshold)} at "
        f"step {p.crossed}; it first overshoots to {p.peak:.2f}× 2/η while the oscillation along the top "
        f"eigenvector grows from almost nothing, then the oscillation pushes it back down (as low as "
        f"{p.trough:.2f}× 2/η) and {held}, "
        f"although the loss's minimum is {number(run.toy.minimum_sharpness)} sharp."
    )

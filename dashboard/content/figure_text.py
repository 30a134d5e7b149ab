"""Any figure in words: its text alternative for screen readers (and anyone who wants the numbers),
for figures without a description of their own. Shown under every figure on the dashboard
(`dashboard.widgets.figure`) and as the caption of every figure in the Story's handout. Torch-free.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.content.narrative import number


def describe_figure(fig: go.Figure) -> str:
    """Any figure in words, for a figure without its own description: its x axis, each curve's name,
    how many points, its range and its last value, then the labelled lines drawn across it."""
    title = fig.layout.title.text or "A figure"
    curves = [words for trace in fig.data if (words := _describe_trace(trace))]
    if not curves:
        return f"{title}. No curve has data."
    text = f"{title}. Against {_axis_name(fig, fig.data[0].xaxis or 'x')}: " + "; ".join(curves) + "."
    marks = [_describe_mark(fig, a) for a in fig.layout.annotations if a.text]
    if marks:
        text += " Marked: " + ", ".join(marks) + "."
    return text


def _axis_name(fig: go.Figure, ref: str) -> str:
    """The title of the axis `ref` ("x", "x2", "y"…) names, else the reference itself."""
    axis = fig.layout[f"{ref[0]}axis{ref[1:]}"]
    return (axis.title.text if axis is not None else None) or ref[0]


def _describe_mark(fig: go.Figure, annotation) -> str:
    """A labelled line's text and where it is: a horizontal line's y, a vertical line's x (its other
    coordinate is on the axis's domain, 0–1, not data); a note placed on the paper, its text."""
    for axis in ("y", "x"):
        value, ref = getattr(annotation, axis), getattr(annotation, f"{axis}ref") or axis
        on_data = ref != "paper" and not ref.endswith("domain")  # else 0–1 across the plot, not a value
        if on_data and isinstance(value, (int, float)):
            return f"{annotation.text} at {_axis_name(fig, ref)} {number(value)}"
    return annotation.text


def _describe_trace(trace) -> str | None:
    y = _numbers(getattr(trace, "y", None))
    x = _numbers(getattr(trace, "x", None))
    if y is None or not np.isfinite(y).any() or getattr(trace, "fill", None) == "toself":
        return None  # no 1-D data, or a band (its curve says the numbers)
    finite = np.isfinite(y)
    last = np.flatnonzero(finite)[-1]
    where = f" at {number(x[last])}" if x is not None and len(x) == len(y) else ""
    return (
        f"{trace.name or 'a curve'}: {int(finite.sum())} points from {number(np.nanmin(y))} to "
        f"{number(np.nanmax(y))}, last {number(y[last])}{where}"
    )


def _numbers(values) -> np.ndarray | None:
    if values is None:
        return None
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 and len(array) else None

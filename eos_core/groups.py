"""The paper's four prototype groups, in one table: name (as stored), label (as shown) and colour
(one per group on every figure). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    name: str  # as stored in results
    label: str  # as written on screen
    short: str  # in tables with one cell per group (the regime map)
    colour: str  # on every figure


TABLE = (
    Group("inlier", "inliers", "in", "#1f77b4"),
    Group("boundary", "boundary points", "bd", "#2ca02c"),
    Group("input_outlier", "input-outliers", "io", "#d62728"),
    Group("output_outlier", "output-outliers", "oo", "#9467bd"),
)
GROUPS = tuple(g.name for g in TABLE)
LABELS = {g.name: g.label for g in TABLE}
COLOURS = {g.name: g.colour for g in TABLE}
SHORT = {g.name: g.short for g in TABLE}

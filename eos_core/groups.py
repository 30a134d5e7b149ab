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


# Colours apart for colour-blind viewers too: simulated protan-, deutan- and tritanopia keep every pair
# ≥ 25 ΔE apart (the old blue/green/red/purple fell to 6), and each has ≥ 3:1 contrast on white (WCAG's
# bar for graphics). Indigo and purple from Paul Tol's palette, green and vermillion from Okabe–Ito;
# tests/test_colours.py checks both.
TABLE = (
    Group("inlier", "inliers", "in", "#332288"),
    Group("boundary", "boundary points", "bd", "#009E73"),
    Group("input_outlier", "input-outliers", "io", "#D55E00"),
    Group("output_outlier", "output-outliers", "oo", "#AA4499"),
)
GROUPS = tuple(g.name for g in TABLE)
LABELS = {g.name: g.label for g in TABLE}
COLOURS = {g.name: g.colour for g in TABLE}
SHORT = {g.name: g.short for g in TABLE}

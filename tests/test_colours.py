"""The group colours stay apart for colour-blind viewers and visible on white.

Colour-vision deficiency is simulated with Machado, Oliveira & Fernandes (2009), severity 1.0 (full
dichromacy), on linear sRGB; distances are CIE76 ΔE in CIELAB (D65). ΔE ≈ 2.3 is a just-noticeable
difference; 20 keeps two thin lines on a chart easy to tell apart. Contrast is WCAG 2's ratio, whose
bar for graphical objects (1.4.11) is 3:1.
"""

import itertools

import numpy as np
import pytest

from dashboard.content.plots import RUN_COLORS
from eos_core.groups import COLOURS

SIMULATIONS = {
    "normal": np.eye(3),
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
WHITE = np.array([0.95047, 1.0, 1.08883])


def linear(colour: str) -> np.ndarray:
    c = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb: np.ndarray) -> np.ndarray:
    t = SRGB_TO_XYZ @ np.clip(rgb, 0, 1) / WHITE
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def closest_pair(colours, simulation) -> float:
    m = np.asarray(SIMULATIONS[simulation])
    return min(np.linalg.norm(lab(m @ linear(a)) - lab(m @ linear(b))) for a, b in itertools.combinations(colours, 2))


def contrast_on_white(colour: str) -> float:
    return 1.05 / (SRGB_TO_XYZ[1] @ linear(colour) + 0.05)


def test_the_simulation_reproduces_the_known_red_green_confusion():
    # the reference point of the method: pure red and green, far apart normally, near under deuteranopia
    assert closest_pair(["#ff0000", "#00ff00"], "normal") > 80
    assert closest_pair(["#d62728", "#2ca02c"], "deuteranopia") < 10  # the old input-outlier/boundary pair


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_group_colours_stay_apart_under_colour_blindness(simulation):
    assert closest_pair(COLOURS.values(), simulation) >= 20


def test_group_colours_are_visible_on_white():
    assert min(contrast_on_white(c) for c in COLOURS.values()) >= 3


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_run_colours_on_compare_stay_apart_under_colour_blindness(simulation):
    assert closest_pair(RUN_COLORS, simulation) >= 15  # Okabe–Ito's six: 16 at worst (tritanopia)

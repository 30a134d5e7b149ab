"""Plot builders: the expected traces, threshold lines, t*/t** markers and fixed group colours."""
import numpy as np
import pytest

from eos_core import plots
from eos_core.config import GROUPS
from eos_core.experiment import run_experiment
from eos_core.views import series
from tiny import TINY


@pytest.fixture(scope="module")
def results():
    return [run_experiment(TINY.replace(seed=s)) for s in (0, 1, 2)]


def shapes(fig, kind):
    return [s for s in fig.layout.shapes if (s.x0 == s.x1) == (kind == "v")]


def test_sharpness_has_both_branches_thresholds_and_markers(results):
    r = results[0]
    fig = plots.sharpness_figure(series([r]), "step", show_lambda2=True, show_oscillation=True)
    names = [t.name for t in fig.data]
    assert "λ1 EoS (η)" in names and "λ1 exit (c·η)" in names and "λ2 EoS (η)" in names
    assert sorted(s.y0 for s in shapes(fig, "h")) == pytest.approx(sorted([2 / TINY.lr, 2 / (TINY.c * TINY.lr)]))
    assert sorted(s.x0 for s in shapes(fig, "v")) == sorted([r.meta["t_star"], r.meta["t_star_star"]])
    exit_trace = next(t for t in fig.data if t.name == "λ1 exit (c·η)")
    assert exit_trace.line.dash == "dash" and exit_trace.x[0] == r.meta["t_star"]
    base = r.trace[r.trace.branch == "baseline"]
    np.testing.assert_allclose(next(t for t in fig.data if t.name == "λ1 EoS (η)").y, base.lambda1)


def test_effective_time_axis_moves_the_markers(results):
    r = results[0]
    fig = plots.sharpness_figure(series([r]), "time")
    t_eff = r.trace[(r.trace.branch == "baseline") & (r.trace.step == r.meta["t_star"])].t_eff.iloc[0]
    assert min(s.x0 for s in shapes(fig, "v")) == pytest.approx(t_eff)
    assert fig.layout.xaxis.title.text.startswith("effective time")


def test_groups_keep_their_colours_on_every_figure(results):
    s = series(results[:1])
    for fig in (plots.group_figure(s, "loss"), plots.group_figure(s, "cos2"), plots.delta_figure(s),
                plots.scatter_figure(results[0].examples, results[0].per_example["baseline_cos2"][0], 0),
                plots.centroid_distance_figure(results[0].examples)):
        for trace in fig.data:
            group = next((g for g in GROUPS if plots.GROUP_LABELS[g] in (trace.name or "")), None)
            if group is not None:
                color = trace.marker.color if trace.type in ("scattergl", "box") else trace.line.color
                assert color == plots.GROUP_COLORS[group], (fig.layout.title.text, trace.name)
    scatter = plots.scatter_figure(results[0].examples, results[0].per_example["baseline_cos2"][0], 0)
    assert all(t.type == "scattergl" for t in scatter.data)
    assert sum(len(t.x) for t in scatter.data) == TINY.n


def test_seeds_draw_a_median_with_an_iqr_band(results):
    s = series(results)
    assert s.aligned and s.n_seeds == 3
    fig = plots.group_figure(s, "loss_avg2")
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 2 * len(GROUPS)
    assert fig.layout.xaxis.title.text == "steps since the fork"
    assert min(x.x0 for x in shapes(plots.sharpness_figure(s), "v")) == 0


def test_display_image_marks_out_of_range_pixels():
    pixels = np.zeros((3, 2, 2))
    pixels[:, 0, 0] = 2.0
    image, outside = plots.display_image(pixels)
    assert image.dtype == np.uint8 and tuple(image[0, 0]) == (255, 0, 255) and outside == pytest.approx(0.25)

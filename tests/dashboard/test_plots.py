"""Plot builders: the expected traces, threshold lines, t*/t** markers and fixed group colours."""

import numpy as np
import pytest
from tiny import TINY

from dashboard.content import plots
from dashboard.content.series import series
from eos_core.groups import GROUPS


@pytest.fixture(scope="module")
def results(tiny_run):
    return [tiny_run(TINY.replace(seed=s)) for s in (0, 1, 2)]


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
    for fig in (
        plots.group_figure(s, "loss"),
        plots.group_figure(s, "cos2"),
        plots.delta_figure(s),
        plots.scatter_figure(results[0].examples, results[0].per_example["baseline_cos2"][0], 0),
        plots.centroid_distance_figure(results[0].examples),
    ):
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


def test_a_sparser_quantity_draws_only_its_measured_points_marked(results):
    r = results[0]  # TINY's default mechanism_every = 2: Q_k at every other logged step
    fig = plots.group_figure(series([r]), "Q")
    inliers = r.groups[(r.groups.branch == "baseline") & (r.groups.group == GROUPS[0])]
    measured = inliers[inliers.Q.notna()]
    assert 0 < len(measured) < len(inliers)
    trace = next(t for t in fig.data if t.name.startswith(plots.GROUP_LABELS[GROUPS[0]]) and t.line.dash != "dash")
    assert trace.mode == "lines+markers"
    np.testing.assert_array_equal(trace.x, measured.step)
    np.testing.assert_allclose(trace.y, measured.Q)
    dense = next(t for t in plots.group_figure(series([r]), "loss").data if t.name == trace.name)
    assert dense.mode == "lines" and len(dense.x) == len(inliers)


def test_display_image_marks_out_of_range_pixels():
    pixels = np.zeros((3, 2, 2))
    pixels[:, 0, 0] = 2.0
    image, outside = plots.display_image(pixels)
    assert image.dtype == np.uint8 and tuple(image[0, 0]) == (255, 0, 255) and outside == pytest.approx(0.25)


def test_display_range_maps_synthetic_units_and_marking_is_optional():
    low, high = plots.display_range("synthetic")
    pixels = np.zeros((3, 2, 2))
    pixels[:, 0, 0] = high + 1  # leaves the range
    pixels[:, 0, 1] = low  # the range's ends map to black and white
    pixels[:, 1, 0] = high
    image, outside = plots.display_image(pixels, (low, high))
    assert tuple(image[0, 0]) == (255, 0, 255) and outside == pytest.approx(0.25)
    assert tuple(image[0, 1]) == (0, 0, 0) and tuple(image[1, 0]) == (255, 255, 255)
    assert tuple(image[1, 1]) == (128, 128, 128)  # the middle of the range (0) is mid-grey
    clipped, _ = plots.display_image(pixels, (low, high), mark=False)
    assert tuple(clipped[0, 0]) == (255, 255, 255)
    assert plots.display_range("cifar10") == plots.display_range("digits") == (0.0, 1.0)


def test_log_axis_puts_threshold_labels_at_their_values(results):
    """Plotly reads annotation y on a log axis as log10: a label at 2/η must be written log10(2/η)."""
    fig = plots.sharpness_figure(series([results[0]]), "step", log_y=True)
    labels = {a.text: a.y for a in fig.layout.annotations if a.yref == "y"}
    assert labels["2/η"] == pytest.approx(np.log10(2 / TINY.lr))
    assert labels["2/(c·η)"] == pytest.approx(np.log10(2 / (TINY.c * TINY.lr)))
    assert fig.layout.yaxis.exponentformat == "power"


def test_compare_colours_runs_dashes_branches_and_marks_each_t_star(results):
    runs = [series([r]) for r in results]
    fig = plots.compare_figure(runs, ["a", "b", "c"], "lambda1", None)
    curves = [t for t in fig.data if t.name and "·" in t.name]
    assert {t.line.color for t in curves} == set(plots.RUN_COLORS[:3])
    assert {t.line.dash for t in curves if t.name.endswith("exit (c·η)")} == {"dash"}
    assert sorted(s.x0 for s in shapes(fig, "v")) == sorted(r.meta["t_star"] for r in results)


def test_smoothing_is_tensorboards_debiased_ema_with_the_raw_curve_kept(results):
    from dashboard.content.series import smoothed

    s = series([results[0]])
    w = 0.6
    smooth = smoothed(s, w)
    curve = smooth.trace[(smooth.trace.branch == "baseline") & (smooth.trace.quantity == "lambda1")]
    raw = curve.raw.to_numpy()
    ema, expected = 0.0, []
    for i, v in enumerate(raw, 1):  # reference: the explicit recurrence, debiased by 1 − wᵗ
        ema = w * ema + (1 - w) * v
        expected.append(ema / (1 - w**i))
    np.testing.assert_allclose(curve["median"], expected, rtol=1e-12)
    fig = plots.sharpness_figure(smooth)
    assert any(t.name == "λ1 EoS (η) (raw)" and t.opacity == 0.25 for t in fig.data)
    assert fig.layout.hovermode == "x unified"


def test_binned_median_trend():
    x = np.arange(100.0)
    y = x % 10
    bx, by = plots.binned_median(x, y, 4)
    np.testing.assert_allclose(bx, [12, 37, 62, 87])
    np.testing.assert_allclose(by, [np.median((x[i * 25 : (i + 1) * 25]) % 10) for i in range(4)])


def test_figure_html_export_embeds_plotly(results):
    from dashboard.widgets import standalone_html

    html = standalone_html(plots.sharpness_figure(series([results[0]])))
    assert '<script src="http' not in html and "Plotly.newPlot" in html
    assert len(html) > 1_000_000  # plotly.js itself is in the file

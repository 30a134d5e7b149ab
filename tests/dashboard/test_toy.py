"""The Story's toys (dashboard/content/toy.py): gradient descent on a bowl against its closed form,
its three regimes at η just below, at and above 2/λ1, and the sharpening toy's sharpness rising to
2/η and held there. Numpy only, milliseconds."""

import numpy as np
import pytest

from dashboard.content import toy, toy_plots

LAM1, LAM2 = toy.BOWL


@pytest.mark.parametrize("lr", [0.05, 0.15, 0.2, 0.23])
def test_the_bowl_path_is_the_closed_form(lr):
    path = toy.quadratic_path(LAM1, LAM2, lr, (1.0, -2.0), 30)
    t = np.arange(31)
    # each coordinate is multiplied by (1 − ηλ) per step: x_t = (1 − ηλ1)^t x_0
    assert path.shape == (31, 2)
    np.testing.assert_allclose(path[:, 0], (1 - lr * LAM1) ** t, rtol=1e-12)
    np.testing.assert_allclose(path[:, 1], -2.0 * (1 - lr * LAM2) ** t, rtol=1e-12)


def test_the_three_regimes_just_below_at_and_above_2_over_lambda1():
    edge = 2 / LAM1
    assert toy.regime(LAM1, edge - 0.01) == toy.CONVERGES
    assert toy.regime(LAM1, edge) == toy.EDGE
    # what the slider hands over: 0.02 + 18 steps of 0.01 is 0.19999999999999998, still the edge
    assert toy.regime(LAM1, 0.02 + 18 * 0.01) == toy.EDGE
    assert toy.regime(LAM1, edge + 0.01) == toy.DIVERGES


def test_the_regimes_show_in_the_iterates():
    below, at, above = (toy.quadratic_path(LAM1, LAM2, lr, (1.0, 1.0), 20) for lr in (0.19, 0.2, 0.21))
    assert abs(below[-1, 0]) == pytest.approx(0.9**20)  # |1 − 1.9| = 0.9 per step: 0.12 after 20
    np.testing.assert_allclose(np.abs(at[:, 0]), 1.0)  # flips between 1 and −1 for ever
    assert at[1, 0] == pytest.approx(-1.0)
    assert abs(above[-1, 0]) == pytest.approx(1.1**20)  # 6.73: grows by 1.1 per step


def test_the_bowl_sentences_quote_the_regime_and_the_numbers():
    def said(lr):
        return toy_plots.describe_quadratic(toy.quadratic_path(LAM1, LAM2, lr), LAM1, LAM2, lr)

    assert "η·λ1 = 2.10 > 2: the iterates diverge; after 20 steps |x| grew from 1 to 6.73" in said(0.21)
    assert "η·λ1 = 2.00 = 2: the iterates oscillate at the edge" in said(0.2)
    assert "η·λ1 = 1.50 < 2: the iterates converge zig-zagging" in said(0.15)
    assert "shrank from 1 to 9.54e-07" in said(0.15)  # 0.5^20
    assert "zig-zag" not in said(0.05)  # 1 − 0.5 > 0: straight in


@pytest.mark.parametrize("lr", [0.10, 0.15, 0.20])
def test_the_sharpening_toy_rises_to_2_over_eta_and_is_held_there(lr):
    run = toy.sharpening_run(lr)
    ratio = run.sharpness / run.threshold
    p = toy.pinning(run, band=0.05)
    assert np.isfinite(run.sharpness).all() and np.isfinite(run.loss).all()
    # progressive sharpening: from 2 (the toy's s0) up to the threshold, rising all the way there
    assert run.sharpness[0] == pytest.approx(2.0)
    assert p.crossed is not None and np.all(np.diff(run.sharpness[: p.crossed]) > 0)
    # then held: from `settled` to the last of 1500 steps within 5 % of 2/η, at least 580 steps (η = 0.10
    # settles at step 911, the latest of the three)
    assert p.settled is not None and 1500 - p.settled >= 580
    assert np.abs(ratio[p.settled :] - 1).max() <= 0.05
    # on its period-2 orbit the sharpness at the iterates sits 2–3 % below 2/η: the curvature along x
    # falls off over the oscillation's width (measured 0.971–0.979 over the three η)
    assert ratio[-500:].min() >= 0.965 and ratio[-500:].max() <= 0.985
    # and x really oscillates there: it flips sign at every step of the last 500
    assert np.all(np.sign(run.x[-500:-1]) != np.sign(run.x[-499:]))


def test_the_sharpening_toy_meets_the_threshold_sooner_and_overshoots_more_at_a_larger_eta():
    """The measured figures the Story quotes: η = 0.10, 0.15, 0.20 reach 2/η at steps 642, 236, 119,
    overshoot to 1.20, 1.37, 1.56× 2/η (the oscillation grows from almost nothing), are pushed back
    as low as 0.72, 0.58, 0.50× 2/η, and settle within 5 % by steps 911, 400, 286. Tolerances: a few steps and 0.01 (the toy is deterministic; these only
    absorb a platform's last-bit rounding)."""
    found = [toy.pinning(toy.sharpening_run(lr)) for lr in (0.10, 0.15, 0.20)]
    assert [p.crossed for p in found] == pytest.approx([642, 236, 119], abs=3)
    assert [p.peak for p in found] == pytest.approx([1.20, 1.37, 1.56], abs=0.01)
    assert [p.settled for p in found] == pytest.approx([911, 400, 286], abs=5)
    assert [p.trough for p in found] == pytest.approx([0.72, 0.58, 0.50], abs=0.01)


def test_below_the_threshold_the_sharpening_toy_converges_to_its_minimum():
    # 2/η = 50 lies above the minimum's sharpness 40: no edge of stability, x never oscillates
    run = toy.sharpening_run(0.04, steps=20000)
    assert toy.pinning(run).crossed is None
    assert run.sharpness[-1] == pytest.approx(run.toy.minimum_sharpness, rel=1e-3)
    assert "never reaches 2/η = 50" in toy_plots.describe_sharpening(run)


def test_the_sharpening_sentence_quotes_the_figure():
    text = toy_plots.describe_sharpening(toy.sharpening_run(0.15))
    assert "reaches 2/η = 13.3 at step 236" in text
    assert "overshoots to 1.37× 2/η" in text and "as low as 0.58× 2/η" in text
    assert "from step 400 to the last, 1500, it stays within 5% of 2/η" in text


def test_the_toy_figures_draw_the_path_and_the_threshold():
    path = toy.quadratic_path(LAM1, LAM2, 0.21)
    bowl = toy_plots.quadratic_figure(path, LAM1, LAM2, 0.21)
    drawn = next(t for t in bowl.data if t.name == "gradient descent")
    np.testing.assert_allclose(drawn.x, path[:, 0])
    assert drawn.mode == "lines+markers"
    assert bowl.layout.xaxis.range[1] >= np.abs(path).max()  # a divergent path stays in view
    run = toy.sharpening_run(0.15)
    fig = toy_plots.sharpening_figure(run)
    assert [s.y0 for s in fig.layout.shapes] == [pytest.approx(2 / 0.15)]

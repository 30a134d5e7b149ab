"""Trade-offs over time on constructed loss curves whose window is known by construction."""

import numpy as np
import pandas as pd
import pytest

from eos_core.analysis.results import LOSS_COLUMNS, Result
from eos_core.analysis.tradeoff import delta_over_time, describe, peak_window, tradeoff
from eos_core.groups import GROUPS

T_STAR, STEPS, LR, C = 40, 440, 0.02, 0.5
PEAK, WIDTH = 100, 20.0  # a Gaussian bump in u = step − t*
HALF = WIDTH * np.sqrt(2 * np.log(2))  # its half-maximum half-width: 23.55 steps


def bump(u):
    return np.exp(-((u - PEAK) ** 2) / (2 * WIDTH**2))


PATTERN = {"input_outlier": 0.1, "inlier": -0.05, "boundary": -0.06, "output_outlier": 0.01}


def constructed(scale=PATTERN, seed=0, **config) -> Result:
    """Baseline ℓ_k = 1 − 0.1·t_eff at every step; the exit branch is the baseline at equal
    effective time plus scale_k·bump(u): Δℓ_k(u) = scale_k·bump(u) exactly."""
    rows = []
    for s in range(STEPS + 1):
        for k in GROUPS:
            loss = 1 - 0.1 * LR * s
            rows.append(("baseline", s, LR * s, k, loss, loss))
    for s in range(T_STAR, STEPS + 1):
        t_eff = LR * T_STAR + C * LR * (s - T_STAR)
        for k in GROUPS:
            loss = 1 - 0.1 * t_eff + scale[k] * bump(s - T_STAR)
            rows.append(("exit", s, t_eff, k, loss, loss))
    config = {
        "dataset": "fashion_mnist",
        "classes": ["shirt", "tshirt"],
        "alpha": 3.0,
        "loss": "mse",
        "displacement": "coherent",
        "c": C,
        "lr": LR,
        "seed": seed,
        **config,
    }
    meta = {
        "t_star": T_STAR,
        "t_star_star": None,
        "status": "done",
        "config": config,
        "config_hash": "h" + "-".join(f"{v}" for v in config.values()).replace(",", ""),
    }
    empty = pd.DataFrame()
    return Result(meta, empty, empty, empty, {}, pd.DataFrame(rows, columns=LOSS_COLUMNS))


def test_delta_over_time_is_exact_at_every_exit_step():
    d = delta_over_time(constructed())
    assert sorted(d.u.unique()) == list(range(1, STEPS - T_STAR + 1))  # every step, not the log grid
    io = d[d.group == "input_outlier"].set_index("u").delta_loss
    assert io.to_numpy() == pytest.approx(0.1 * bump(io.index.to_numpy()), abs=1e-12)


def test_the_peak_window_is_the_half_maximum_width_of_the_known_bump():
    t = tradeoff([constructed()])
    w = t.window
    assert w.peak_u == PEAK and w.size == pytest.approx(0.06, rel=1e-9)  # min(max Δ, −min Δ) = min(0.1, 0.06)
    assert (w.u1, w.u2) == (int(np.ceil(PEAK - HALF)), int(np.floor(PEAK + HALF)))  # [77, 123]
    assert t.window_mean["input_outlier"] > 0 > t.window_mean["inlier"]
    assert t.pattern() and t.pattern_seeds == 1
    # transient: at the end every Δℓ_k is ~0, which an end-of-run number alone would call "no effect"
    assert max(abs(v) for v in t.end.values()) < 1e-12
    assert "[77, 123]" in describe(t) and "1/1 seeds" in describe(t)
    # the pattern's signs hold from the fork for as long as float64 resolves the bump on a loss of ~1
    assert t.pattern_run[0] == 1 and t.pattern_run[1] > PEAK + 6 * WIDTH


def test_no_trade_off_has_no_window():
    t = tradeoff([constructed(dict.fromkeys(GROUPS, 0.05))])  # every group behind under EoS... ahead: same sign
    assert t.window is None and not t.pattern()
    assert "no group is ahead" in describe(t) and t.pattern_run is None
    assert "holds at no step" in describe(t)
    assert peak_window(pd.DataFrame({"a": [-1.0, -2.0], "b": [-0.5, -0.1]}, index=[1, 2])) is None


def test_the_pattern_run_is_found_apart_from_the_peak_window():
    """A big output-outlier gain makes the peak; the paper's pattern holds only where a second,
    smaller bump lifts the input-outliers: u ∈ [150, 190] exactly."""
    from eos_core.analysis.tradeoff import longest_pattern_run

    u = np.arange(1, 301)
    io = np.where((u >= 150) & (u <= 190), 0.01, -0.01)
    wide = pd.DataFrame(
        {"inlier": -0.02 + 0 * u, "boundary": -0.03 + 0 * u, "input_outlier": io, "output_outlier": 0.5 * bump(u)},
        index=u,
    )
    assert longest_pattern_run(wide) == (150, 190)
    assert peak_window(wide).peak_u < 150  # the peak window sits where the output-outliers gain


def test_seeds_average_and_count_who_agrees():
    flipped = {k: -v for k, v in PATTERN.items()}
    runs = [constructed(seed=0), constructed(seed=1), constructed(flipped, seed=2)]
    t = tradeoff(runs)
    assert t.n_seeds == 3 and t.pattern_seeds == 2
    assert t.window_agree == {"inlier": 2, "boundary": 2, "input_outlier": 2, "output_outlier": 2}
    at_peak = t.curves[(t.curves.u == PEAK) & (t.curves.group == "input_outlier")].iloc[0]
    assert at_peak["mean"] == pytest.approx(0.1 / 3) and at_peak["agree"] == 2 and at_peak["n"] == 3
    assert at_peak["std"] == pytest.approx(np.std([0.1, 0.1, -0.1]))
    assert t.window.peak_u == PEAK and t.window.size == pytest.approx(0.06 / 3)


def test_a_run_that_never_forked_has_no_curve():
    r = constructed()
    r.meta["t_star"] = None
    assert tradeoff([r]).n_seeds == 0 and "no run forked" in describe(tradeoff([r]))

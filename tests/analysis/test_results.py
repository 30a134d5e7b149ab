"""Result folders: written and read back identically, never through pickle; Δℓ_k by hand."""

import io

import numpy as np
import pandas as pd
import pytest

from eos_core.analysis.results import FILES, OPTIONAL_FILES, Result, ResultError, delta_loss
from eos_core.groups import GROUPS


def fixture_result() -> Result:
    rows = []
    for branch, steps, _lr in (("baseline", range(0, 50, 10), 0.1), ("exit", range(20, 50, 10), 0.05)):
        for step in steps:
            t_eff = step * 0.1 if branch == "baseline" else 2.0 + (step - 20) * 0.05
            for k, group in enumerate(GROUPS):
                rows.append(
                    {
                        "branch": branch,
                        "step": step,
                        "t_eff": t_eff,
                        "group": group,
                        "loss": 1.0 - 0.1 * t_eff * (k + 1),
                        "loss_avg2": 1.0 - 0.1 * t_eff * (k + 1),
                    }
                )
    groups = pd.DataFrame(rows)
    trace = pd.DataFrame({"branch": ["baseline"] * 5, "step": range(0, 50, 10), "lambda1": np.linspace(1, 2, 5)})
    examples = pd.DataFrame(
        {"index": np.arange(4), "group": ["inlier", "", "boundary", ""], "centroid_distance": [0.5, 1.0, 2.0, 3.0]}
    )
    per_example = {
        "baseline_steps": np.arange(5),
        "baseline_cos2": np.random.default_rng(0).random((5, 4), dtype=np.float32),
    }
    losses = groups.copy()  # stands in for the every-step table
    return Result(
        {"status": "done", "config": {"lr": 0.1, "c": 0.5}, "t_star": 20}, trace, groups, examples, per_example, losses
    )


def test_round_trip_is_identical(tmp_path):
    original = fixture_result()
    loaded = Result.load(original.save(tmp_path / "run"))
    assert loaded.meta == original.meta
    for name in ("trace", "groups", "examples", "losses"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(original, name), check_exact=True)
    assert loaded.per_example.keys() == original.per_example.keys()
    for key, value in original.per_example.items():
        np.testing.assert_array_equal(loaded.per_example[key], value)
        assert loaded.per_example[key].dtype == value.dtype
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(FILES + OPTIONAL_FILES)


def test_a_result_stored_before_per_step_losses_loads_with_an_empty_table(tmp_path):
    folder = fixture_result().save(tmp_path / "run")
    (folder / "losses.parquet").unlink()
    loaded = Result.load(folder)
    assert loaded.losses.empty and list(loaded.losses.columns) == [
        "branch",
        "step",
        "t_eff",
        "group",
        "loss",
        "loss_avg2",
    ]
    assert len(delta_loss(loaded)) == 3 * len(GROUPS)  # from the logged steps


def test_missing_and_corrupt_files_are_reported(tmp_path):
    folder = fixture_result().save(tmp_path / "run")
    (folder / "groups.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ResultError, match="corrupt"):
        Result.load(folder)
    (folder / "groups.parquet").unlink()
    with pytest.raises(ResultError, match=r"missing groups\.parquet"):
        Result.load(folder)


def test_pickled_arrays_are_refused(tmp_path):
    files = fixture_result().to_files()
    buffer = io.BytesIO()
    np.savez(buffer, baseline_steps=np.array([object()], dtype=object))
    files["per_example.npz"] = buffer.getvalue()
    with pytest.raises(ResultError, match="corrupt"):
        Result.from_files(files)


def test_delta_loss_on_logged_steps_only_interpolates_at_equal_effective_time():
    """Results stored before per-step losses existed: the logged grid, interpolated."""
    result = fixture_result()
    result.losses = result.losses.iloc[:0]
    deltas = delta_loss(result)
    # exit step 40 sits at t_eff = 3.0; the baseline is linear in t_eff, so its loss there is
    # 1 − 0.1·3·(k+1) exactly, and the exit's own loss is the same formula: Δ = 0.
    assert np.allclose(deltas.delta_loss, 0.0, atol=1e-12)
    assert len(deltas) == 3 * len(GROUPS)
    result.groups.loc[result.groups.branch == "exit", "loss_avg2"] += 0.25  # the exit branch lags behind
    assert np.allclose(delta_loss(result).delta_loss, 0.25)


# ℓ̄ of one group on the baseline at every step 0..12: an EoS curve that swings between steps.
SPIKY = np.array([0.50, 0.45, 0.07, 0.45, 0.07, 0.45, 0.07, 0.45, 0.07, 0.45, 0.07, 0.45, 0.07])


def oscillating_result(c: float) -> Result:
    """Baseline logged every 2 steps, ℓ̄ = SPIKY at every step; fork at t* = 4; the exit branch
    (logged at 4, 6, …, 12) has ℓ̄ = 0.3 throughout. Every group has the same curves."""
    t_star, lr = 4, 0.1
    every = [{"branch": "baseline", "step": s, "t_eff": lr * s, "loss_avg2": SPIKY[s]} for s in range(13)]
    every += [
        {"branch": "exit", "step": s, "t_eff": lr * (t_star + c * (s - t_star)), "loss_avg2": 0.3}
        for s in range(t_star, 13)
    ]
    losses = pd.DataFrame([{**row, "group": g, "loss": row["loss_avg2"]} for row in every for g in GROUPS])
    groups = losses[losses.step % 2 == 0].reset_index(drop=True)
    meta = {"status": "done", "config": {"lr": lr, "c": c}, "t_star": t_star}
    return Result(meta, pd.DataFrame(), groups, pd.DataFrame(), {}, losses)


@pytest.mark.parametrize(
    "c,expected",
    [
        # exit step s ↔ baseline step 4 + c·(s − 4): c = 0.5 → 4, 5, 6, 7, 8 — all whole steps
        (0.5, [0.3 - 0.07, 0.3 - 0.45, 0.3 - 0.07, 0.3 - 0.45, 0.3 - 0.07]),
        # c = 0.25 → 4, 4.5, 5, 5.5, 6 — halves interpolate between the two adjacent steps only
        (0.25, [0.3 - 0.07, 0.3 - 0.26, 0.3 - 0.45, 0.3 - 0.26, 0.3 - 0.07]),
    ],
)
def test_delta_loss_matches_whole_baseline_steps_exactly_on_an_oscillating_loss(c, expected):
    deltas = delta_loss(oscillating_result(c))
    for group in GROUPS:
        mine = deltas[deltas.group == group]
        assert list(mine.step) == [4, 6, 8, 10, 12]
        np.testing.assert_allclose(mine.delta_loss, expected, rtol=0, atol=1e-15)
    # the logged grid alone (what was stored before) would have read 0.07 at step 5 and 7: wrong
    logged_only = oscillating_result(c)
    logged_only.losses = logged_only.losses.iloc[:0]
    assert not np.allclose(delta_loss(logged_only).delta_loss.to_numpy()[:5], expected)


def test_results_stored_with_the_old_coefficient_names_read_as_a_S_b_S():
    old = fixture_result()
    old.trace = old.trace.assign(alpha=2.0, beta=4.0)
    loaded = Result.from_files(old.to_files())
    assert {"a_S", "b_S"} <= set(loaded.trace.columns) and not {"alpha", "beta"} & set(loaded.trace.columns)


@pytest.mark.training
def test_summary_of_a_momentum_run_measures_sharpness_against_two_plus_two_beta_over_eta():
    from tiny import TINY

    from eos_core.analysis.results import summary
    from eos_core.science.experiment import run_experiment

    cfg = TINY.replace(optimizer="momentum", momentum=0.5, lr=0.02)
    result = run_experiment(cfg)
    s = summary(result)
    base = result.trace[result.trace.branch == "baseline"]
    threshold = (2 + 2 * 0.5) / 0.02  # 150, not 2/η = 100
    assert s["threshold_symbol"] == "(2+2β)/η"
    assert s["final_lambda1_over_threshold"] == pytest.approx(base.lambda1.iloc[-1] / threshold, rel=1e-12)
    after = base[base.step >= result.meta["t_star"]].lambda1.median()
    assert s["median_lambda1_over_threshold_after_onset"] == pytest.approx(after / threshold, rel=1e-12)
    assert result.meta["onset_rule"]["threshold"] == pytest.approx(threshold)
    assert result.meta["onset_rule"]["exit_threshold"] == pytest.approx(threshold / cfg.c)
    assert "(2+2β)/(c·η)" in result.meta["onset_rule"]["rule"]

"""Result folders: written and read back identically, never through pickle; Δℓ_k by hand."""
import io

import numpy as np
import pandas as pd
import pytest

from eos_core.config import GROUPS
from eos_core.results import FILES, Result, ResultError, delta_loss


def fixture_result() -> Result:
    rows = []
    for branch, steps, lr in (("baseline", range(0, 50, 10), 0.1), ("exit", range(20, 50, 10), 0.05)):
        for step in steps:
            t_eff = step * 0.1 if branch == "baseline" else 2.0 + (step - 20) * 0.05
            for k, group in enumerate(GROUPS):
                rows.append({"branch": branch, "step": step, "t_eff": t_eff, "group": group,
                             "loss": 1.0 - 0.1 * t_eff * (k + 1), "loss_avg2": 1.0 - 0.1 * t_eff * (k + 1)})
    groups = pd.DataFrame(rows)
    trace = pd.DataFrame({"branch": ["baseline"] * 5, "step": range(0, 50, 10), "lambda1": np.linspace(1, 2, 5)})
    examples = pd.DataFrame({"index": np.arange(4), "group": ["inlier", "", "boundary", ""],
                             "centroid_distance": [0.5, 1.0, 2.0, 3.0]})
    per_example = {"baseline_steps": np.arange(5), "baseline_cos2": np.random.default_rng(0).random((5, 4), dtype=np.float32)}
    return Result({"status": "done", "config": {"lr": 0.1}, "t_star": 20}, trace, groups, examples, per_example)


def test_round_trip_is_identical(tmp_path):
    original = fixture_result()
    loaded = Result.load(original.save(tmp_path / "run"))
    assert loaded.meta == original.meta
    for name in ("trace", "groups", "examples"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(original, name), check_exact=True)
    assert loaded.per_example.keys() == original.per_example.keys()
    for key, value in original.per_example.items():
        np.testing.assert_array_equal(loaded.per_example[key], value)
        assert loaded.per_example[key].dtype == value.dtype
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(FILES)


def test_missing_and_corrupt_files_are_reported(tmp_path):
    folder = fixture_result().save(tmp_path / "run")
    (folder / "groups.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ResultError, match="corrupt"):
        Result.load(folder)
    (folder / "groups.parquet").unlink()
    with pytest.raises(ResultError, match="missing groups.parquet"):
        Result.load(folder)


def test_pickled_arrays_are_refused(tmp_path):
    files = fixture_result().to_files()
    buffer = io.BytesIO()
    np.savez(buffer, baseline_steps=np.array([object()], dtype=object))
    files["per_example.npz"] = buffer.getvalue()
    with pytest.raises(ResultError, match="corrupt"):
        Result.from_files(files)


def test_delta_loss_interpolates_at_equal_effective_time():
    deltas = delta_loss(fixture_result().groups)
    # exit step 40 sits at t_eff = 3.0; the baseline is linear in t_eff, so its loss there is
    # 1 − 0.1·3·(k+1) exactly, and the exit's own loss is the same formula: Δ = 0.
    assert np.allclose(deltas.delta_loss, 0.0, atol=1e-12)
    assert len(deltas) == 3 * len(GROUPS)
    groups = fixture_result().groups
    groups.loc[groups.branch == "exit", "loss_avg2"] += 0.25   # the exit branch lags behind
    assert np.allclose(delta_loss(groups).delta_loss, 0.25)


def test_results_stored_with_the_old_coefficient_names_read_as_a_S_b_S():
    old = fixture_result()
    old.trace = old.trace.assign(alpha=2.0, beta=4.0)
    loaded = Result.from_files(old.to_files())
    assert {"a_S", "b_S"} <= set(loaded.trace.columns) and not {"alpha", "beta"} & set(loaded.trace.columns)

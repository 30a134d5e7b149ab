"""Reading a stored valley (torch-free): the steps with a slice, the error that lists them, the
curvature and slope of a slice, and the exit branch paired at equal effective time — on a hand-made
result whose slices are exact parabolas."""

import numpy as np
import pandas as pd
import pytest
from tiny import TINY

from eos_core.analysis.results import VALLEY_FILES, Result
from eos_core.analysis.valley import ValleyError, paired_checkpoints, slice_table, valley_at, valley_steps

CFG = TINY.replace(valley_every=10, c=0.5, lr=0.05)  # 2/η = 40, 2/(c·η) = 80
CURVATURE = {"baseline": 40.0, "exit": 20.0}
SLOPE = 0.3


def parabola_rows(branch: str, step: int, t_eff: float) -> list[dict]:
    s = np.linspace(-0.2, 0.2, 41)
    loss = 1.0 + SLOPE * s + 0.5 * CURVATURE[branch] * s**2
    return [
        {"branch": branch, "step": step, "t_eff": t_eff, "kind": "slice", "s1": a, "s2": 0.0, "loss": b}
        for a, b in zip(s, loss)
    ]


def hand_made() -> Result:
    """Baseline checkpoints 0, 10, 20, 30 (t* = 10); exit checkpoints 10 and 30 (t_eff 0.5 + 20·0.025 = 1.0)."""
    cells = [("baseline", s, s * CFG.lr) for s in (0, 10, 20, 30)] + [("exit", 10, 0.5), ("exit", 30, 1.0)]
    valley = pd.DataFrame([row for cell in cells for row in parabola_rows(*cell)])
    iterates = pd.DataFrame(
        [
            {"branch": "baseline", "step": 20, "t_eff": 1.0, "lag": j, "s1": (-1) ** j * 0.01, "s2": 0.0, "loss": 1.0}
            for j in (2, 1)
        ]
    )
    meta = {"config": CFG.to_dict(), "t_star": 10, "status": "done"}
    return Result(meta, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), valley=valley, valley_iterates=iterates)


def test_a_step_without_a_slice_is_refused_with_the_steps_that_have_one():
    result = hand_made()
    assert valley_steps(result, "baseline") == [0, 10, 20, 30] and valley_steps(result, "exit") == [10, 30]
    with pytest.raises(
        ValleyError, match=r"^no valley slice at step 15 on the baseline branch; steps with one: 0, 10, 20, 30$"
    ):
        valley_at(result, "baseline", 15)
    with pytest.raises(ValleyError, match=r"exit branch; steps with one: 10, 30$"):
        valley_at(result, "exit", 20)


def test_a_run_without_slices_says_how_to_get_them():
    empty = Result({"config": TINY.to_dict()}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    with pytest.raises(ValleyError, match="valley_every"):
        valley_at(empty, "baseline", 0)


def test_a_parabolas_curvature_and_slope_are_read_back_exactly():
    for branch, step in (("baseline", 20), ("exit", 30)):
        valley = valley_at(hand_made(), branch, step)
        # a parabola's centred differences are exact: only rounding (~1e-16/h² relative) remains
        assert valley.curvature == pytest.approx(CURVATURE[branch], rel=1e-9)
        assert valley.slope == pytest.approx(SLOPE, rel=1e-9)
        assert valley.loss == pytest.approx(1.0)
    base = valley_at(hand_made(), "baseline", 20)
    assert base.threshold.value == pytest.approx(40) and list(base.iterates.lag) == [1, 2]
    table = slice_table(base)
    assert list(table.columns) == ["offset_along_v1", "loss", "rise"] and table.rise.min() <= 0 <= table.rise.max()


def test_the_exit_branch_pairs_with_the_baseline_at_equal_effective_time():
    assert paired_checkpoints(hand_made()) == [(0, None), (10, 10), (20, 30), (30, None)]


def test_the_explainer_reads_each_branchs_curvature_against_its_threshold():
    from dashboard.content import narrative

    text = " ".join(narrative.valley(hand_made()))
    assert (
        "EoS branch: the valley's curvature is 1.00 × 2/η at step 0 and 1.00 × 2/η at step 30 (4 checkpoints)" in text
    )
    assert "Exit branch: the valley's curvature is 0.25 × 2/(c·η) at step 10 and 0.25 × 2/(c·η) at step 30" in text
    empty = Result({"config": TINY.to_dict()}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert "valley_every" in narrative.valley(empty)[0]


def test_a_run_that_sliced_stores_both_tables_and_reads_them_back_exactly():
    result = hand_made()
    result.valley_iterates = result.valley_iterates.iloc[:0]  # e.g. every slice at a branch's first step
    files = result.to_files()
    assert set(VALLEY_FILES) <= set(files)
    loaded = Result.from_files(files)
    pd.testing.assert_frame_equal(loaded.valley, result.valley, check_exact=True)
    assert list(loaded.valley_iterates.columns) == list(result.valley_iterates.columns) and not len(
        loaded.valley_iterates
    )
    plain = Result({"config": TINY.to_dict()}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert not set(VALLEY_FILES) & set(plain.to_files())

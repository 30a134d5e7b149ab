"""analysis.central on a hand-made result: the central flow's rows are the baseline's ℓ̄_k times a
known factor, so every error and implied Δℓ_k is known exactly."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from eos_core.analysis import central
from eos_core.analysis.aggregate import aggregate
from eos_core.analysis.results import delta_loss
from tests.synthetic_result import DELTA, T_STAR, synthetic_result

ERROR = {"inlier": 0.1, "boundary": -0.05, "input_outlier": 0.0, "output_outlier": 0.3}


def with_central_flow(result, error=ERROR):
    base = result.groups[(result.groups.branch == "baseline") & (result.groups.step >= T_STAR)]
    flow = base[["step", "t_eff", "group", "loss"]].assign(branch="central_flow")
    flow["predicted_loss"] = base.loss_avg2 * (1 + base.group.map(error))
    groups = pd.concat([result.groups, flow], ignore_index=True)
    meta = {**result.meta, "flows": {"central_flow": {"status": "done", "message": "", "wall_s": 1.0, "rows": 1}}}
    return dataclasses.replace(result, groups=groups, meta=meta)


def test_median_relative_error_is_the_known_factor_per_group():
    result = with_central_flow(synthetic_result())
    got = central.median_relative_error(result)
    assert got.to_dict() == pytest.approx({k: abs(v) for k, v in ERROR.items()}, abs=1e-12)
    table = central.central_comparison(result)
    assert table.step.min() == T_STAR  # the EoS phase starts at t*


def test_predicted_delta_is_the_measured_delta_when_the_prediction_is_exact():
    result = with_central_flow(synthetic_result(), dict.fromkeys(ERROR, 0.0))
    delta = central.predicted_delta(result)
    after = delta[delta.step > T_STAR]
    assert len(after) > 0
    # the baseline's ℓ̄_k is linear in t_eff, so interpolating the flow's rows is exact
    assert np.allclose(after.predicted, after.measured, atol=1e-12)
    assert np.allclose(after.measured, after.group.map(DELTA), atol=1e-12)
    summary = central.summary(result).set_index("group")
    assert (summary.sign_agrees == 1.0).all()


def test_a_run_without_the_flow_has_an_empty_comparison():
    result = synthetic_result()
    assert not central.has_central_flow(result)
    assert central.central_comparison(result).empty and central.summary(result).empty
    assert central.flow_status(result) == {}


def test_the_flow_is_not_taken_for_the_exit_branch():
    plain, result = synthetic_result(), with_central_flow(synthetic_result())
    pd.testing.assert_frame_equal(delta_loss(result), delta_loss(plain))
    groups = aggregate([result])["groups"]
    flow = groups[(groups.branch == "central_flow") & (groups.quantity == "predicted_loss")]
    lr = result.meta["config"]["lr"]
    assert np.allclose(flow.tau, lr * flow.steps_since_fork)  # the flow advances at η, not c·η

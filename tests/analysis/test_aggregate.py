"""Seed aggregation against medians and quartiles computed by hand."""

import numpy as np
import pandas as pd
import pytest

from eos_core.analysis.aggregate import aggregate
from eos_core.analysis.results import Result
from eos_core.groups import GROUPS

LR, C, EVERY = 0.1, 0.5, 10


def seed_result(seed: int, t_star: int, lam_offset: float) -> Result:
    trace, groups = [], []
    for branch, start in (("baseline", 0), ("exit", t_star)):
        for step in range(start, 60 + 1, EVERY):
            lr = LR if branch == "baseline" or step == t_star else C * LR
            t_eff = LR * min(step, t_star) + (LR if branch == "baseline" else C * LR) * max(step - t_star, 0)
            trace.append(
                {"branch": branch, "step": step, "t_eff": t_eff, "lr": lr, "lambda1": lam_offset + step - t_star}
            )
            for k, g in enumerate(GROUPS):
                groups.append(
                    {
                        "branch": branch,
                        "step": step,
                        "t_eff": t_eff,
                        "group": g,
                        "loss": 1.0 + seed + k,
                        "loss_avg2": 1.0 + seed + k + (branch == "exit"),
                    }
                )
    meta = {
        "config": {"lr": LR, "c": C, "seed": seed},
        "config_hash": f"h{seed}",
        "status": "done",
        "t_star": t_star,
        "t_star_star": None,
    }
    return Result(meta, pd.DataFrame(trace), pd.DataFrame(groups), pd.DataFrame(), {})


def test_median_and_quartiles_by_hand():
    offsets = [0.0, 4.0, 10.0]
    results = [seed_result(s, t, o) for s, (t, o) in enumerate(zip([20, 30, 20], offsets))]
    agg = aggregate(results)
    row = agg["trace"].query("branch == 'baseline' and steps_since_fork == 10 and quantity == 'lambda1'").iloc[0]
    values = np.array(offsets) + 10  # λ1 = offset + (step − t*) at 10 steps after each fork
    assert row["median"] == pytest.approx(np.median(values))
    assert row["q25"] == pytest.approx(np.percentile(values, 25))
    assert row["q75"] == pytest.approx(np.percentile(values, 75))
    assert row["n_seeds"] == 3 and row["tau"] == pytest.approx(LR * 10)
    exit_row = agg["trace"].query("branch == 'exit' and steps_since_fork == 20 and quantity == 'lambda1'").iloc[0]
    assert exit_row["tau"] == pytest.approx(C * LR * 20)
    # runs end at step 60: 40 steps after the fork only the two seeds forked at t* = 20 remain
    late = agg["trace"].query("branch == 'baseline' and steps_since_fork == 40 and quantity == 'lambda1'")
    assert late.iloc[0]["n_seeds"] == 2
    group = (
        agg["groups"]
        .query("branch == 'exit' and steps_since_fork == 0 and group == 'boundary' and quantity == 'loss'")
        .iloc[0]
    )
    assert group["median"] == pytest.approx(np.median([2.0, 3.0, 4.0]))
    assert list(agg["seeds"].t_star) == [20, 30, 20]


def test_delta_loss_is_aggregated_and_runs_without_a_fork_are_listed_only():
    results = [seed_result(0, 20, 0.0), seed_result(1, 20, 0.0)]
    results.append(
        Result(
            {
                **results[0].meta,
                "t_star": None,
                "status": "no_onset",
                "config_hash": "h9",
                "config": {"lr": LR, "c": C, "seed": 9},
            },
            results[0].trace,
            results[0].groups,
            pd.DataFrame(),
            {},
        )
    )
    agg = aggregate(results)
    assert set(agg["delta"].query("quantity == 'delta_loss'")["median"]) == {1.0}  # exit lags by exactly 1
    assert agg["delta"]["n_seeds"].max() == 2
    assert list(agg["seeds"].status) == ["done", "done", "no_onset"]

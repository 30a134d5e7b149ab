"""The distance between a branch and the EoS branch at equal effective time."""

import pytest
import torch
from tiny import TINY

from eos_core.groups import GROUPS
from eos_core.science.branching import prepare, run_baseline, run_exit
from eos_core.science.distance import Shadow

pytestmark = pytest.mark.training

# c·log_every = 1: exit logged step 5j (from t*) has the effective time of baseline step t* + j exactly
CFG = TINY.replace(dtype="float64", c=0.2, steps=40)


def _thetas(setup, cfg, run) -> dict:
    """θ at the top of every logged step of the branch `run` trains, by step."""
    kept = {}
    run(setup, cfg, checkpoint=lambda flight: kept.setdefault(flight.step, flight.theta.clone()))
    return kept


def test_the_shadow_is_the_stored_baseline_bit_for_bit():
    setup = prepare(CFG)
    stored = {}
    baseline = run_baseline(setup, CFG, checkpoint=lambda flight: stored.setdefault(flight.step, flight.theta.clone()))
    shadow = Shadow(setup, CFG, baseline.fork)
    for step in sorted(s for s in stored if s > baseline.fork.step):
        shadow.advance_to(step)
        assert torch.equal(shadow.theta, stored[step])  # exact: the same updates in the same order


def test_distances_match_an_explicit_computation_from_saved_weights():
    setup = prepare(CFG)
    baseline = run_baseline(setup, CFG)
    fork = baseline.fork
    # the baseline at every step: the same run logged every step (diagnostics do not move θ)
    every = CFG.replace(log_every=1, example_every=1)
    base_theta = _thetas(prepare(every), every, run_baseline)
    exit_theta = {}
    exit_ = run_exit(
        setup,
        CFG,
        fork,
        checkpoint=lambda flight: exit_theta.setdefault(flight.step, flight.theta.clone()),
        measure=Shadow(setup, CFG, fork).measure,
    )
    model, x = setup.problem.model, setup.problem.x
    checked = 0
    for row in exit_.rows:
        s = row["step"]
        partner = fork.step + round(CFG.c * (s - fork.step))
        a, b = exit_theta[s], base_theta[partner]
        difference = (model(a, x) - model(b, x)).pow(2).sum(1)
        assert row["distance_time_gap"] == pytest.approx(0, abs=1e-12)
        assert row["branch_distance"] == pytest.approx((a - b).norm().item(), rel=1e-12, abs=1e-14)
        assert row["output_rms"] == pytest.approx(difference.mean().sqrt().item(), rel=1e-12, abs=1e-14)
        groups = [g for g in exit_.group_rows if g["step"] == s]
        for name, g, members in zip(GROUPS, groups, setup.problem.groups):
            assert g["group"] == name
            assert g["output_rms"] == pytest.approx(difference[members].mean().sqrt().item(), rel=1e-12, abs=1e-14)
        checked += row["branch_distance"] > 0
    assert checked >= 5  # the branches did move apart: the comparison is not of zeros


def test_an_inexact_time_match_uses_the_nearest_baseline_step_and_stores_the_gap():
    cfg = TINY.replace(c=0.5, steps=30)  # c·log_every = 2.5: every other logged step falls between two
    setup = prepare(cfg)
    baseline = run_baseline(setup, cfg)
    exit_ = run_exit(setup, cfg, baseline.fork, measure=Shadow(setup, cfg, baseline.fork).measure)
    gaps = [abs(r["distance_time_gap"]) for r in exit_.rows]
    assert max(gaps) == pytest.approx(cfg.lr / 2, rel=1e-9)  # half a baseline step at most
    assert min(gaps) < 1e-12

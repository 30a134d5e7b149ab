"""Momentum and SGD: thresholds, onset on a quadratic, exact forks, reproducible batches."""

import pandas as pd
import pytest
import torch
from test_branching import quadratic_setup, trace_of
from tiny import TINY

from eos_core.config import RunConfig, stability_threshold
from eos_core.science.branching import prepare, run_baseline, run_branch, run_exit
from eos_core.science.optim import Optimiser
from eos_core.science.snapshot import pack_baseline, unpack_baseline


def test_thresholds():
    assert stability_threshold(RunConfig(lr=0.01), 0.01)[0] == pytest.approx(200)
    assert stability_threshold(RunConfig(lr=0.01, optimizer="momentum", momentum=0.9), 0.01)[0] == pytest.approx(380)
    assert stability_threshold(RunConfig(lr=0.01, optimizer="sgd"), 0.005)[0] == pytest.approx(400)


@pytest.mark.parametrize("factor,stable", [(0.9, True), (1.1, False)])
def test_heavy_ball_on_a_quadratic_is_stable_exactly_below_2_plus_2beta_over_eta(factor, stable):
    """On a quadratic, heavy ball along an eigenvector with λ obeys x' = (1 + β − ηλ)x − βx₋₁, which
    is stable iff ηλ < 2 + 2β: the onset rule with f = 1 must fire exactly when that fails."""
    setup, lam1 = quadratic_setup()
    beta = 0.9
    lr = factor * (2 + 2 * beta) / lam1
    cfg = RunConfig(
        lr=lr, steps=200, log_every=10, example_every=10, onset_fraction=1.0, optimizer="momentum", momentum=beta
    )
    threshold = stability_threshold(cfg, lr)[0]
    branch = run_branch(setup, cfg, "baseline", setup.theta0, 0, 0.0, lr, None, threshold, fork_at_onset=True)
    assert (branch.fork is None) == stable
    losses = [r["loss"] for r in branch.rows]
    if stable:
        assert losses[-1] < losses[0]
    else:
        assert branch.diverged_at is not None or losses[-1] > 10 * losses[0]


def test_momentum_fork_keeps_the_buffer_and_c_one_reproduces_the_baseline():
    cfg = TINY.replace(optimizer="momentum", lr=0.01, c=1.0, init_scale=0.3, onset_fraction=0.015)  # λ1: 4 → 9
    setup = prepare(cfg)
    baseline = run_baseline(setup, cfg)
    fork = baseline.fork
    assert fork is not None and fork.buffer is not None and fork.step > 0
    restored = unpack_baseline(pack_baseline(baseline), "cpu").fork
    assert torch.equal(restored.buffer, fork.buffer) and torch.equal(restored.theta, fork.theta)
    exit_ = run_exit(setup, cfg, restored)
    base = trace_of(baseline)
    pd.testing.assert_frame_equal(
        trace_of(exit_), base[base.step >= fork.step].reset_index(drop=True), check_exact=True
    )


def test_sgd_batches_are_reproducible_permutations():
    cfg = TINY.replace(optimizer="sgd", batch_size=16)
    a, b = Optimiser(cfg, 80), Optimiser(cfg, 80)
    epoch = torch.cat([a.batch(step) for step in range(5)])
    assert sorted(epoch.tolist()) == list(range(80))  # one epoch covers every example once
    assert all(torch.equal(a.batch(s), b.batch(s)) for s in range(12))
    other = Optimiser(cfg.replace(seed=1), 80)
    assert not torch.equal(other.batch(0), a.batch(0))
    assert not torch.equal(a.batch(5), a.batch(0))  # a new epoch, a new order


def test_sgd_runs_with_full_batch_diagnostics_and_exact_forks():
    cfg = TINY.replace(optimizer="sgd", batch_size=16, c=1.0)
    setup = prepare(cfg)
    baseline = run_baseline(setup, cfg)
    exit_ = run_exit(setup, cfg, baseline.fork)
    base = trace_of(baseline)
    pd.testing.assert_frame_equal(
        trace_of(exit_), base[base.step >= baseline.fork.step].reset_index(drop=True), check_exact=True
    )
    assert base.loss_avg2.notna().all()


def test_one_threshold_function_gives_value_and_symbol_for_configs_and_stored_dicts():
    from eos_core.config import branch_thresholds

    cfg = RunConfig(lr=0.01, c=0.5, optimizer="momentum", momentum=0.9)
    for config in (cfg, cfg.to_dict()):
        base, exit_ = branch_thresholds(config).values()
        assert (base.value, base.symbol) == (pytest.approx(380), "(2+2β)/η")
        assert (exit_.value, exit_.symbol) == (pytest.approx(760), "(2+2β)/(c·η)")
    gd = branch_thresholds(RunConfig(lr=0.01, c=0.25))
    assert (gd["baseline"].value, gd["baseline"].symbol) == (pytest.approx(200), "2/η")
    assert (gd["exit"].value, gd["exit"].symbol) == (pytest.approx(800), "2/(c·η)")

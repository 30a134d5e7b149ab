"""The branching experiment: exact forks, determinism, onset and divergence detection."""

import numpy as np
import pandas as pd
import pytest
import torch
from tiny import TINY
from torch import nn

from eos_core.config import RunConfig
from eos_core.groups import GROUPS
from eos_core.science import models
from eos_core.science.branching import Setup, prepare, run_baseline, run_branch, run_exit
from eos_core.science.experiment import run_experiment
from eos_core.science.problem import Problem


def trace_of(branch):
    # raw rows gain probe columns from t* on, so compare columns by name, not by first appearance
    return pd.DataFrame(branch.rows).drop(columns=["branch", "t_eff", "lr"]).sort_index(axis=1)


def test_exit_branch_starts_from_the_baseline_state_bit_for_bit():
    setup = prepare(TINY)
    baseline = run_baseline(setup, TINY)
    fork = baseline.fork
    assert fork is not None and fork.step == baseline.crossing
    exit_ = run_exit(setup, TINY, fork)
    base_at_fork = next(r for r in baseline.rows if r["step"] == fork.step)
    first = exit_.rows[0]
    same = {k: first[k] for k in base_at_fork if k not in ("branch", "lr", "loss_avg2")}
    assert same == {k: base_at_fork[k] for k in same}  # exact equality, not approx
    assert exit_.rows[1]["t_eff"] == pytest.approx(fork.t_eff + TINY.log_every * TINY.c * TINY.lr)


def test_c_equal_one_reproduces_the_baseline():
    cfg = TINY.replace(c=1.0)
    setup = prepare(cfg)
    baseline = run_baseline(setup, cfg)
    exit_ = run_exit(setup, cfg, baseline.fork)
    base = trace_of(baseline)
    base = base[base.step >= baseline.fork.step].reset_index(drop=True)
    pd.testing.assert_frame_equal(trace_of(exit_), base, check_exact=True)
    assert exit_.crossing == baseline.fork.step


def test_same_config_twice_gives_identical_tables():
    a, b = run_experiment(TINY), run_experiment(TINY)
    pd.testing.assert_frame_equal(a.trace, b.trace, check_exact=True)
    pd.testing.assert_frame_equal(a.groups, b.groups, check_exact=True)
    for key in a.per_example:
        np.testing.assert_array_equal(a.per_example[key], b.per_example[key])
    assert a.meta["t_star"] == b.meta["t_star"] is not None


def test_no_onset_is_reported_plainly():
    result = run_experiment(TINY.replace(onset_fraction=1.5, lr=0.001))
    assert result.status == "no_onset" and result.meta["t_star"] is None
    assert "no EoS onset within 60 steps" in result.meta["message"]
    assert set(result.trace.branch) == {"baseline"} and len(result.trace) == 13


def quadratic_setup(dtype=torch.float64):
    """A linear model under MSE: L(θ) = mean_i ‖W x_i + b − y_i‖² is a quadratic whose Hessian
    is 2·E[x̃x̃ᵀ] ⊗ I₂ with x̃ = (x, 1), so λ1 = 2·λ_max(E[x̃x̃ᵀ]) is known in closed form."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, 1, 3, generator=g, dtype=dtype) * torch.tensor([1.0, 2.0, 0.5], dtype=dtype)
    y = (torch.arange(32) % 2).long()
    module = nn.Sequential(nn.Flatten(), nn.Linear(3, 2)).to(dtype)
    flat = models.FlatModel(module)
    groups = [torch.arange(4 * i, 4 * i + 4) for i in range(4)]
    xt = torch.cat([x.reshape(32, 3), torch.ones(32, 1, dtype=dtype)], 1)
    lam1 = float(2 * torch.linalg.eigvalsh(xt.T @ xt / 32)[-1])
    setup = Setup(Problem(flat, x, y, "mse", groups), flat.initial_theta().detach(), None, np.arange(32.0), "cpu")
    return setup, lam1


@pytest.mark.parametrize("factor,fires", [(2.2, True), (1.8, False)])
def test_gd_on_a_quadratic_detects_eta_above_two_over_lambda(factor, fires):
    setup, lam1 = quadratic_setup()
    lr = factor / lam1
    cfg = RunConfig(lr=lr, steps=20, log_every=4, example_every=4, onset_fraction=1.0)
    branch = run_branch(setup, cfg, "baseline", setup.theta0, 0, 0.0, lr, None, 2 / lr, fork_at_onset=True)
    assert branch.rows[0]["lambda1"] == pytest.approx(lam1, rel=1e-9)
    assert (branch.fork is not None) == fires
    assert branch.diverged_at is None


def test_divergence_keeps_the_partial_trace():
    setup, lam1 = quadratic_setup(torch.float32)
    setup.problem.x, setup.theta0 = setup.problem.x.float(), setup.theta0.float()
    lr = 4 / lam1  # multiplier 1 − ηλ1 = −3 per step: float32 overflows within ~80 steps
    cfg = RunConfig(lr=lr, steps=400, log_every=10, example_every=10)
    branch = run_branch(setup, cfg, "baseline", setup.theta0, 0, 0.0, lr, None, 2 / lr, fork_at_onset=True)
    assert branch.diverged_at is not None and branch.diverged_at < 400
    assert len(branch.rows) == branch.diverged_at // 10
    assert all(np.isfinite(r["loss"]) for r in branch.rows)


def test_two_step_averages_are_complete_when_every_step_is_logged():
    result = run_experiment(TINY.replace(steps=6, log_every=1, example_every=1))
    assert result.trace.loss_avg2.notna().all() and result.groups.loss_avg2.notna().all()
    base = result.trace[result.trace.branch == "baseline"].set_index("step")
    assert base.loss_avg2[2] == pytest.approx((base.loss[2] + base.loss[3]) / 2)


def test_every_step_group_losses_match_an_independent_gd_loop():
    """ℓ_k at every step of both branches (not only the logged ones), and ℓ̄_k = (ℓ_k(t) + ℓ_k(t+1))/2,
    against plain GD written out here: θ ← θ − η∇L from θ0, then c·η from t*."""
    result = run_experiment(TINY)
    setup = prepare(TINY)
    problem, t_star = setup.problem, result.meta["t_star"]

    theta, reference, fork_theta = setup.theta0, {}, None
    for step in range(TINY.steps + 2):  # the baseline, keeping θ at t*
        if step == t_star:
            fork_theta = theta
        reference[step] = [float(problem.losses(theta).detach()[index].double().mean()) for index in problem.groups]
        theta = theta - TINY.lr * problem.step_gradient(theta)[0]
    exit_reference, theta = {}, fork_theta
    for step in range(t_star, TINY.steps + 2):
        exit_reference[step] = [
            float(problem.losses(theta).detach()[index].double().mean()) for index in problem.groups
        ]
        theta = theta - TINY.c * TINY.lr * problem.step_gradient(theta)[0]

    for branch, ref, first in (("baseline", reference, 0), ("exit", exit_reference, t_star)):
        table = result.losses[result.losses.branch == branch]
        assert sorted(set(table.step)) == list(range(first, TINY.steps + 1))  # every step, none beyond
        for k, group in enumerate(GROUPS):
            mine = table[table.group == group].set_index("step")
            want = np.array([ref[s][k] for s in mine.index])
            want_avg = np.array([(ref[s][k] + ref[s + 1][k]) / 2 for s in mine.index])
            # float32 training: the same ops in the same order, only the group mean's summation differs
            np.testing.assert_allclose(mine.loss, want, rtol=2e-6)
            np.testing.assert_allclose(mine.loss_avg2, want_avg, rtol=2e-6)
    logged = result.groups.merge(result.losses, on=["branch", "step", "group"], suffixes=("", "_every"))
    assert len(logged) == len(result.groups)
    np.testing.assert_allclose(logged.loss_every, logged.loss, rtol=2e-6)
    np.testing.assert_allclose(logged.loss_avg2_every, logged.loss_avg2, rtol=2e-6)


def test_mechanism_terms_keep_their_own_cadence_and_change_nothing_else():
    sharpening = TINY.replace(init_scale=0.3, lr=0.2, onset_fraction=0.9)  # t* = 25, off the every-3rd grid
    every = run_experiment(sharpening.replace(mechanism_every=1))
    sparse = run_experiment(sharpening.replace(mechanism_every=3))
    mechanism = ["a_S", "b_S"]
    pd.testing.assert_frame_equal(every.trace.drop(columns=mechanism), sparse.trace.drop(columns=mechanism))
    pd.testing.assert_frame_equal(every.groups.drop(columns="Q"), sparse.groups.drop(columns="Q"))
    t_star = sparse.meta["t_star"]
    assert t_star == 25
    measured = sparse.trace.a_S.notna()
    expected = ((sparse.trace.step // TINY.log_every) % 3 == 0) | (sparse.trace.step == t_star)
    assert (measured == expected).all() and 0 < measured.sum() < len(measured)
    # where measured, the values are the dense run's: skipping a step changes no other step
    pd.testing.assert_frame_equal(sparse.trace[measured], every.trace[measured])
    q = sparse.groups.Q.notna()
    pd.testing.assert_frame_equal(sparse.groups[q], every.groups[q])
    assert (sparse.groups[q].step.isin(sparse.trace[measured].step)).all()

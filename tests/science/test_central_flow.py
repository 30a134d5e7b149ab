"""The central flow (science.central_flow) on a tiny smooth float64 problem, against independent
references: dense Hessians, explicit Euler gradient steps and the complementarity it solves.

The network is tanh, not the product's ReLU: with ReLU, λ1 jumps whenever an activation flips,
which no ∇S sees, and the flow's own error could not be told from those jumps."""

import dataclasses
import math

import pandas as pd
import pytest
import torch
from torch import nn

from eos_core.analysis.results import Result, delta_loss
from eos_core.config import RunConfig
from eos_core.science import central_flow as cf
from eos_core.science.branching import ForkState, Setup
from eos_core.science.curvature import top_eigenpairs
from eos_core.science.experiment import run_experiment
from eos_core.science.models import FlatModel
from eos_core.science.problem import Problem
from tests.tiny import TINY


def smooth_problem(seed: int = 0) -> tuple[Problem, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    model = FlatModel(module)
    x = torch.randn(16, 1, 2, 2, generator=g, dtype=torch.float64)
    y = (torch.arange(16) % 2).long()
    groups = [torch.arange(4 * i, 4 * i + 4) for i in range(4)]
    return Problem(model, x, y, "mse", groups), model.initial_theta()


def flow(problem, theta, lr, steps, log_every=1):
    cfg = RunConfig(
        dataset="synthetic",
        classes=("0", "1"),
        lr=lr,
        steps=steps,
        log_every=log_every,
        example_every=log_every,
        dtype="float64",
    )
    setup = Setup(problem, theta, None, None, "cpu")
    return cf.run_central_flow(setup, cfg, ForkState(0, 0.0, theta, None))


def sharpness(problem, theta) -> float:
    H = torch.autograd.functional.hessian(lambda t: problem.losses(t).mean(), theta)
    return float(torch.linalg.eigvalsh(H)[-1])


def test_sigma_squared_is_the_linearised_complementarity():
    thr, h, a, b = 10.0, 0.01, 3.0, 4.0
    # at the threshold: dS/dt = a − ½σ²b = 0
    assert cf.sigma_squared(thr, a, b, thr, h) == pytest.approx(2 * a / b, rel=1e-12)
    # below, and gradient flow would not reach it within the step: off
    assert cf.sigma_squared(thr - 1.0, a, b, thr, h) == 0.0
    # above: the linearised S at the step's end lands exactly on the threshold
    S = thr + 0.2
    s2 = cf.sigma_squared(S, a, b, thr, h)
    assert S + h * (a - 0.5 * s2 * b) == pytest.approx(thr, rel=1e-12)
    # sharpness falling on its own (a < 0) at the threshold: no oscillation is needed
    assert cf.sigma_squared(thr, -a, b, thr, h) == 0.0
    with pytest.raises(cf.FlowDiverged):
        cf.sigma_squared(S, a, 0.0, thr, h)


def test_group_curvatures_match_dense_group_hessians():
    problem, theta = smooth_problem()
    u = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u = u / u.norm()
    got = cf.group_curvatures(problem, theta, u)
    for members, value in zip(problem.groups, got):
        H_k = torch.autograd.functional.hessian(lambda t, m=members: problem.losses(t)[m].mean(), theta)
        assert value == pytest.approx(float(u @ H_k @ u), rel=1e-10, abs=1e-12)


def test_before_onset_the_flow_is_gradient_flow():
    """2/η far above λ1: σ² stays 0 and every Euler step is w − h·∇L, exactly."""
    problem, theta = smooth_problem()
    lr, steps = 0.01, 6  # threshold 200 against λ1 ≈ 1
    assert sharpness(problem, theta) < 0.1 * 2 / lr
    branch = flow(problem, theta, lr, steps)
    assert not branch.info["message"] and branch.diverged_at is None
    assert all(r["sigma2"] == 0 and r["sigma2_step"] == 0 for r in branch.rows)
    w = theta.clone()
    for _ in range(steps * cf.SUBSTEPS):
        w = w - (lr / cf.SUBSTEPS) * problem.step_gradient(w)[0]
    # the flow's last row is at w: its loss is the reference's
    assert branch.rows[-1]["loss"] == pytest.approx(float(problem.losses(w).mean()), rel=1e-12)
    assert [g["predicted_loss"] for g in branch.group_rows[-4:]] == pytest.approx(
        [float(problem.losses(w)[m].mean()) for m in problem.groups], rel=1e-12
    )


@pytest.mark.slow
def test_flow_holds_sharpness_at_the_threshold():
    """Threshold just above λ1 at θ0: the flow reaches it and σ² then keeps S there.

    Tolerance: each Euler step lands S on 2/η up to its linearisation error ½h²·d²S/dt²; with
    h = η/2 and this problem's S that is ~1e-4 relative, so 1e-3 of the threshold is generous for
    the drift while loose enough for the eigen-solver's own 1e-4 (curvature.RESIDUAL_TOL)."""
    problem, theta = smooth_problem()
    lam0 = sharpness(problem, theta)
    lr = 2 / (1.05 * lam0)
    branch = flow(problem, theta, lr, 120)
    assert branch.diverged_at is None, branch.info["message"]
    active = [r for r in branch.rows if r["sigma2_step"] > 0]  # the constraint holds at these
    assert len(active) > len(branch.rows) / 2  # the constraint is on for most of the run
    threshold = 2 / lr
    for r in active[1:]:  # from the second constrained row: the first may still be arriving
        assert abs(r["lambda1"] / threshold - 1) < 1e-3, r
    assert max(r["lambda1"] for r in branch.rows) / threshold < 1 + 1e-3
    # the prediction's σ², the steps' σ² averaged over a centred window, is the flow's 2·a_S/b_S
    # (dS/dt = 0) on a smooth loss: measured within 0.7% away from the onset and the end, where the
    # window is whole and σ² smooth (at the onset it averages in the zeros before it)
    onset = active[0]["step"]
    interior = [r for r in active if onset + 2 * cf.WINDOW <= r["step"] <= 120 - cf.WINDOW // 2]
    assert len(interior) > 20
    for r in interior:
        assert r["sigma2"] == pytest.approx(2 * r["a_S"] / r["b_S"], rel=1e-2)


def test_the_window_is_centred_and_cut_at_the_ends():
    history = [float(i) for i in range(200)]
    half = cf.WINDOW * cf.SUBSTEPS // 2
    assert cf.window_sigma_squared(history, 100) == pytest.approx(100.0)  # a linear σ² is tracked exactly
    assert cf.window_sigma_squared(history, 0) == pytest.approx(half / 2)  # one-sided at the start
    assert cf.window_sigma_squared(history, 199) == pytest.approx(199 - half / 2)


@pytest.mark.slow
def test_predicted_group_loss_is_the_group_loss_plus_half_sigma2_curvature():
    problem, theta = smooth_problem()
    lr = 2 / (1.05 * sharpness(problem, theta))
    branch = flow(problem, theta, lr, 40, log_every=20)
    row, groups = branch.rows[-1], branch.group_rows[-4:]
    assert row["sigma2"] > 0
    # the pieces: uᵀH_k u is checked against dense Hessians in test_group_curvatures_match_dense_group_hessians
    for g in groups:
        assert g["predicted_loss"] == pytest.approx(g["loss"] + 0.5 * row["sigma2"] * g["u_curvature"], rel=1e-12)
    # groups partition the examples in equal sizes: their curvatures average to λ1 = uᵀHu
    assert sum(g["u_curvature"] for g in groups) / 4 == pytest.approx(row["lambda1"], rel=1e-6)
    assert row["predicted_loss"] == pytest.approx(row["loss"] + 0.5 * row["sigma2"] * row["lambda1"], rel=1e-12)


def test_a_diverging_flow_stops_with_a_message_and_keeps_its_rows():
    problem, theta = smooth_problem()
    model = problem.model
    limit = float(theta.norm()) + 1e-3  # the flow's ‖θ‖ passes it within a few steps

    class Blows(FlatModel):
        def __call__(self, t, x):
            out = model(t, x)
            return out * math.inf if float(t.detach().norm()) > limit else out

    blown = Problem(Blows(model.module), problem.x, problem.y, "mse", problem.groups)
    branch = flow(blown, theta, 0.5, 50)
    assert branch.diverged_at is not None and 0 < branch.diverged_at < 50
    assert "stopped at step" in branch.info["message"] and "no longer finite" in branch.info["message"]
    assert len(branch.rows) == branch.diverged_at  # every logged step before it is kept (log_every 1)
    assert all(math.isfinite(r["predicted_loss"]) for r in branch.rows)


def test_unsupported_optimiser_is_skipped_with_a_reason():
    problem, theta = smooth_problem()
    cfg = RunConfig(dataset="synthetic", classes=("0", "1"), optimizer="momentum", dtype="float64")
    branch = cf.run_central_flow(Setup(problem, theta, None, None, "cpu"), cfg, ForkState(0, 0.0, theta, None))
    assert not branch.rows and "full-batch GD only" in branch.info["message"]


def test_top_eigenpair_of_the_smooth_problem_is_the_dense_one():
    """The flow's u and λ1 come from Lanczos; the dense reference agrees at the tolerance used."""
    problem, theta = smooth_problem()
    H = torch.autograd.functional.hessian(lambda t: problem.losses(t).mean(), theta)
    pairs = top_eigenpairs(lambda v: H @ v, torch.ones(theta.numel(), dtype=torch.float64), k=2)
    assert float(pairs.values[0]) == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-4)


@pytest.mark.training
def test_a_run_with_the_central_flow_keeps_it_apart_from_the_branches():
    """flows=central adds the branch `central_flow` and its outcome in meta["flows"]; the run's status,
    t** and Δℓ_k are the run's without it, and the tables round-trip with the new columns."""

    # progressive sharpening, then EoS at 2/η = 20 from t* = 60 (λ1 at 0.96·2/η there)
    cfg = dataclasses.replace(
        TINY, dtype="float64", init_scale=0.5, lr=0.1, steps=100, log_every=10, example_every=10, onset_fraction=0.9
    )
    plain = run_experiment(cfg)
    result = Result.from_files(run_experiment(cfg.replace(flows=("central",))).to_files())
    assert result.meta["flows"]["central_flow"]["status"] == "done"
    assert (result.status, result.meta["t_star"]) == (plain.status, plain.meta["t_star"])
    flow = result.groups[result.groups.branch == "central_flow"]
    assert set(flow.step) == set(range(result.meta["t_star"], cfg.steps + 1, cfg.log_every))
    assert flow.predicted_loss.notna().all() and (flow.predicted_loss >= flow.loss).all()
    pd.testing.assert_frame_equal(delta_loss(result), delta_loss(plain))


@pytest.mark.training
def test_a_fork_far_past_the_threshold_stops_the_flow_not_the_run():

    result = run_experiment(TINY.replace(flows=("central",)))  # TINY forks at step 0 with λ1 ≈ 5·2/η
    flow = result.meta["flows"]["central_flow"]
    assert result.status == "done" and flow["status"] == "diverged"
    assert "the fork is at λ1 =" in flow["message"] and flow["rows"] == 0


@pytest.mark.training
def test_bench_times_the_flow_against_the_exit_branch():
    from eos_core.tools.bench import flow_figures

    cfg = TINY.replace(
        dtype="float64", init_scale=0.5, lr=0.1, steps=80, log_every=10, example_every=10, onset_fraction=0.9
    ).replace(flows=("central",))
    figures = flow_figures(cfg)
    assert figures["central_flow_status"] == "done"
    assert figures["central_flow_cost_vs_exit"] == pytest.approx(figures["central_flow_s"] / figures["exit_branch_s"])

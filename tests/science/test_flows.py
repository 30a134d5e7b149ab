"""The gradient-flow reference branch: its integrator against closed-form and reference flows, its
place in a run, and a flow that stops."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.integrate import solve_ivp
from tiny import TINY, tiny_problem

from eos_core.analysis.mechanism import decomposition
from eos_core.science import gradient_flow
from eos_core.science.branching import prepare, run_baseline, run_exit
from eos_core.science.experiment import assemble, run_experiment
from eos_core.science.flows import FLOWS
from eos_core.science.gradient_flow import Integrator, run_gradient_flow
from eos_core.science.problem import Problem


def test_rk4_with_step_doubling_follows_a_quadratics_closed_form_flow():
    """L = ½θᵀHθ flows as θ(t) = exp(−tH)θ0. H is symmetric positive definite, so the flow contracts
    every error it carries: the global error is at most the sum of the local ones, which the
    Richardson estimate approximates (to within its own O(h⁶) term, hence the factor 2)."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    H = q @ torch.diag(torch.tensor([0.1, 0.5, 2.0, 10.0, 40.0, 90.0], dtype=torch.float64)) @ q.T
    theta0 = torch.randn(6, generator=g, dtype=torch.float64)
    integrator = Integrator(lambda theta: H @ theta, rtol=1e-4)
    theta, interval = theta0, 0.02  # 90·0.02 = 1.8: one RK4 step would be near its stability edge
    for _ in range(50):
        theta = integrator.advance(theta, H @ theta, interval)
    exact = torch.linalg.matrix_exp(-50 * interval * H) @ theta0
    actual = (theta - exact).norm().item()
    assert 0 < actual <= 2 * integrator.error
    path = sum(
        (torch.linalg.matrix_exp(-k * interval * H) - torch.linalg.matrix_exp(-(k + 1) * interval * H))
        .matmul(theta0)
        .norm()
        .item()
        for k in range(50)
    )
    assert integrator.error <= 1e-4 * path  # each local estimate met rtol·(its interval's displacement)


@pytest.mark.training
def test_the_flow_of_a_tiny_network_matches_an_adaptive_reference_integrator():
    """The network's flow against scipy's DOP853 at rtol 1e-12 (its own error far below ours). A
    network's loss has negative curvature, where the flow amplifies the errors it carries, so the
    sum of local estimates is no bound here: it is the error's scale (measured: 2.4× below it on this
    stretch, hence 3×). Each interval met rtol = 1e-5 of its displacement, so with that growth the
    error stays within 3e-5 of the distance travelled (measured: 8e-6)."""
    problem, theta0 = tiny_problem()
    integrator = Integrator(lambda theta: problem.step_gradient(theta)[0], rtol=1e-5)
    theta, interval, steps = theta0.clone(), 0.01, 10
    for _ in range(steps):
        theta = integrator.advance(theta, problem.step_gradient(theta)[0], interval)

    def field(_, y):
        return -problem.step_gradient(torch.from_numpy(y))[0].numpy()

    reference = solve_ivp(field, (0, steps * interval), theta0.numpy(), method="DOP853", rtol=1e-12, atol=1e-14)
    difference = np.linalg.norm(theta.numpy() - reference.y[:, -1])
    travelled = np.linalg.norm(reference.y[:, -1] - theta0.numpy())
    assert integrator.error / 3 <= difference <= 3 * integrator.error
    assert difference < 3e-5 * travelled


@pytest.mark.training
def test_the_gradient_flow_branch_appears_only_when_asked_for():
    plain, flowing = run_experiment(TINY), run_experiment(TINY.replace(flows=("gradient",)))
    branch = FLOWS["gradient"].branch
    assert branch not in set(plain.trace.branch) and "flows" not in plain.meta
    for table in (flowing.trace, flowing.groups, flowing.losses):
        assert branch in set(table.branch)
    assert f"{branch}_loss" in flowing.per_example
    info = flowing.meta["flows"][branch]
    assert info["status"] == "done" and flowing.status == "done"
    assert info["error_estimate"] > 0 and info["gradients"] > 0
    exit_, flow = (flowing.trace[flowing.trace.branch == b].reset_index(drop=True) for b in ("exit", branch))
    np.testing.assert_array_equal(flow.step, exit_.step)  # the exit branch's grid, so equal time by step
    np.testing.assert_allclose(flow.t_eff, exit_.t_eff, rtol=0, atol=1e-12)
    assert flow.lambda1.iloc[0] == exit_.lambda1.iloc[0]  # both start from the state at t*
    assert flow.lr.isna().all()  # a flow takes no step
    # the baseline and exit branch, and the analysis of them, do not change when a flow is added
    pd.testing.assert_frame_equal(decomposition(plain), decomposition(flowing))
    for table in ("trace", "groups"):
        a, b = getattr(plain, table), getattr(flowing, table)
        b = b[b.branch != branch].reset_index(drop=True)
        assert a.equals(b[a.columns])


class _Overflowing(Problem):
    """The tiny run's problem whose gradients overflow after a number of evaluations."""

    calls = 0
    limit = 0

    def step_gradient(self, theta, index=None):
        g, losses = super().step_gradient(theta, index)
        _Overflowing.calls += 1
        return (g * np.inf if _Overflowing.calls > _Overflowing.limit else g), losses


@pytest.mark.training
def test_a_diverging_flow_stops_with_its_status_and_keeps_what_it_computed():
    setup = prepare(TINY)
    baseline = run_baseline(setup, TINY)
    exit_ = run_exit(setup, TINY, baseline.fork)
    broken = _Overflowing(**{f.name: getattr(setup.problem, f.name) for f in dataclasses.fields(Problem)})
    _Overflowing.calls, _Overflowing.limit = 0, 400
    flow = run_gradient_flow(dataclasses.replace(setup, problem=broken), TINY, baseline.fork)
    assert flow.info["status"] == "diverged" and flow.diverged_at is not None
    assert len(flow.rows) >= 1 and flow.rows[-1]["step"] <= flow.diverged_at
    result = assemble(TINY, setup, [baseline, exit_, flow], 0.0)
    assert result.status == "done"  # the run itself is fine
    assert result.meta["flows"]["gradient_flow"]["status"] == "diverged"
    assert f"the gradient_flow branch stopped at step {flow.diverged_at}" in result.meta["message"]
    assert "what it computed up to there is kept" in result.meta["message"]
    assert len(result.trace[result.trace.branch == "gradient_flow"]) == len(flow.rows)


def test_a_flow_shares_the_baseline_it_starts_from():
    """Flows start at the fork, so a run with them reuses the stored baseline of one without."""
    assert TINY.replace(flows=("gradient",)).baseline_hash() == TINY.baseline_hash()
    assert TINY.replace(flows=("gradient",)).config_hash() != TINY.config_hash()


@pytest.mark.training
def test_a_flow_too_stiff_for_its_substep_budget_stops_at_once(monkeypatch):
    """At t*, λ1 ≈ 204 asks for c·η·λ1/2 = 2.6 → 3 coarse substeps per exit step, 6 kept: over a
    budget of 4 the flow stops there, with its first logged step kept."""
    monkeypatch.setattr(gradient_flow, "MAX_SUBSTEPS", 4)
    setup = prepare(TINY)
    baseline = run_baseline(setup, TINY)
    flow = run_gradient_flow(setup, TINY, baseline.fork)
    assert flow.info["status"] == "stopped" and flow.diverged_at == baseline.fork.step
    assert "needs more than 4 RK4 substeps" in flow.info["message"]
    assert [r["step"] for r in flow.rows] == [baseline.fork.step]


@pytest.mark.training
def test_bench_reports_the_flows_cost_against_the_exit_branch():
    from eos_core.tools.bench import flow_figures

    figures = flow_figures(TINY.replace(flows=("gradient",)))
    assert figures["gradient_flow_status"] == "done"
    assert figures["gradient_flow_cost_vs_exit"] > 0 and figures["distance_overhead"] > 0
    # every exit step's interval costs at least 10 gradients: RK4 with one substep (3 beyond the
    # known ∇L) and with two (7 beyond it); TINY forks at step 0 and ends at step 60, plus the
    # interval after the last step that the two-step average needs
    assert figures["gradient_flow_gradients"] >= 10 * (TINY.steps + 1)

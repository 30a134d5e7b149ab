"""The valley slices against independent references: explicit forward passes written out here, a
dense float64 Hessian, the GD step's own gradient; and a run that slices stores what a run without
slices stores, plus the valley tables."""

import numpy as np
import pandas as pd
import pytest
import torch
from tiny import TINY, dense_hessian, tiny_problem

from eos_core.analysis.results import FILES, OPTIONAL_FILES, VALLEY_FILES
from eos_core.analysis.valley import paired_checkpoints, valley_at, valley_steps
from eos_core.config import _hash
from eos_core.science.diagnostics import diagnose
from eos_core.science.valley import (
    CHUNK,
    ITERATES,
    SLICE_POINTS,
    SURFACE_POINTS,
    checkpoint_steps,
    losses_along,
    valley_rows,
)

LR = 0.05


def explicit_layers(problem, theta: torch.Tensor):
    """The tiny MLP's (pre-activation) layers at θ, written out: flatten, W1·x + b1, ReLU, W2·h + b2,
    ReLU, W3·h + b3 — the model's parameters in nn.Sequential's order, cut from θ by their shapes."""
    shapes = [p.shape for p in problem.model.module.parameters()]
    pieces = torch.split(theta, [s.numel() for s in shapes])
    w1, b1, w2, b2, w3, b3 = (p.reshape(s) for p, s in zip(pieces, shapes))
    z1 = problem.x.flatten(1) @ w1.T + b1
    z2 = z1.relu() @ w2.T + b2
    return z1, z2, z2.relu() @ w3.T + b3


def explicit_loss(problem, theta: torch.Tensor) -> torch.Tensor:
    """The mean over examples of Σ_outputs (f − onehot)²: the paper's MSE, by hand."""
    out = explicit_layers(problem, theta)[2]
    onehot = torch.nn.functional.one_hot(problem.y, 2).to(out.dtype)
    return (out - onehot).pow(2).sum(1).mean()


@pytest.fixture(scope="module")
def walk():
    """A tiny float64 problem after a few explicit GD steps: (problem, θ_{t−4..t} oldest first, the
    step's diagnostics with v1 and v2 solved to 1e-10, and the valley's rows)."""
    problem, theta = tiny_problem(seed=1)
    path = [theta]
    for _ in range(ITERATES):
        leaf = path[-1].detach().requires_grad_(True)
        path.append(path[-1] - LR * torch.autograd.grad(explicit_loss(problem, leaf), leaf)[0])
    d = diagnose(problem, path[-1], np.zeros(len(problem.x)), None, torch.Generator().manual_seed(0), tol=1e-10)
    grid, iterates = valley_rows(problem, path[-1], d.eigen.vectors, d.eigen.values, d.row["loss"], path[:-1])
    return problem, path, d, pd.DataFrame(grid), pd.DataFrame(iterates)


def test_each_grid_point_is_an_explicit_forward_pass_and_zero_is_the_logged_loss(walk):
    problem, path, d, grid, _ = walk
    theta, (v1, v2) = path[-1], d.eigen.vectors
    assert (grid.kind == "slice").sum() == SLICE_POINTS and (grid.kind == "surface").sum() == SURFACE_POINTS**2
    zero = grid[(grid.kind == "slice") & (grid.s1 == 0)]
    assert zero.loss.item() == pytest.approx(d.row["loss"], rel=1e-13)  # float64 rounding only
    for row in grid.itertuples():
        expected = explicit_loss(problem, theta + row.s1 * v1 + row.s2 * v2).item()
        assert row.loss == pytest.approx(expected, rel=1e-12), row


def test_the_slices_second_difference_at_zero_is_the_dense_hessians_top_eigenvalue(walk):
    problem, path, d, grid, _ = walk
    theta, v1 = path[-1], d.eigen.vectors[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(dense_hessian(problem, theta))
    assert abs(float(eigenvectors[:, -1] @ v1)) == pytest.approx(1, abs=1e-8)  # the solver's v1 is eigh's
    lam1 = float(eigenvalues[-1])
    line = grid[grid.kind == "slice"].sort_values("s1")
    s, loss = line.s1.to_numpy(), line.loss.to_numpy()
    mid, h = len(s) // 2, s[1] - s[0]
    # Taylor: the centred second difference is L'' + h²/12·L''''(ξ) for |ξ| ≤ h, where L is smooth:
    # no ReLU changes sign between θ − 2h·v1 and θ + 2h·v1 (checked), so the fourth difference
    # bounds L'''' there; rounding adds ~ 4ε·L/h². Tolerance: 3× that bound.
    signs = [
        torch.sign(torch.cat([z.flatten() for z in explicit_layers(problem, theta + a * h * v1)[:2]])) for a in (-2, 2)
    ]
    assert torch.equal(signs[0], signs[1])
    second = (loss[mid + 1] - 2 * loss[mid] + loss[mid - 1]) / h**2
    fourth = (loss[mid + 2] - 4 * loss[mid + 1] + 6 * loss[mid] - 4 * loss[mid - 1] + loss[mid - 2]) / h**4
    bound = h**2 / 12 * abs(fourth) + 4 * np.finfo(float).eps * abs(loss[mid]) / h**2
    assert abs(second - lam1) <= 3 * bound + 1e-12 * lam1, (second, lam1, bound)
    assert abs(second - lam1) / lam1 < 1e-3  # and small in itself: the grid resolves the valley


def test_the_previous_iterate_lands_where_the_gd_step_puts_it(walk):
    problem, path, d, _, iterates = walk
    v1, v2 = d.eigen.vectors
    assert list(iterates.lag) == list(range(1, ITERATES + 1))
    # θ_t = θ_{t−1} − η∇L(θ_{t−1}), so (θ_{t−1} − θ_t)·v = η ∇L(θ_{t−1})·v
    leaf = path[-2].detach().requires_grad_(True)
    gradient = torch.autograd.grad(explicit_loss(problem, leaf), leaf)[0]
    lag1 = iterates.iloc[0]
    assert lag1.s1 == pytest.approx(LR * float(gradient @ v1), rel=1e-10, abs=1e-14)
    assert lag1.s2 == pytest.approx(LR * float(gradient @ v2), rel=1e-10, abs=1e-14)
    for row in iterates.itertuples():  # every lag: the offset and the loss, explicitly
        past = path[-1 - row.lag]
        assert row.s1 == pytest.approx(float((past - path[-1]) @ v1), rel=1e-12, abs=1e-15)
        assert row.loss == pytest.approx(explicit_loss(problem, past).item(), rel=1e-12)


VALLEY = TINY.replace(valley_every=10)


def test_checkpoints_round_to_the_logged_grid_and_pair_the_exit_branch_at_equal_effective_time():
    cfg = TINY.replace(valley_every=12, steps=60, log_every=5, c=0.5)
    assert checkpoint_steps(cfg, None, "baseline") == {0, 10, 25, 35, 50, 60}  # 12, 24, 36, 48 rounded
    assert checkpoint_steps(cfg, 25, "baseline") == {0, 10, 25, 35, 50, 60}
    # the exit branch from t* = 25 at c·η: baseline step 35 ↔ exit step 25 + 10/0.5 = 45
    assert checkpoint_steps(cfg, 25, "exit") == {25, 45}
    assert checkpoint_steps(TINY, 25, "exit") == set()


@pytest.mark.training
def test_a_run_slices_at_its_checkpoints_and_at_zero_gives_the_logged_loss(tiny_run):
    result = tiny_run(VALLEY)
    t_star = result.meta["t_star"]
    assert valley_steps(result, "baseline") == sorted(checkpoint_steps(VALLEY, t_star, "baseline"))
    assert valley_steps(result, "exit") == sorted(checkpoint_steps(VALLEY, t_star, "exit"))
    trace = result.trace.set_index(["branch", "step"])
    for branch in ("baseline", "exit"):
        for step in valley_steps(result, branch):
            valley = valley_at(result, branch, step)
            assert valley.loss == pytest.approx(trace.loss[(branch, step)], rel=1e-5)  # float32 forwards
            assert valley.t_eff == pytest.approx(trace.t_eff[(branch, step)])
            assert len(valley.iterates) == min(ITERATES, step - (0 if branch == "baseline" else t_star))
    for base, exit_ in paired_checkpoints(result):
        if exit_ is not None:
            b, e = valley_at(result, "baseline", base), valley_at(result, "exit", exit_)
            assert e.t_eff == pytest.approx(b.t_eff)  # c = 0.5 and a logged grid of 5: exact partners


@pytest.mark.training
def test_a_run_without_slices_stores_what_it_stored_before(tiny_run):
    plain, sliced = tiny_run(TINY), tiny_run(VALLEY)
    before = {k: v for k, v in TINY.to_dict().items() if k != "valley_every"}  # the config as it was
    assert TINY.config_hash() == _hash(before) and TINY.baseline_hash() == plain.meta["baseline_hash"]
    assert sorted(plain.to_files()) == sorted(FILES + OPTIONAL_FILES)
    assert sorted(sliced.to_files()) == sorted(FILES + OPTIONAL_FILES + VALLEY_FILES)
    # slicing takes forward passes only: the training and every diagnostic are the same numbers
    for name in ("trace", "groups", "losses", "examples"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(sliced, name), check_exact=True)
    for key, value in plain.per_example.items():
        np.testing.assert_array_equal(sliced.per_example[key], value)


@pytest.mark.training
def test_a_branch_resumed_from_a_checkpoint_slices_the_same_valley(tiny_run):
    """The last iterates travel in the checkpoint (packed like every Branch field), so a branch
    resumed between checkpoints stores the same valley as one never stopped."""
    from eos_core.science.branching import prepare, run_baseline
    from eos_core.science.snapshot import pack_in_flight, unpack_branch

    setup = prepare(VALLEY)
    kept = {}

    def keep(flight):
        if flight.step == 20:  # a valley checkpoint: its four iterates are already in the ring
            kept["blob"] = pack_in_flight(flight)

    whole = run_baseline(setup, VALLEY, checkpoint=keep)
    _, flight = unpack_branch(kept["blob"], "cpu")
    assert len(flight.branch.recent) == ITERATES
    resumed = run_baseline(setup, VALLEY, resume=flight)
    assert resumed.valley_rows == whole.valley_rows and resumed.valley_iterate_rows == whole.valley_iterate_rows
    assert len(whole.valley_rows) and not whole.recent  # a finished branch keeps no iterates


def test_the_batched_forward_of_a_gpu_gives_the_plain_forwards_losses():
    problem, theta = tiny_problem(seed=2)
    generator = torch.Generator().manual_seed(0)
    directions = torch.randn(2, theta.numel(), generator=generator, dtype=theta.dtype)
    coefficients = torch.randn(CHUNK + 3, 2, generator=generator, dtype=theta.dtype)  # a partial last chunk
    plain = losses_along(problem, theta, directions, coefficients)  # on a CPU: one forward a point
    batched = losses_along(problem, theta, directions, coefficients, batched=True)  # a GPU's path
    assert torch.allclose(batched, plain, rtol=1e-13, atol=0)  # float64 rounding only
    for c, value in zip(coefficients, plain):
        assert value.item() == pytest.approx(explicit_loss(problem, theta + c @ directions).item(), rel=1e-13)


@pytest.mark.training
def test_a_fork_at_t_star_reproduces_the_valley_and_a_replay_skips_it(tiny_run):
    """Forks replay the baseline: one at t* with the parent's settings slices the same valley; a
    replay for a state (the spectrum's) skips the slices and still lands on the same weights."""
    from eos_core.science.fork import fork, state_at

    parent = tiny_run(VALLEY)
    child = fork(parent, parent.meta["t_star"], {})
    for table in ("valley", "valley_iterates"):
        pd.testing.assert_frame_equal(getattr(child, table), getattr(parent, table), check_exact=True)
    setup, _, state = state_at(parent, 20, "baseline")
    with torch.no_grad():
        loss = setup.problem.losses(state.theta).mean().item()
    assert loss == pytest.approx(valley_at(parent, "baseline", 20).loss, rel=1e-6)  # float32 forwards

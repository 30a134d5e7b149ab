"""Every eigenpair above f·threshold (`track_fraction`) against dense float64 `eigh`.

Near-equal eigenvalues have no individual eigenvectors the data can pin down, so vectors are
compared through cluster subspaces: the projector onto each cluster and the cos² summed over it,
both invariant to the basis chosen inside the cluster."""

import numpy as np
import pytest
import torch
from tiny import TINY, dense_hessian, per_example_gradients, tiny_problem

from eos_core.config import MAX_TRACKED
from eos_core.groups import GROUPS
from eos_core.science.branching import prepare, run_baseline
from eos_core.science.curvature import eigenpairs_above, track
from eos_core.science.diagnostics import diagnose
from eos_core.science.experiment import run_experiment
from eos_core.science.snapshot import pack_in_flight, unpack_branch


def designed_operator(spectrum, dim: int = 60, seed: int = 0):
    """H = U·diag(spectrum, bulk)·Uᵀ with U random orthogonal; the bulk lies in [−1, 3]."""
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    bulk = -1 + 4 * torch.rand(dim - len(spectrum), generator=g, dtype=torch.float64)
    values = torch.cat([torch.tensor(spectrum, dtype=torch.float64), bulk])
    H = U @ torch.diag(values) @ U.T
    return (lambda v: H @ v), H


def clusters(values: torch.Tensor, split: float) -> list[list[int]]:
    """Indices of descending `values` grouped where neighbours differ by less than `split`."""
    groups = [[0]]
    for i in range(1, len(values)):
        if float(values[i - 1] - values[i]) < split:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def start(dim: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_designed_spectrum_with_a_near_degenerate_pair_matches_eigh():
    """λ = 10, 9, 7, 7(1 − 1e-7), 6 above the cut 5. At tol 1e-10 each Ritz value is within
    r = 1e-10·λ1 = 1e-9 of an eigenvalue; the pair's subspace is within ‖R‖_F/δ ≤ √2·1e-9/1 (δ = 1,
    its gap to 6) of the exact one, and so is Σ cos² over the pair for any vector. The pair's own
    vectors are not compared: split by 7e-7, they are fixed only to ~r/7e-7 ≈ 1e-3."""
    spectrum = [10.0, 9.0, 7.0, 7.0 * (1 - 1e-7), 6.0]
    hvp, H = designed_operator(spectrum)
    evals, evecs = torch.linalg.eigh(H)
    evals, evecs = evals.flip(0), evecs.flip(1)
    pairs = eigenpairs_above(hvp, start(60), cut=5.0, cap=MAX_TRACKED, tol=1e-10)
    assert len(pairs.values) == 5
    assert torch.allclose(pairs.values, evals[:5], rtol=0, atol=1e-8)
    assert bool((pairs.residuals <= 1e-10).all())
    gradients = torch.randn(4, 60, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for members in ([0], [1], [2, 3], [4]):
        exact = evecs[:, members] @ evecs[:, members].T
        found = pairs.vectors[members].T @ pairs.vectors[members]
        assert float(torch.linalg.matrix_norm(exact - found, ord=2)) <= 1e-8
        summed = lambda P: ((gradients @ P) * gradients).sum(1) / (gradients**2).sum(1)  # noqa: E731
        assert torch.allclose(summed(found), summed(exact), rtol=0, atol=1e-8)


@pytest.mark.parametrize("tol", [1e-2, 3e-3])
def test_designed_spectrum_error_bounds_hold_at_working_tolerances(tol):
    """At the tolerances runs use, each λ_i is within r_i = ρ_i·λ1 of the exact λ_i, and each
    cluster's Σ cos² within its Davis–Kahan bound ‖R‖_F/δ."""
    spectrum = [10.0, 8.0, 7.99, 6.5]
    hvp, H = designed_operator(spectrum, seed=2)
    evals, evecs = torch.linalg.eigh(H)
    evals, evecs = evals.flip(0), evecs.flip(1)
    pairs = eigenpairs_above(hvp, start(60, 3), cut=5.0, cap=MAX_TRACKED, tol=tol)
    assert len(pairs.values) == 4
    r = pairs.residuals * pairs.values[0]
    assert bool(((pairs.values - evals[:4]).abs() <= r + 1e-12).all())
    assert bool((pairs.values <= evals[:4] + 1e-12).all())  # Ritz values approach from below
    g = torch.randn(60, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for members, gap in (([0], 2.0), ([1, 2], 1.49), ([3], 1.49)):  # the exact gaps to the rest
        bound = float(r[members].norm()) / (gap - float(r.max()))  # δ from the Ritz values, each within r
        exact = float((evecs[:, members].T @ g).pow(2).sum() / (g @ g))
        found = float((pairs.vectors[members] @ g).pow(2).sum() / (g @ g))
        assert abs(found - exact) <= bound + 1e-12


def test_more_eigenvalues_above_the_cut_than_the_cap_keeps_the_largest():
    spectrum = [20.0 - i for i in range(MAX_TRACKED + 3)]
    hvp, H = designed_operator(spectrum, seed=4)
    evals = torch.linalg.eigvalsh(H).flip(0)
    pairs = eigenpairs_above(hvp, start(60), cut=5.0, cap=MAX_TRACKED, tol=1e-10)
    assert len(pairs.values) == MAX_TRACKED
    assert torch.allclose(pairs.values, evals[:MAX_TRACKED], rtol=0, atol=1e-8)


def test_an_exactly_repeated_eigenvalue_is_counted_at_most_as_often_as_it_occurs():
    """One start vector spans one direction of each eigenspace, so a repeated eigenvalue's copies
    come only from rounding: the count above the cut is a lower bound, and every value found is an
    eigenvalue (within its residual)."""
    hvp, _ = designed_operator([10.0, 7.0, 7.0, 6.0], seed=6)
    pairs = eigenpairs_above(hvp, start(60), cut=5.0, cap=MAX_TRACKED, tol=1e-10)
    assert 3 <= len(pairs.values) <= 4
    exact = torch.tensor([10.0, 7.0, 6.0], dtype=torch.float64)
    assert float((pairs.values[:, None] - exact[None]).abs().min(1).values.max()) <= 1e-8
    assert set(exact.tolist()) == {round(float(v), 6) for v in pairs.values}


def test_nothing_above_the_cut_costs_no_product():
    problem, theta = tiny_problem("mse")
    d = diagnose(problem, theta, np.zeros(len(problem.x)), None, torch.Generator().manual_seed(0), tol=1e-10)
    graph = problem.graph(theta)[0]
    tracked = track(graph.hvp, d.eigen, None, 1.01 * d.row["lambda1"], torch.Generator().manual_seed(1))
    assert graph.hvps == 0 and tracked.hvps == 0 and len(tracked.values) == 0


@pytest.mark.parametrize(("loss", "cut", "count"), [("mse", 4.3, 5), ("ce", 0.4, 7)])
def test_tiny_network_tracked_pairs_and_group_alignment_match_eigh(loss, cut, count):
    """End to end through `diagnose` on a tiny MLP's dense float64 Hessian. The cuts lie in gaps of
    the spectrum (mse: 4.83 | 3.97; ce: 0.431 | 0.372); ce's λ6 = 0.4406 and λ7 = 0.4311 are a
    near-degenerate pair (split 2%), compared only through their summed cos². tol 1e-10 puts every
    Ritz value within 1e-10·λ1 of its eigenvalue and every cluster's subspace within ~1e-9 (gaps
    ≥ 0.059), so 1e-7 relative leaves room for the autograd HVPs' rounding."""
    problem, theta = tiny_problem(loss)
    evals, evecs = torch.linalg.eigh(dense_hessian(problem, theta))
    evals, evecs = evals.flip(0), evecs.flip(1)
    d = diagnose(problem, theta, np.zeros(len(problem.x)), None, torch.Generator().manual_seed(0), tol=1e-10, cut=cut)
    values = torch.tensor([r["eigenvalue"] for r in d.tracked_rows], dtype=torch.float64)
    assert [r["rank"] for r in d.tracked_rows] == list(range(1, count + 1))
    assert torch.allclose(values, evals[:count], rtol=1e-7, atol=0)
    G = per_example_gradients(problem, theta)
    rows = {(r["group"], r["rank"]): r for r in d.tracked_group_rows}
    assert len(rows) == count * len(GROUPS)
    for name, index in zip(GROUPS, problem.groups):
        gk = G[index].mean(0)
        for members in clusters(evals[:count], split=0.05 * float(evals[0])):
            exact = (evecs[:, members].T @ gk).pow(2).sum()
            influence = sum(rows[(name, i + 1)]["curvature_influence"] for i in members)
            cos2 = sum(rows[(name, i + 1)]["cos2"] for i in members)
            assert influence == pytest.approx(float(exact), rel=1e-7, abs=1e-14)
            assert cos2 == pytest.approx(float(exact / (gk @ gk)), rel=1e-7, abs=1e-14)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_tracking_changes_no_default_number(loss):
    problem, theta = tiny_problem(loss)
    distance = np.linspace(0.0, 1.0, len(problem.x))
    plain = diagnose(problem, theta, distance, None, torch.Generator().manual_seed(0))
    tracked = diagnose(
        problem, theta, distance, None, torch.Generator().manual_seed(0), cut=0.05 * plain.row["lambda1"]
    )
    assert plain.row == tracked.row and plain.group_rows == tracked.group_rows
    assert np.array_equal(plain.example_cos2, tracked.example_cos2)
    assert plain.tracked_rows == [] and len(tracked.tracked_rows) == MAX_TRACKED


@pytest.mark.training
def test_a_run_with_track_fraction_stores_the_tables_and_keeps_every_other_number():
    plain = run_experiment(TINY)
    tracked = run_experiment(TINY.replace(track_fraction=0.02))
    assert plain.tracked.empty and plain.tracked_groups.empty
    assert plain.trace.equals(tracked.trace) and plain.groups.equals(tracked.groups)
    assert plain.losses.equals(tracked.losses)
    t = tracked.tracked
    assert set(t.branch) == {"baseline", "exit"} and len(t) > 0
    assert t.groupby(["branch", "step"]).size().max() <= MAX_TRACKED
    # rank 1 is λ1 of the default solve up to the two solves' residuals (3e-3 relative each)
    first = t[t["rank"] == 1].merge(tracked.trace, on=["branch", "step"])
    assert np.allclose(first.eigenvalue, first.lambda1, rtol=1e-2)
    assert len(tracked.tracked_groups) == len(t) * len(GROUPS)
    assert tracked.tracked_groups.cos2.between(0, 1 + 1e-9).all()


@pytest.mark.training
def test_a_branch_resumed_from_its_packed_state_tracks_exactly_as_the_uninterrupted_one():
    """The tracked pairs warm-start the next solve, so a checkpoint must carry them: packed and
    unpacked mid-branch, the resumed branch's tracked rows equal the uninterrupted ones bit for bit."""
    cfg = TINY.replace(track_fraction=0.02)
    setup = prepare(cfg)
    states = []
    whole = run_baseline(setup, cfg, checkpoint=lambda flight: states.append(pack_in_flight(flight)))
    middle = states[len(states) // 2]
    _, flight = unpack_branch(middle, "cpu")
    assert flight.warm.tracked is not None and len(flight.warm.tracked.values) > 0
    resumed = run_baseline(prepare(cfg), cfg, resume=flight)
    assert resumed.tracked_rows == whole.tracked_rows
    assert resumed.tracked_group_rows == whole.tracked_group_rows


@pytest.mark.parametrize(("loss", "cut", "count"), [("mse", 4.3, 5), ("ce", 0.4, 7)])
@pytest.mark.parametrize("seed", range(4))
def test_at_the_working_tolerance_cold_solves_find_every_eigenvalue_within_its_bounds(loss, cut, count, seed):
    """TRACK_TOL, from cold starts (the first tracked step): the count is right (3e-3 missed one in
    2 of these 8) and every λ_i lies within r_i of eigh's, from below; Σ cos² over each cluster of
    eigh's spectrum (ce's 2 %-split pair merged; gaps to the rest ≥ 0.059) within ‖R‖_F/δ."""
    problem, theta = tiny_problem(loss)
    evals, evecs = torch.linalg.eigh(dense_hessian(problem, theta))
    evals, evecs = evals.flip(0), evecs.flip(1)
    d = diagnose(problem, theta, np.zeros(len(problem.x)), None, torch.Generator().manual_seed(0))
    graph = problem.graph(theta)[0]
    pairs = track(graph.hvp, d.eigen, None, cut, torch.Generator().manual_seed(seed))
    assert len(pairs.values) == count
    r = pairs.residuals * pairs.values[0]
    assert bool(((evals[:count] - pairs.values).abs() <= r + 1e-12).all())
    g = per_example_gradients(problem, theta).mean(0)
    spectrum = torch.cat([evals[:count], evals[count : count + 1]])
    for members in clusters(evals[:count], split=0.05 * float(evals[0])):
        outside = [i for i in range(len(spectrum)) if i not in members]
        gap = min(abs(float(pairs.values[i] - spectrum[j])) for i in members for j in outside)
        exact = float((evecs[:, members].T @ g).pow(2).sum() / (g @ g))
        found = float((pairs.vectors[members] @ g).pow(2).sum() / (g @ g))
        assert abs(found - exact) <= float(r[members].norm()) / gap + 1e-12

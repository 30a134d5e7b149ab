"""HVPs, the Lanczos eigensolver and ∇S against dense float64 references."""
import pytest
import torch

from eos_core.curvature import align_signs, top_eigenpairs, warm_start
from tiny import dense_hessian, tiny_problem


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_hvp_matches_central_finite_differences(loss):
    problem, theta = tiny_problem(loss)
    graph, _, _ = problem.graph(theta)
    v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    eps = 1e-5
    grad_at = lambda t: problem.step_gradient(t)[0]
    fd = (grad_at(theta + eps * v) - grad_at(theta - eps * v)) / (2 * eps)
    # central differences: O(eps²) truncation ≈ 1e-10 plus rounding ≈ 1e-16/eps ≈ 1e-11
    assert torch.allclose(graph.hvp(v), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_top_two_eigenpairs_match_dense_eigh(loss):
    problem, theta = tiny_problem(loss)
    evals, evecs = torch.linalg.eigh(dense_hessian(problem, theta))
    graph, _, _ = problem.graph(theta)
    start = warm_start(None, theta.numel(), "cpu", torch.Generator().manual_seed(0))
    pairs = top_eigenpairs(graph.hvp, start, k=2, tol=1e-10)
    assert pairs.hvps == graph.hvps
    for i in range(2):
        exact = evals[-1 - i]
        assert abs(pairs.values[i] - exact) / abs(exact) <= 1e-6
        assert abs(torch.dot(pairs.vectors[i], evecs[:, -1 - i])) >= 1 - 1e-6
    assert pairs.residuals[0] <= 1e-10


def test_warm_start_converges_in_few_hvps_and_signs_align():
    problem, theta = tiny_problem("mse")
    graph, _, _ = problem.graph(theta)
    cold = top_eigenpairs(graph.hvp, warm_start(None, theta.numel(), "cpu", torch.Generator().manual_seed(0)),
                          k=2, tol=1e-8)
    flipped = cold.__class__(cold.values, -cold.vectors, cold.residuals, cold.hvps)
    nearby = theta + 1e-4 * torch.randn(theta.numel(), generator=torch.Generator().manual_seed(3), dtype=theta.dtype)
    graph2, _, _ = problem.graph(nearby)
    warm = align_signs(top_eigenpairs(graph2.hvp, warm_start(cold, theta.numel(), "cpu", None), k=2, tol=1e-3),
                       flipped)
    assert warm.hvps <= 4 < cold.hvps
    assert torch.dot(warm.vectors[0], flipped.vectors[0]) > 0.99


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_sharpness_gradient_matches_finite_differences_of_lambda1(loss):
    problem, theta = tiny_problem(loss)
    evals, evecs = torch.linalg.eigh(dense_hessian(problem, theta))
    graph, _, _ = problem.graph(theta)
    grad_S = graph.sharpness_gradient(evecs[:, -1])
    lam1 = lambda t: torch.linalg.eigvalsh(dense_hessian(problem, t))[-1]
    eps = 1e-5
    for i in torch.randperm(theta.numel(), generator=torch.Generator().manual_seed(0))[:6]:
        e = torch.zeros_like(theta)
        e[i] = eps
        fd = (lam1(theta + e) - lam1(theta - e)) / (2 * eps)
        assert abs(float(grad_S[i] - fd)) <= 1e-5 * max(1.0, abs(float(fd)))

"""Stochastic Lanczos quadrature against the dense spectrum of a tiny float64 network.

The distance is W1 between SLQ's quadrature measure and the eigenvalue measure (1/d) Σ δ(λ_i),
in units of the spectrum's width R. science/spectrum.py gives the two error terms: quadrature
≤ πR/(4m) per probe (deterministic), sampling E ≤ R·√(2/(P·d)).
"""

import math

import numpy as np
import pytest
import torch
from tiny import dense_hessian, tiny_problem

from eos_core.analysis.spectrum import wasserstein1
from eos_core.science.spectrum import hessian_operator, lanczos_quadrature, rademacher, slq


@pytest.fixture(scope="module")
def trained():
    """The tiny network after 200 GD steps (a spectrum with outliers over a bulk near 0, as in
    trained networks), its HVP and its dense eigendecomposition."""
    problem, theta = tiny_problem()
    for _ in range(200):
        theta = theta - 0.1 * problem.step_gradient(theta)[0]
    values, vectors = torch.linalg.eigh(dense_hessian(problem, theta))
    return hessian_operator(problem, theta), values, vectors


def eigen_measure(values):
    return values.numpy(), np.full(len(values), 1 / len(values))


def test_each_probes_quadrature_is_within_the_jackson_bound_of_its_exact_spectral_measure(trained):
    """Per probe the only error is the quadrature's: W1 ≤ πR/(4m), a theorem, so no slack."""
    graph, values, vectors = trained
    span = float(values[-1] - values[0])
    generator = torch.Generator().manual_seed(0)
    for steps in (4, 8, 20):
        probe = rademacher(len(values), generator, "cpu")
        nodes, weights = lanczos_quadrature(graph.hvp, probe, steps)
        exact = (values.numpy(), ((vectors.T @ probe) ** 2).numpy())  # Σ (z·u_i)² δ(λ_i)
        assert wasserstein1((nodes.numpy(), weights.numpy()), exact) <= math.pi * span / (4 * steps)
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-12)


def test_slq_is_close_to_the_dense_spectrum_in_w1_and_its_top_node_is_lambda1(trained):
    """P = 10 probes, m = 20 steps on d = 86. The sampling bound is 0.048·R and the quadrature
    bound 0.039·R; measured over seeds 0–19: mean 0.0065·R, max 0.021·R (sampling dominates: at
    m = d it is the same). 0.03·R sits above every measured seed and below either bound.
    The top node converges first (a gap λ1/λ2 of 2.5): measured within 1e-15 of eigh's λ1."""
    graph, values, _ = trained
    span = float(values[-1] - values[0])
    for seed in range(3):
        nodes, weights = slq(graph.hvp, len(values), probes=10, steps=20, seed=seed, device="cpu")
        measure = (np.concatenate(nodes), np.concatenate(weights) / 10)
        assert wasserstein1(measure, eigen_measure(values)) <= 0.03 * span
        assert max(max(n) for n in nodes) == pytest.approx(float(values[-1]), rel=1e-10)


def test_with_as_many_steps_as_dimensions_the_nodes_are_eigenvalues(trained):
    """The Krylov space closes (at most d steps), and the Gauss rule is exact: every node is an
    eigenvalue, to rounding (1e-9·R: float64 Lanczos with full reorthogonalisation)."""
    graph, values, _ = trained
    span = float(values[-1] - values[0])
    nodes, _ = slq(graph.hvp, len(values), probes=1, steps=len(values), seed=0, device="cpu")
    gaps = np.abs(np.asarray(nodes[0])[:, None] - values.numpy()[None, :]).min(1)
    assert gaps.max() <= 1e-9 * span

"""Per-group and per-example diagnostics against their definitions computed the slow way."""

import numpy as np
import pytest
import scipy.stats
import torch
from tiny import dense_hessian, per_example_gradients, tiny_problem

from eos_core.config import RunConfig
from eos_core.groups import GROUPS
from eos_core.science import models, per_example
from eos_core.science.diagnostics import diagnose, spearman
from eos_core.science.per_example import alignment_terms, generic_terms
from eos_core.science.problem import Problem


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_per_example_dots_and_norms_match_explicit_autograd(loss):
    problem, theta = tiny_problem(loss)
    G = per_example_gradients(problem, theta)
    v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    losses, dots, norms2 = alignment_terms(problem.model, problem.loss_fn, theta, problem.x, problem.y, v)
    # float64 throughout: agreement to ~1e-12 relative is rounding only
    assert torch.allclose(dots, G @ v, rtol=1e-10, atol=1e-12)
    assert torch.allclose(norms2, (G**2).sum(1), rtol=1e-10, atol=1e-12)
    assert torch.allclose(losses, problem.losses(theta), rtol=1e-12)
    # the generic path, in chunks that do not divide n
    g_losses, g_dots, g_norms2 = generic_terms(problem.model, problem.loss_fn, theta, problem.x, problem.y, v, chunk=5)
    assert torch.allclose(g_dots, G @ v, rtol=1e-10, atol=1e-12)
    assert torch.allclose(g_norms2, (G**2).sum(1), rtol=1e-10, atol=1e-12)
    assert torch.allclose(g_losses, problem.losses(theta), rtol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_step_diagnostics_match_formulas(loss):
    problem, theta = tiny_problem(loss)
    distance = np.linspace(0.0, 1.0, len(problem.x))
    d = diagnose(problem, theta, distance, None, torch.Generator().manual_seed(0), tol=1e-12)

    H = dense_hessian(problem, theta)
    evals, evecs = torch.linalg.eigh(H)
    v1 = evecs[:, -1] * torch.sign(torch.dot(evecs[:, -1], d.eigen.vectors[0]))
    G = per_example_gradients(problem, theta)
    g = G.mean(0)
    leaf = theta.detach().requires_grad_(True)
    s = torch.autograd.grad(problem.losses(leaf).mean(), leaf, create_graph=True)[0]
    hv = torch.autograd.grad(s, leaf, v1, create_graph=True)[0]
    grad_S = torch.autograd.grad(torch.dot(hv, v1), leaf)[0]

    row = d.row
    assert row["lambda1"] == pytest.approx(float(evals[-1]), rel=1e-8)
    assert row["lambda2"] == pytest.approx(float(evals[-2]), rel=1e-6)
    assert row["loss"] == pytest.approx(float(problem.losses(theta).mean()), rel=1e-12)
    assert row["grad_v1_fraction"] == pytest.approx(float(abs(g @ v1) / g.norm()), rel=1e-6)
    assert row["a_S"] == pytest.approx(float(-(g @ grad_S)), rel=1e-6, abs=1e-12)
    assert row["b_S"] == pytest.approx(float(grad_S @ grad_S), rel=1e-6)
    for name, index, got in zip(GROUPS, problem.groups, d.group_rows):
        gk = G[index].mean(0)
        assert got["group"] == name
        assert got["loss"] == pytest.approx(float(problem.losses(theta)[index].mean()), rel=1e-12)
        assert got["grad_norm"] == pytest.approx(float(gk.norm()), rel=1e-10)
        assert got["cos2"] == pytest.approx(float((gk @ v1) ** 2 / (gk @ gk)), rel=1e-6, abs=1e-12)
        assert got["curvature_influence"] == pytest.approx(float((gk @ v1) ** 2), rel=1e-6, abs=1e-14)
        assert got["R"] == pytest.approx(float(gk @ g), rel=1e-10, abs=1e-14)
        assert got["Q"] == pytest.approx(float(gk @ grad_S), rel=1e-6, abs=1e-12)
    cos2 = (G @ v1) ** 2 / (G**2).sum(1)
    # stored as float32 for the result files: 1e-6 relative is float32 rounding
    np.testing.assert_allclose(d.example_cos2, cos2.numpy(), rtol=1e-5, atol=1e-7)
    assert row["spearman_rho"] == pytest.approx(scipy.stats.spearmanr(distance, d.example_cos2).statistic, abs=1e-12)
    assert torch.allclose(d.gradient, g, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_spearman_matches_scipy_including_ties(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, 200).astype(float)  # many ties
    b = a + rng.normal(0, 2, 200)
    b[:20] = 1.0
    assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)


def conv_problem(loss: str, n: int = 10) -> tuple[Problem, torch.Tensor]:
    cfg = RunConfig(
        dataset="synthetic",
        classes=("0", "1"),
        n_per_class=40,
        image_size=12,
        m=2,
        k=3,
        model="cnn",
        width=16,
        init_scale=1.0,
    )
    model, theta = models.build_model(cfg, (3, 12, 12), "cpu", torch.float64)
    x = torch.randn(n, 3, 12, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    return Problem(model, x, (torch.arange(n) % 2).long(), loss, []), theta


@pytest.mark.parametrize("net", ["mlp", "cnn"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("path", ["tape of the step's graph", "a pass of its own", "generic (vmap)"])
def test_group_gradients_from_the_per_example_pass_match_explicit_autograd(net, loss, path, monkeypatch):
    """∇ℓ_k = (1/|P_k|) Σ_{i∈P_k} ∇ℓ_i, built per layer from δ and a (δ_Pᵀ A_P for a Linear layer, the
    convolution's weight gradient on P for a Conv2d) or accumulated from vmap's per-example gradients,
    for groups of unequal sizes with scattered members, against explicit autograd in float64."""
    problem, theta = tiny_problem(loss) if net == "mlp" else conv_problem(loss)
    groups = [torch.tensor([0, 5, 9]), torch.tensor([1, 2, 3, 4]), torch.tensor([6]), torch.tensor([7, 8])]
    problem.groups = groups
    if path == "generic (vmap)":
        monkeypatch.setattr(per_example, "_identity_pays", lambda *args: False)
    tape, losses = None, None
    if path == "tape of the step's graph":
        _, losses, _, tape = problem.graph(theta)
        assert tape is not None and len(tape.deltas) == len(tape.records)
    v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    terms = per_example.example_terms(
        problem.model, problem.loss_fn, theta, problem.x, problem.y, v, groups, tape, losses
    )

    G = per_example_gradients(problem, theta)
    expected = torch.stack([G[members].mean(0) for members in groups])
    # float64 sums of ≤ 10⁴ products: 1e-10 relative is rounding with room to spare
    torch.testing.assert_close(terms.group_grads, expected, rtol=1e-10, atol=1e-12 * float(expected.abs().max()))
    torch.testing.assert_close(terms.dots, G @ v, rtol=1e-10, atol=1e-12 * float(G.norm(dim=1).max()))
    torch.testing.assert_close(terms.norms2, (G**2).sum(1), rtol=1e-10, atol=0)
    torch.testing.assert_close(terms.losses, problem.losses(theta), rtol=1e-12, atol=0)

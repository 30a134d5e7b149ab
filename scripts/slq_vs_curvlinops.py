"""SLQ here (science/spectrum.py) against curvlinops-for-pytorch's Lanczos spectrum (Papyan 2020,
algorithm 2), side by side on the same network and data: time per spectrum and agreement.

    pip install curvlinops-for-pytorch   # only for this comparison; the product does not use it
    PYTHONPATH=. python scripts/slq_vs_curvlinops.py [--preset synthetic-mini] [--probes 10] [--steps 80]

Three ways to one spectrum at θ0 (and at θ after some GD steps):
  ours        LossGraph double-backward HVP, Lanczos with full reorthogonalisation;
  theirs      HessianLinearOperator (a fresh forward-over-reverse pass per product) with
              lanczos_approximate_spectrum (no reorthogonalisation, eigsh for the spectrum's ends);
  theirs/ours curvlinops' algorithm on our HVP, which separates the operator from the algorithm.
Agreement: L1 between the densities on curvlinops' grid with curvlinops' Gaussian width, and on
the tiny float64 network, W1 of each quadrature measure to the dense eigh spectrum.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, "tests")

from curvlinops import HessianLinearOperator
from curvlinops._torch_base import PyTorchLinearOperator
from curvlinops.papyan2020traces.spectrum import fast_lanczos, lanczos_approximate_spectrum

from eos_core.analysis.spectrum import wasserstein1
from eos_core.presets import preset
from eos_core.science.branching import prepare
from eos_core.science.spectrum import hessian_operator, slq


class Flat(nn.Module):
    """The flat-θ network as a module with θ its one parameter, as curvlinops expects."""

    def __init__(self, flat_model, theta):
        super().__init__()
        self.theta = nn.Parameter(theta.detach().clone())
        self._flat = [flat_model]  # a list, so the wrapped module's own parameters stay out

    def forward(self, x):
        return self._flat[0](self.theta, x)


class SummedMSE(nn.MSELoss):
    """The paper's loss: Σ over outputs of (f − onehot)², mean over examples."""

    def forward(self, outputs, y):
        target = nn.functional.one_hot(y, outputs.shape[1]).to(outputs.dtype)
        return super().forward(outputs, target) * outputs.shape[1]


class Ours(PyTorchLinearOperator):
    """Our double-backward HVP as a curvlinops operator."""

    SELF_ADJOINT = True

    def __init__(self, graph, dim, device, dtype):
        super().__init__([(dim,)], [(dim,)])
        self.graph, self._device, self._dtype = graph, device, dtype

    @property
    def device(self):
        return self._device

    @property
    def dtype(self):
        return self._dtype

    def _matmat(self, X):
        (M,) = X
        return [torch.stack([self.graph.hvp(M[:, k]).to(self._dtype) for k in range(M.shape[1])], 1)]


def ours_density(nodes, weights, grid, sigma):
    n, w = np.concatenate(nodes), np.concatenate(weights) / len(nodes)
    z = (grid[:, None] - n[None, :]) / sigma
    return (w * np.exp(-0.5 * z**2)).sum(1) / (sigma * math.sqrt(2 * math.pi))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(problem, theta, probes, steps, label):
    dim = theta.numel()
    graph = hessian_operator(problem, theta)
    (nodes, weights), t_ours = timed(lambda: slq(graph.hvp, dim, probes, steps, 0, "cpu"))
    module = Flat(problem.model, theta)
    H = HessianLinearOperator(module, SummedMSE(), [module.theta], [(problem.x, problem.y)], progressbar=False)
    margin = 0.05
    torch.manual_seed(0)
    (grid, theirs), t_theirs = timed(
        lambda: lanczos_approximate_spectrum(H, steps, num_points=1024, num_repeats=probes, margin=margin)
    )
    torch.manual_seed(0)
    op = Ours(graph, dim, theta.device, theta.dtype)
    (_, theirs_ours), t_mixed = timed(
        lambda: lanczos_approximate_spectrum(op, steps, num_points=1024, num_repeats=probes, margin=margin)
    )
    grid = grid.double().numpy()
    width = (grid[-1] - grid[0]) / 2  # their σ in λ units: 2/(m−1)/√(8 ln 3) on the spectrum scaled to [−1, 1]
    sigma = width * 2 / (steps - 1) / math.sqrt(8 * math.log(3))
    mine = ours_density(nodes, weights, grid, sigma)
    dx = grid[1] - grid[0]

    def l1(a):
        return float(np.abs(np.asarray(a, dtype=float) - mine).sum() * dx)

    hvp_s = timed(lambda: [graph.hvp(torch.randn(dim, dtype=theta.dtype)) for _ in range(20)])[1] / 20
    v = torch.randn(dim, dtype=theta.dtype)
    their_hvp_s = timed(lambda: [H @ v for _ in range(20)])[1] / 20
    print(f"{label}: d={dim}, {probes} probes × {steps} steps")
    print(
        f"  time per spectrum: ours {t_ours:.2f} s, curvlinops {t_theirs:.2f} s, curvlinops on our HVP {t_mixed:.2f} s"
    )
    print(f"  one HVP: ours {1e3 * hvp_s:.2f} ms, curvlinops {1e3 * their_hvp_s:.2f} ms")
    print(f"  L1 between densities: curvlinops {l1(theirs):.3f}, curvlinops on our HVP {l1(theirs_ours):.3f}")
    print(f"  top node {max(max(n) for n in nodes):.6g}")


def against_eigh(probes, steps):
    """The tiny float64 network: W1 of each method's quadrature measure to the eigh spectrum."""
    from tiny import dense_hessian, tiny_problem

    problem, theta = tiny_problem()
    for _ in range(200):
        theta = theta - 0.1 * problem.step_gradient(theta)[0]
    eig = torch.linalg.eigvalsh(dense_hessian(problem, theta)).numpy()
    dim, span = len(eig), eig[-1] - eig[0]
    exact = (eig, np.full(dim, 1 / dim))
    graph = hessian_operator(problem, theta)
    op = Ours(graph, dim, theta.device, theta.dtype)
    for m in (20, 60):
        ours, theirs = [], []
        for seed in range(10):
            nodes, weights = slq(graph.hvp, dim, probes, m, seed, "cpu")
            ours.append(wasserstein1((np.concatenate(nodes), np.concatenate(weights)), exact) / span)
            torch.manual_seed(seed)
            runs = [fast_lanczos(op, m) for _ in range(probes)]
            n = np.concatenate([e.numpy() for e, _ in runs])
            w = np.concatenate([(V[0] ** 2).numpy() for _, V in runs])
            theirs.append(wasserstein1((n, w), exact) / span)
        print(
            f"tiny d={dim} m={m}: W1/R to eigh, mean (max) over 10 seeds: ours {np.mean(ours):.4f} "
            f"({np.max(ours):.4f}), curvlinops' Lanczos {np.mean(theirs):.4f} ({np.max(theirs):.4f})"
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="synthetic-mini")
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    against_eigh(args.probes, args.steps)
    cfg = preset(args.preset, device="cpu")
    setup = prepare(cfg)
    problem, theta = setup.problem, setup.theta0
    compare(problem, theta, args.probes, args.steps, f"{args.preset} at θ0")
    for _ in range(100):
        theta = theta - cfg.lr * problem.step_gradient(theta)[0]
    compare(problem, theta, args.probes, args.steps, f"{args.preset} after 100 GD steps")


if __name__ == "__main__":
    main()

"""The Hessian's spectral density by stochastic Lanczos quadrature (SLQ; Golub–Meurant, Ubaru,
Chen & Saad 2017; as used for networks by Ghorbani et al. 2019 and Papyan 2020).

For a probe z (Rademacher, unit norm) m Lanczos steps from z give a tridiagonal T_m = S Θ Sᵀ; its
eigenvalues θ_j with weights (S_1j)² are the m-node Gauss quadrature of the probe's spectral
measure Σ_i (z·u_i)² δ(λ_i), exact for polynomials up to degree 2m − 1. Averaged over probes, the
measure estimates the eigenvalue distribution (1/d) Σ_i δ(λ_i) (E (z·u_i)² = 1/d). Errors, in W1
(the distance between the CDFs) on a spectrum of width R:
  quadrature   ≤ π·R/(4m) per probe (Jackson: a 1-Lipschitz function is within πR/(8m) of a
               polynomial of degree 2m − 1, which the quadrature integrates exactly);
  sampling     E ≤ R·√(2/(P·d)) (Hutchinson with Rademacher probes: Var z·P_t·z ≤ 2·rank/d², for
               the spectral projector P_t below each λ = t), which vanishes as d grows.
Full reorthogonalisation keeps the quadrature a true Gauss rule (without it, lost orthogonality
makes ghost copies of converged Ritz values and over-weights the spectrum's edges).

The operator is the same double-backward HVP on one kept graph as the sharpness solves
(curvature.LossGraph), reductions in float64. `spectrum_of` is the entry point for the CLI and
a worker: a stored run, a logged step and a branch in, an analysis.spectrum.Spectrum out.
"""

from __future__ import annotations

import time

import torch

from eos_core.analysis.results import Result
from eos_core.analysis.spectrum import Spectrum, check_step
from eos_core.config import branch_thresholds
from eos_core.science.curvature import LossGraph
from eos_core.science.problem import Problem

PROBES = 10  # sampling error E ≤ R·√(2/(P·d)): under 0.5% of R for networks of d ≥ 10⁴ parameters
STEPS = 80  # Lanczos steps per probe: quadrature error ≤ πR/(4m), about 1% of R at m = 80


def rademacher(dim: int, generator: torch.Generator, device) -> torch.Tensor:
    """A unit probe with ±1/√d entries: Hutchinson's estimator has the least variance with these."""
    signs = torch.randint(0, 2, (dim,), generator=generator, dtype=torch.int8).double() * 2 - 1
    return (signs / dim**0.5).to(device)


def lanczos_quadrature(hvp, probe: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(nodes, weights) of the Gauss quadrature of the probe's spectral measure from `steps`
    Lanczos steps with full reorthogonalisation (float64, on the CPU). Stops early when the Krylov
    space closes (β ≈ 0): the quadrature is then exact, with fewer nodes."""
    Q = torch.empty(steps, probe.numel(), dtype=torch.float64, device=probe.device)  # the basis, m·d·8 bytes
    Q[0] = probe.double() / probe.double().norm()
    alphas, betas, scale = [], [], 0.0
    for j in range(steps):
        w = hvp(Q[j]).double()
        alphas.append(torch.dot(w, Q[j]))
        scale = max(scale, abs(float(alphas[-1])))
        for _ in range(2):  # twice is enough (Kahan–Parlett) to keep the basis orthogonal
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta = w.norm()
        if j == steps - 1 or beta <= 1e-10 * scale:
            break
        betas.append(beta)
        Q[j + 1] = w / beta
    T = torch.diag(torch.stack(alphas).cpu())
    if betas:
        off = torch.stack(betas).cpu()
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    nodes, vectors = torch.linalg.eigh(T)
    return nodes, vectors[0] ** 2


def slq(hvp, dim: int, probes: int, steps: int, seed: int, device) -> tuple[list, list]:
    """Nodes and weights per probe (lists of floats), `probes` Rademacher probes from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    nodes, weights = [], []
    for _ in range(probes):
        n, w = lanczos_quadrature(hvp, rademacher(dim, generator, device), min(steps, dim))
        nodes.append(n.tolist())
        weights.append(w.tolist())
    return nodes, weights


def hessian_operator(problem: Problem, theta: torch.Tensor) -> LossGraph:
    """The full-batch loss's gradient graph at θ: its `hvp` is H·v by double backward."""
    leaf = theta.detach().requires_grad_(True)
    return LossGraph(leaf, problem.losses(leaf).mean())


def spectrum_of(
    result: Result,
    step: int,
    branch: str = "baseline",
    probes: int = PROBES,
    steps: int = STEPS,
    seed: int = 0,
    progress=None,
) -> Spectrum:
    """The Hessian's SLQ spectrum of a stored run's `branch` at logged `step` (θ replayed there;
    `progress` hears the replay's logged steps, as a run's would)."""
    from eos_core.science.fork import state_at

    check_step(result.trace, result.meta, step, branch)
    setup, cfg, state = state_at(result, step, branch, progress)
    started = time.perf_counter()
    graph = hessian_operator(setup.problem, state.theta)
    nodes, weights = slq(graph.hvp, state.theta.numel(), probes, steps, seed, setup.device)
    wall = time.perf_counter() - started
    trace = result.trace
    logged = trace[(trace.branch == branch) & (trace.step == step)].iloc[0]
    threshold = branch_thresholds(cfg)[branch]
    return Spectrum(
        config_hash=result.meta["config_hash"],
        branch=branch,
        step=step,
        t_eff=float(state.t_eff),
        nodes=nodes,
        weights=weights,
        lambda1=float(logged.lambda1),
        threshold=threshold.value,
        threshold_symbol=threshold.symbol,
        dim=state.theta.numel(),
        probes=probes,
        steps=steps,
        seed=seed,
        hvps=graph.hvps,
        wall_s=wall,
    )

"""Hessian-vector products and the top Hessian eigenpairs, on the device.

One gradient graph (`create_graph=True`) is built per solve and every HVP reuses it by double
backward — about 1.2× a gradient each, against ~2.3× for a fresh graph per product. The top-2
eigenpairs come from Lanczos with full reorthogonalisation, warm-started from the previous
step's v1, stopping on λ1's relative Ritz residual. All reductions over the
parameters accumulate in float64: float32 dot products over ~10⁶ entries bias Rayleigh
quotients by ~1e-3 relative, which would make a 1e-3 stopping rule unreachable.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def dot64(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a.double(), b.double()))


class LossGraph:
    """The loss at θ with its gradient graph kept, so HVPs and ∇S reuse one forward/backward."""

    def __init__(self, theta_leaf: torch.Tensor, loss: torch.Tensor):
        self.theta = theta_leaf
        self.loss = loss
        self.grad = torch.autograd.grad(loss, theta_leaf, create_graph=True)[0]
        self.hvps = 0

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        self.hvps += 1
        v = v.to(self.grad.dtype)
        return torch.autograd.grad(self.grad, self.theta, v, retain_graph=True)[0].detach()

    def sharpness_gradient(self, v1: torch.Tensor) -> torch.Tensor:
        """∇S = ∇_θ(v1ᵀ H(θ) v1) with v1 held fixed (Danskin: the gradient of λ1 for a simple λ1)."""
        v1 = v1.to(self.grad.dtype)
        hv = torch.autograd.grad(self.grad, self.theta, v1, create_graph=True)[0]
        return torch.autograd.grad(torch.dot(hv, v1), self.theta, retain_graph=True)[0].detach()


@dataclass
class Eigenpairs:
    values: torch.Tensor     # (k,) float64, descending
    vectors: torch.Tensor    # (k, d) float64, unit norm
    residuals: torch.Tensor  # (k,) ‖Hv − λv‖ / |λ1|
    hvps: int


def top_eigenpairs(hvp, start: torch.Tensor, k: int = 2, tol: float = 1e-3,
                   max_iter: int = 200) -> Eigenpairs:
    """Lanczos with full reorthogonalisation for the k algebraically largest eigenpairs.

    Stops once k Ritz pairs exist and the top one has ‖Hy − θy‖ ≤ tol·|θ1|. The lower pairs
    come with their own residuals (reported, not waited for: λ2 sits in a cluster and would
    need many more products). Residuals are |β_j·s_j| from the Lanczos relation, exact up to
    rounding under full reorthogonalisation.
    """
    q = start.double() / start.double().norm()
    basis = [q]
    alphas, betas = [], []
    for j in range(max_iter):
        w = hvp(basis[-1]).double()
        alphas.append(torch.dot(w, basis[-1]))
        Q = torch.stack(basis)
        for _ in range(2):  # twice is enough (Kahan–Parlett) to keep the basis orthogonal
            w = w - Q.T @ (Q @ w)
        beta = w.norm()
        values, S = _tridiagonal_eigh(alphas, betas)
        top = min(k, len(values))
        residuals = (beta * S[-1, :top]).abs() / values[0].abs().clamp_min(1e-300)
        done = top == k and bool(residuals[0] <= tol)
        if done or beta <= 1e-12 * values[0].abs() or j == max_iter - 1:
            vectors = S[:, :top].T @ Q
            return Eigenpairs(values[:top], vectors, residuals, hvps=j + 1)
        betas.append(beta)
        basis.append(w / beta)
    raise AssertionError("unreachable")


def _tridiagonal_eigh(alphas, betas):
    T = torch.diag(torch.stack(alphas))
    if betas:
        off = torch.stack(betas)
        T = T + torch.diag(off, 1) + torch.diag(off, -1)
    values, vectors = torch.linalg.eigh(T)
    return values.flip(0), vectors.flip(1)


def warm_start(previous: Eigenpairs | None, dim: int, device, generator: torch.Generator) -> torch.Tensor:
    """Start from the last solve's v1 (it moves little between logged steps); else at random.

    Starting in span(v1, v2) was measured slower: the previous v2 is itself unconverged and its
    error delays λ1's convergence (9 HVPs instead of 2–4 on synthetic-mini)."""
    if previous is None:
        return torch.randn(dim, generator=generator, dtype=torch.float64).to(device)
    return previous.vectors[0]


def align_signs(pairs: Eigenpairs, previous: Eigenpairs | None) -> Eigenpairs:
    """Fix each eigenvector's arbitrary sign: agree with the previous solve, else make the
    largest-magnitude entry positive, so signed quantities such as ∇L·v1 never flip for no reason."""
    vectors = pairs.vectors.clone()
    for i in range(len(vectors)):
        if previous is not None and i < len(previous.vectors):
            sign = torch.sign(torch.dot(vectors[i], previous.vectors[i]))
        else:
            sign = torch.sign(vectors[i][vectors[i].abs().argmax()])
        vectors[i] *= sign if sign != 0 else 1.0
    return Eigenpairs(pairs.values, vectors, pairs.residuals, pairs.hvps)

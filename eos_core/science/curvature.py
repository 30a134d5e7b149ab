"""Hessian-vector products and the top Hessian eigenpairs, on the device.

One gradient graph (`create_graph=True`) is built per solve and every HVP reuses it by double
backward — about 1.2× a gradient each, against ~2.3× for a fresh graph per product. The top-2
eigenpairs come from Lanczos with full reorthogonalisation, warm-started from the previous
step's v1, stopping on λ1's relative Ritz residual at the accuracy the outputs need
(`top_eigenpairs`). All reductions over the
parameters accumulate in float64: float32 dot products over ~10⁶ entries bias Rayleigh
quotients by ~1e-3 relative, which would make a 1e-3 stopping rule unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from eos_core.config import MAX_TRACKED


def dot64(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a.double(), b.double()))


class LossGraph:
    """The loss at θ with its gradient graph kept, so HVPs and ∇S reuse one forward/backward.

    `watch`: intermediate tensors of the forward whose gradients ∂loss/∂z the same backward also
    returns (`watched_grads`, detached) — the per-example terms read them instead of a pass of
    their own."""

    def __init__(self, theta_leaf: torch.Tensor, loss: torch.Tensor, watch=()):
        self.theta = theta_leaf
        self.loss = loss
        grads = torch.autograd.grad(loss, [theta_leaf, *watch], create_graph=True)
        self.grad = grads[0]
        self.watched_grads = [g.detach() for g in grads[1:]]
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
    values: torch.Tensor  # (k,) float64, descending
    vectors: torch.Tensor  # (k, d) float64, unit norm
    residuals: torch.Tensor  # (k,) ‖Hv − λv‖ / |λ1|
    hvps: int
    tracked: Eigenpairs | None = None  # every pair above f·threshold (`track`), when track_fraction > 0


# The stopping rule: λ1's relative Ritz residual ρ = ‖Hy − θ1·y‖/θ1 (see `top_eigenpairs`).
RESIDUAL_TOL = 3e-3


def top_eigenpairs(hvp, start: torch.Tensor, k: int = 2, tol: float = RESIDUAL_TOL, max_iter: int = 200) -> Eigenpairs:
    """Lanczos with full reorthogonalisation for the k algebraically largest eigenpairs.

    Stops once k Ritz pairs exist and the top one has ρ = ‖Hy − θy‖/|θ1| ≤ tol. What that buys,
    with γ = (λ1 − λ2)/λ1 the relative gap (standard a-posteriori bounds for symmetric H):
        0 ≤ (λ1 − θ1)/λ1 ≤ ρ²/γ      (Kato–Temple; θ1 is a Rayleigh quotient, never above λ1)
        sin∠(y, v1) ≤ ρ/γ            (Davis–Kahan)
    and cos²(g, y) differs from cos²(g, v1) by at most sin∠(y, v1), for every gradient g.
    The accepted error: λ1 to 1e-4 relative and cos² to a few 1e-3. ρ ≤ 3e-3 gives λ1 within
    1e-4 wherever γ ≥ 0.09, and the measured error is far below the bound: on synthetic-mini's
    warm solves (steps 0–352, γ = 0.04–0.2 as λ1 and λ2 sharpen together) λ1 came within 1.5e-5
    and v1 within sin∠ ≈ 1.2ρ — the residual lies along the bottom of the spectrum, not along v2 —
    so cos² moves by ≲ 4e-3 (measured ≤ 3e-4 on the full gradient), where v1 itself turns by
    1e-1 or more between logged steps 32 apart. Residuals are |β_j·s_j| from the Lanczos relation, exact
    up to rounding under full reorthogonalisation. λ2 comes with its own residual, reported, not
    waited for (it sits in a cluster and would need many more products).
    """
    for j, (values, S, beta, Q) in enumerate(_lanczos(hvp, start, max_iter)):
        top = min(k, len(values))
        residuals = (beta * S[-1, :top]).abs() / values[0].abs().clamp_min(1e-300)
        done = top == k and bool(residuals[0] <= tol)
        if done or beta <= 1e-12 * values[0].abs() or j == max_iter - 1:
            vectors = S[:, :top].T @ Q
            return Eigenpairs(values[:top], vectors, residuals, hvps=j + 1)
    raise AssertionError("unreachable")


def eigenpairs_above(
    hvp, start: torch.Tensor, cut: float, cap: int, tol: float = RESIDUAL_TOL, max_iter: int = 300
) -> Eigenpairs:
    """Every eigenpair with λ ≥ `cut`, at most `cap` of them (the largest), by Lanczos with full
    reorthogonalisation from `start`.

    Stops once each of the m = min(cap, #{θ_i ≥ cut}) leading Ritz pairs has ρ_i =
    ‖Hy_i − θ_i·y_i‖/|θ1| ≤ tol and (unless m = cap) so has the next one, with its value resolved
    below the cut: θ_{m+1} + ρ_{m+1}·|θ1| < cut, so the interval around it that must hold an
    eigenvalue lies wholly under the cut. No rule on residuals can tell a start lying near an
    invariant subspace (small β, so every residual is small after a few products) from a finished
    solve: eigenvalues outside that subspace stay unseen, so the start must hold every direction
    to be tracked (`tracked_start`). Residuals are |β·s_i| as in `top_eigenpairs`.
    With r_i = ρ_i·|θ1|:
        |λ − θ_i| ≤ r_i for some eigenvalue λ          (every Ritz pair; no gap needed)
        |λ_i − θ_i| ≤ r_i²/δ_i                          (Kato–Temple; δ_i: θ_i's gap to the rest)
        ‖sin Θ(Y, V)‖ ≤ ‖R‖_F/δ                         (Davis–Kahan, for a cluster Y of Ritz vectors
                                                         and δ its gap to the rest of the spectrum)
    So each eigenvalue is good to r_i wherever it is, and a cluster's subspace — hence any
    quantity summed over the cluster, such as Σ_i cos²(g, y_i) — is good wherever the cluster
    stands apart. Within a cluster of near-equal eigenvalues (splitting ≲ r_i) the individual
    vectors are not defined by the data and the solve returns some orthonormal basis of the
    cluster: read per-rank values there as a share of the cluster's sum.

    What Lanczos can miss. One start vector spans one direction of each eigenspace: an exactly
    repeated eigenvalue is found once (its other copies only through rounding, many steps later),
    so the tracked set undercounts a multiplicity and misses the rest of that eigenspace. An
    eigenvalue above the cut whose eigenvector is nearly orthogonal to the start can also stay
    unseen when the stop is reached; Ritz values only approach eigenvalues from below (θ_i ≤ λ_i),
    so the count above the cut is a lower bound. Warm starts from the previous tracked vectors
    carry every tracked direction into the start, which is what keeps the count honest between
    logged steps.
    """
    for j, (values, S, beta, Q) in enumerate(_lanczos(hvp, start, max_iter)):
        scale = values[0].abs().clamp_min(1e-300)
        m = min(cap, int((values >= cut).sum()))
        residuals = (beta * S[-1, : m + 1]).abs() / scale
        converged = bool((residuals[: m + 1] <= tol).all()) if m < cap else bool((residuals[:m] <= tol).all())
        below = m == cap or (len(values) > m and float(values[m] + residuals[m] * scale) < cut)
        if (converged and below) or beta <= 1e-12 * scale or j == max_iter - 1:
            return Eigenpairs(values[:m], S[:, :m].T @ Q, residuals[:m], hvps=j + 1)
    raise AssertionError("unreachable")


# The tracked solve's stopping tolerance, tighter than RESIDUAL_TOL: the count above the cut, not
# only the values, must be right. Cold solves on the tiny test network (mse: 5 above the cut; ce: 7,
# with a pair 2 % apart) over four random starts each missed an eigenvalue in 2 of 8 at 3e-3 and in
# none at 1e-3 or below; 1e-4 keeps a margin, for 15–30 % more products (mse 21–22 against 13–17,
# ce 31–33 against 21–30).
TRACK_TOL = 1e-4


def track(hvp, eigen: Eigenpairs, previous: Eigenpairs | None, cut: float, generator, tol: float = TRACK_TOL):
    """The pairs above `cut` (at most MAX_TRACKED) at a step whose top-2 solve gave `eigen`;
    `previous`: the last step's tracked pairs. None above the cut costs nothing: λ1 within its
    residual below the cut ends it before any product."""
    if float(eigen.values[0]) * (1 + float(eigen.residuals[0])) < cut:
        empty = eigen.vectors[:0]
        return Eigenpairs(empty[:, 0], empty, empty[:, 0], hvps=0)
    start = tracked_start(eigen, previous, generator)
    return align_signs(eigenpairs_above(hvp, start, cut, MAX_TRACKED, tol), previous)


def tracked_start(eigen: Eigenpairs, previous: Eigenpairs | None, generator) -> torch.Tensor:
    """The sum of this step's v1 and v2, the last step's tracked vectors from rank 3 on, and a
    random unit vector: every direction tracked so far, plus all others for new ones to rise in.

    Measured on synthetic-mini (f = 0.5, steps 0–480): 5–10 HVPs per solve, the same pairs as a
    cold random start (6–10 HVPs). v1 plus a random vector alone stops after 2 HVPs with λ2 missed:
    a random vector's residual looks converged against the near-zero bulk, so every tracked
    direction has to be in the start for Lanczos to see it early."""
    parts = list(eigen.vectors[:2])
    if previous is not None:
        parts += list(previous.vectors[2:])
    noise = torch.randn(eigen.vectors.shape[1], generator=generator, dtype=torch.float64).to(eigen.vectors.device)
    return torch.stack([*parts, noise / noise.norm()]).sum(0)


def _lanczos(hvp, start: torch.Tensor, max_iter: int):
    """The Lanczos recurrence with full reorthogonalisation, one HVP per step: yields the Ritz
    values (descending), their eigenvectors S in the tridiagonal basis, the next β and the basis Q
    (rows), so Ritz vector i is S[:, i] @ Q and its residual norm is |β·S[-1, i]|."""
    q = start.double() / start.double().norm()
    basis = [q]
    alphas, betas = [], []
    for _ in range(max_iter):
        w = hvp(basis[-1]).double()
        alphas.append(torch.dot(w, basis[-1]))
        Q = torch.stack(basis)
        for _ in range(2):  # twice is enough (Kahan–Parlett) to keep the basis orthogonal
            w = w - Q.T @ (Q @ w)
        beta = w.norm()
        values, S = _tridiagonal_eigh(alphas, betas)
        yield values, S, beta, Q
        betas.append(beta)
        basis.append(w / beta)


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
    return replace(pairs, vectors=vectors)

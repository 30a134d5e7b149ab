"""Two toys to touch at the Story's start, pure numpy in the UI process (instant: no worker, no torch).

1. Gradient descent on the quadratic f(x, y) = ½(λ1 x² + λ2 y²). Each coordinate is multiplied by
   (1 − ηλ) per step, so the iterates converge when |1 − ηλ1| < 1, oscillate for ever at the edge
   η = 2/λ1 (|1 − ηλ1| = 1) and diverge above it.

2. A sharpening toy: a two-parameter loss whose sharpness rises along the gradient descent path
   (progressive sharpening) until gradient descent pins it near 2/η (the edge of stability). It is
   the self-stabilisation picture of Damian, Nichani & Lee (2023, "Self-Stabilization: The Implicit
   Bias of Gradient Descent at the Edge of Stability", ICLR) reduced to its two directions: x along
   the top Hessian eigenvector, y along the gradient of the sharpness,

       f(x, y) = S(y)·φ(x) + ½ b (y − y*)² − ε x,   S(y) = s0 + y,   φ(x) = log cosh(a x) / a².

   φ ≈ x²/2 near 0, so the curvature along x is S(y): the sharpness. The last-but-one term pulls y
   towards y*, where S = s0 + y* (the minimum's sharpness), so descent sharpens the loss. Once
   S > 2/η, x oscillates with period 2 and grows; the term S(y)·φ(x) then pushes y back down with
   force φ(x) (the oscillation, fed back through the third derivative, lowers the sharpness: their
   self-stabilisation). Where Damian et al.'s cubic model cycles around 2/η, φ's curvature falling
   off at |x| ~ 1/a (this toy's choice) damps the cycle: gradient descent settles on a period-2
   orbit whose sharpness is within a few per cent of 2/η, held there for as long as it runs. The
   first crossing overshoots, because the oscillation must grow from almost nothing (ε only keeps x
   off exactly zero). Below the threshold (2/η > s0 + y*) it simply converges to the minimum.

The sharpness is the largest eigenvalue of the exact Hessian at each iterate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# -- the quadratic -------------------------------------------------------------------------------

CONVERGES, EDGE, DIVERGES = "converge", "oscillate at the edge", "diverge"  # what the iterates do
# The Story's bowl: λ1 = 10 puts the edge at η = 2/λ1 = 0.2, inside its slider's range 0.02–0.25;
# λ2 = 2 is flat enough that the path's second coordinate visibly lags behind the first.
BOWL = (10.0, 2.0)
BOWL_START = (1.0, 1.0)
BOWL_LR = (0.02, 0.25, 0.15)  # the slider's η: lowest, highest, first shown


def quadratic_path(lam1: float, lam2: float, lr: float, start=(1.0, 1.0), steps: int = 20) -> np.ndarray:
    """The iterates θ_0 … θ_steps, shape (steps + 1, 2), of gradient descent at `lr` on
    ½(λ1 x² + λ2 y²) from `start`."""
    factors = np.array([1.0 - lr * lam1, 1.0 - lr * lam2])
    path = np.empty((steps + 1, 2))
    path[0] = start
    for t in range(steps):
        path[t + 1] = factors * path[t]  # the gradient is (λ1 x, λ2 y)
    return path


def quadratic_loss(path: np.ndarray, lam1: float, lam2: float) -> np.ndarray:
    return 0.5 * (lam1 * path[:, 0] ** 2 + lam2 * path[:, 1] ** 2)


def regime(lam: float, lr: float) -> str:
    """What gradient descent does along a direction of curvature `lam`: |1 − ηλ| against 1.
    The edge is a single value of η; isclose absorbs the rounding of a slider's η·λ."""
    factor = abs(1.0 - lr * lam)
    if np.isclose(factor, 1.0, rtol=0.0, atol=1e-9):
        return EDGE
    return CONVERGES if factor < 1.0 else DIVERGES


# -- the sharpening toy --------------------------------------------------------------------------


@dataclass(frozen=True)
class SharpeningToy:
    """The loss's constants (module docstring). With them the minimum's sharpness is s0 + y* = 40,
    so every η above 2/40 = 0.05 meets the edge of stability."""

    s0: float = 2.0  # the sharpness at the start
    y_star: float = 38.0  # where the pull on y rests: the minimum's sharpness is s0 + y*
    b: float = 0.01  # the pull's strength: the speed of progressive sharpening
    a: float = 0.3  # φ's curvature falls off at |x| ~ 1/a
    eps: float = 1e-3  # keeps x off exactly zero, where the oscillation could never start

    @property
    def minimum_sharpness(self) -> float:
        return self.s0 + self.y_star


DEFAULT_TOY = SharpeningToy()
# The slider's η: below 0.10 the sharpening needs more than the 1500 steps drawn to reach 2/η and
# settle; above 0.20 the first overshoot passes 1.6× 2/η.
SHARPENING_LR = (0.10, 0.20, 0.15)


@dataclass(frozen=True)
class SharpeningRun:
    toy: SharpeningToy
    lr: float
    sharpness: np.ndarray  # λ1 of the Hessian at each iterate, steps + 1 values
    loss: np.ndarray
    x: np.ndarray  # the coordinate along the top eigenvector

    @property
    def threshold(self) -> float:
        return 2.0 / self.lr


def _phi(toy: SharpeningToy, x: np.ndarray):
    """φ(x), φ'(x), φ''(x) for φ = log cosh(a x) / a²; logaddexp keeps large |x| finite."""
    ax = toy.a * x
    th = np.tanh(ax)
    return (np.logaddexp(ax, -ax) - np.log(2.0)) / toy.a**2, th / toy.a, 1.0 - th**2


def sharpening_run(lr: float, steps: int = 1500, toy: SharpeningToy = DEFAULT_TOY) -> SharpeningRun:
    """Gradient descent at `lr` on the sharpening toy from (x, y) = (0, 0)."""
    xs, ys = np.empty(steps + 1), np.empty(steps + 1)
    x = y = 0.0
    for t in range(steps + 1):
        xs[t], ys[t] = x, y
        phi, dphi, _ = _phi(toy, np.float64(x))
        grad_x = (toy.s0 + y) * dphi - toy.eps
        grad_y = phi + toy.b * (y - toy.y_star)
        x, y = x - lr * grad_x, y - lr * grad_y
    phi, dphi, ddphi = _phi(toy, xs)
    s = toy.s0 + ys
    hessians = np.stack([np.stack([s * ddphi, dphi], -1), np.stack([dphi, np.full_like(s, toy.b)], -1)], -2)
    loss = s * phi + 0.5 * toy.b * (ys - toy.y_star) ** 2 - toy.eps * xs
    return SharpeningRun(toy, lr, np.linalg.eigvalsh(hessians)[:, -1], loss, xs)


@dataclass(frozen=True)
class Pinning:
    """Where a run's sharpness meets 2/η and how closely it is held there afterwards."""

    crossed: int | None  # the first step with λ1 ≥ 2/η, None if it never gets there
    peak: float  # the largest λ1 / (2/η)
    trough: float | None  # the smallest λ1 / (2/η) after the peak: how far the oscillation pushes it back
    settled: int | None  # the first step from which λ1 stays within `band` of 2/η to the end
    band: float


def pinning(run: SharpeningRun, band: float = 0.05) -> Pinning:
    ratio = run.sharpness / run.threshold
    above = np.flatnonzero(ratio >= 1.0)
    if not len(above):
        return Pinning(None, float(ratio.max()), None, None, band)
    outside = np.flatnonzero(np.abs(ratio - 1.0) > band)
    outside = outside[outside >= above[0]]
    settled = int(outside[-1]) + 1 if len(outside) else int(above[0])
    trough = float(ratio[int(ratio.argmax()) :].min())
    return Pinning(int(above[0]), float(ratio.max()), trough, settled if settled < len(ratio) else None, band)

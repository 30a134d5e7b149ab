"""The valley: the loss along the top Hessian eigenvector v1 through the current weights, the
v1 × v2 surface, and where the last few iterates land, at chosen logged steps (valley_every > 0).

Forward passes only: v1 and v2 are the eigenvectors the logged step's diagnostics already solved
for, and every grid point is one full-batch loss under torch.no_grad (batched with vmap on a GPU).
A checkpoint costs SLICE_POINTS + SURFACE_POINTS² + ITERATES = 166 forward passes: on
teach-selective 70–92 gradients, and its 11 checkpoints make the baseline 1.22–1.55× as long (`bench`,
two measurements on two shared CPU cores), so checkpoints are kept sparse (about a dozen per branch).
The offsets span a range set by the iterates' own swing along each direction, so an EoS bounce
is visible, with a floor from the curvature so a valley shows even where the iterates barely move.
"""

from __future__ import annotations

import math

import torch
from torch.func import vmap

from eos_core.config import RunConfig
from eos_core.science.problem import Problem

SLICE_POINTS = 41  # odd: the grid holds s = 0 (the current weights) exactly
SURFACE_POINTS = 11  # per direction; the surface costs SURFACE_POINTS² forward passes, the bulk of the cost
ITERATES = 4  # previous iterates θ_{t−1} … θ_{t−4} kept and projected
SWING = 2.0  # the grid reaches this many times the farthest iterate's offset
CHUNK = 16  # grid points per batched forward on a GPU: bounds the memory of one vmap call


def checkpoint_steps(cfg: RunConfig, t_star: int | None, branch: str) -> set[int]:
    """The logged steps a branch slices at (empty when valley_every = 0). The baseline: the logged
    step nearest to each multiple of valley_every, and t*. The exit branch: t* and, for each
    baseline checkpoint after t*, the logged step nearest to the same effective time
    t* + (t − t*)/c, so the page can set the two branches side by side. The baseline's own steps
    never depend on c: every c forks from it."""
    every, grid = cfg.valley_every, cfg.log_every
    if not every:
        return set()
    baseline = {min(grid * round(t / grid), cfg.steps - cfg.steps % grid) for t in range(0, cfg.steps + 1, every)}
    baseline |= {t_star} if t_star is not None else set()
    if branch == "baseline":
        return baseline
    steps = {t_star}
    for t in sorted(s for s in baseline if s > t_star):
        s = t_star + grid * round((t - t_star) / (cfg.c * grid))
        if s > cfg.steps:
            break
        steps.add(s)
    return steps


def remember(recent: list, theta: torch.Tensor) -> None:
    """Keep θ among the last ITERATES iterates (oldest first). θ is never modified in place by the
    optimiser (each update is a new tensor), so no copy is needed."""
    recent.append(theta)
    del recent[:-ITERATES]


def valley_rows(
    problem: Problem, theta: torch.Tensor, vectors: torch.Tensor, values, loss: float, recent: list
) -> tuple[list[dict], list[dict]]:
    """(grid rows, iterate rows) at θ. `vectors` (k, d): v1 (and v2) of this step's diagnostics,
    `values` their eigenvalues, `loss` the logged L(θ), `recent` the previous iterates, oldest first.

    Grid rows: kind "slice" (s1 on SLICE_POINTS offsets along v1, s2 = 0) and, given v2, kind
    "surface" (SURFACE_POINTS² offsets along v1 and v2), each with L(θ + s1·v1 + s2·v2).
    Iterate rows: lag j = 1.., s1 = (θ_{t−j} − θ)·v1, s2 = (θ_{t−j} − θ)·v2 and L(θ_{t−j})."""
    iterates = _iterate_rows(problem, theta, vectors, recent)
    widths = [half_width([r[f"s{i + 1}"] for r in iterates], loss, float(values[i])) for i in range(len(vectors))]
    grid = [("slice", s, 0.0) for s in _offsets(widths[0], SLICE_POINTS)]
    if len(vectors) > 1:
        across = _offsets(widths[1], SURFACE_POINTS)
        grid += [("surface", a, b) for a in _offsets(widths[0], SURFACE_POINTS) for b in across]
    coefficients = torch.tensor([(a, b) for _, a, b in grid], dtype=theta.dtype, device=theta.device)
    losses = losses_along(problem, theta, vectors.to(theta.dtype), coefficients[:, : len(vectors)])
    return [{"kind": k, "s1": a, "s2": b, "loss": v} for (k, a, b), v in zip(grid, losses.tolist())], iterates


def _iterate_rows(problem: Problem, theta: torch.Tensor, vectors: torch.Tensor, recent: list) -> list[dict]:
    """Where each previous iterate lies along v1 and v2 from θ (float64 products), and its loss."""
    rows = []
    for lag, past in enumerate(reversed(recent), start=1):
        offset = ((past - theta).double() @ vectors.double().T).tolist() + [0.0]  # s2 = 0 without v2
        with torch.no_grad():
            past_loss = float(problem.losses(past).mean())  # as the trace logs L: the mean in the dtype
        rows.append({"lag": lag, "s1": offset[0], "s2": offset[1], "loss": past_loss})
    return rows


def half_width(swing: list[float], loss: float, curvature: float) -> float:
    """How far the grid reaches along one direction: SWING × the farthest iterate's offset, and at
    least √(L/λ) — where the quadratic ½λs² has climbed by half the current loss — so the valley's
    walls show even where the iterates barely move (progressive sharpening)."""
    floor = math.sqrt(max(loss, 1e-12) / max(abs(curvature), 1e-12))
    return max([SWING * abs(s) for s in swing] + [floor])


def _offsets(width: float, points: int) -> list[float]:
    """`points` evenly spaced offsets in [−width, width], with 0 exactly in the middle."""
    half = points // 2
    return [width * i / half for i in range(-half, half + 1)]


def losses_along(
    problem: Problem, theta: torch.Tensor, directions: torch.Tensor, coefficients: torch.Tensor, batched=None
) -> torch.Tensor:
    """L(θ + Σ_i c_i·v_i) for each row c of `coefficients` (float64, on the host): forward passes
    only, one grid point at a time on a CPU — measured faster there (teach-selective: 18 ms a
    point against 21–32 ms batched by 4–32) — and CHUNK at a time through vmap on a GPU
    (`batched` forces either). Memory stays at a chunk's copies of θ, never the whole grid's."""
    batched = theta.device.type != "cpu" if batched is None else batched
    mean_loss = vmap(lambda t: problem.losses(t).mean()) if batched else lambda t: problem.losses(t[0]).mean()[None]
    with torch.no_grad():
        parts = [mean_loss(theta + chunk @ directions) for chunk in coefficients.split(CHUNK if batched else 1)]
    return torch.cat(parts).double().cpu()

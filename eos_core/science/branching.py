"""The paper's branching experiment (§3.1, App. A.3–A.4).

The baseline trains at η. At the first logged step t* with λ1 ≥ f·(threshold at η) it is forked:
the exit branch restarts from the exact baseline state at t* (weights and momentum buffer) with
c·η, and t** is its first logged step with λ1 ≥ f·(threshold at c·η). The threshold is the
optimiser's own (2/η for GD, (2 + 2β)/η for heavy-ball momentum; see optim.py). Both branches log on
the same step grid (multiples of `log_every`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from eos_core.config import RunConfig, branch_thresholds
from eos_core.groups import GROUPS
from eos_core.resources import resolve_device
from eos_core.science import data, models, prototypes
from eos_core.science.curvature import Eigenpairs
from eos_core.science.diagnostics import NonFiniteLoss, diagnose
from eos_core.science.optim import Optimiser
from eos_core.science.probes import ProbeSet, build_probe_set, evaluate
from eos_core.science.problem import Problem
from eos_core.science.valley import checkpoint_steps, remember, valley_rows


class Cancelled(Exception):
    """Raised by a progress callback to stop a run at the next logged step."""


@dataclass
class Setup:
    problem: Problem
    theta0: torch.Tensor
    examples: pd.DataFrame
    centroid_distance: np.ndarray
    device: str
    prototype_pixels: dict = field(default_factory=dict)  # index and images of the tracked examples
    probes: ProbeSet | None = None  # §5.2 robustness and OOD probe sets
    geometry: dict = field(default_factory=dict)  # displacements against the data's span (App. D)


@dataclass
class ForkState:
    """Everything the exit branch needs to restart from the baseline at t*: GD has no other state."""

    step: int
    t_eff: float
    theta: torch.Tensor
    warm: Eigenpairs | None  # the eigen-solver's warm start at t*, so the fork's diagnostics match
    buffer: torch.Tensor | None = None  # heavy-ball momentum: the exit branch keeps it


@dataclass
class Branch:
    name: str
    rows: list = field(default_factory=list)
    group_rows: list = field(default_factory=list)
    example_steps: list = field(default_factory=list)
    example_loss: list = field(default_factory=list)
    example_cos2: list = field(default_factory=list)
    step_losses: list = field(default_factory=list)  # [step, t_eff, ℓ_k per group] at EVERY step, and step end+1
    tracked_rows: list = field(default_factory=list)  # per logged step and tracked eigenpair (track_fraction > 0)
    tracked_group_rows: list = field(default_factory=list)  # per logged step, tracked eigenpair and group
    valley_rows: list = field(default_factory=list)  # per valley checkpoint and grid point (valley_every > 0)
    valley_iterate_rows: list = field(default_factory=list)  # per valley checkpoint and previous iterate
    recent: list = field(default_factory=list)  # the last few θ (tensors), for the valley's iterates
    diverged_at: int | None = None
    crossing: int | None = None  # first logged step at or above the onset threshold
    fork: ForkState | None = None  # baseline only: the state at t*
    info: dict = field(default_factory=dict)  # reference flows: status, integrator and its error (meta "flows")

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.DataFrame(self.rows), pd.DataFrame(self.group_rows)


@dataclass
class InFlight:
    """A branch stopped at the top of a logged step (before its diagnostics): `run_branch`
    resumed from it ends exactly as the uninterrupted run. Stored by runs/checkpoints.py."""

    branch: Branch
    step: int
    t_eff: float
    theta: torch.Tensor
    buffer: torch.Tensor | None
    warm: Eigenpairs | None
    generator: torch.Tensor  # the diagnostics generator's state (uint8)


def make_deterministic() -> None:
    """Same config → same numbers: no TF32, deterministic kernels where they exist."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def prepare(cfg: RunConfig) -> Setup:
    make_deterministic()
    device = resolve_device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    ds = data.load_dataset(cfg.dataset, cfg.classes, cfg.n_per_class, cfg.image_size, device=device, dtype=dtype)
    tax = prototypes.build_taxonomy(
        ds.x_train,
        ds.y_train,
        cfg.m,
        cfg.k,
        cfg.alpha,
        cfg.displacement,
        torch.Generator().manual_seed(1_000_003 + cfg.seed),
    )
    model, theta0 = models.build_model(cfg, ds.x_train.shape[1:], device, dtype)
    groups = [torch.nonzero(tax.group == g).flatten() for g in range(len(GROUPS))]
    problem = Problem(model, tax.x, tax.y, cfg.loss, groups)
    group_names = np.array(("",) + GROUPS, dtype=object)[tax.group.cpu().numpy() + 1]
    examples = pd.DataFrame(
        {
            "index": np.arange(cfg.n),
            "label": tax.y.cpu().numpy(),
            "original_label": tax.original_y.cpu().numpy(),
            "group": group_names.astype(str),
            "centroid_distance": tax.centroid_distance.double().cpu().numpy(),
        }
    )
    return Setup(
        problem,
        theta0,
        examples,
        examples.centroid_distance.to_numpy(),
        device,
        prototype_images(tax, ds),
        build_probe_set(ds, tax, cfg),
        prototypes.displacement_geometry(ds.x_train, tax),
    )


def prototype_images(tax, ds) -> dict:
    """The tracked examples in pixel space (un-normalised, not clipped: displaced input-outliers
    may leave [0, 1], and the gallery shows that)."""
    index = torch.nonzero(tax.group >= 0).flatten()
    shape = (1, -1, 1, 1)
    mean = torch.tensor(ds.pixel_mean, dtype=torch.float64).view(shape)
    std = torch.tensor(ds.pixel_std, dtype=torch.float64).view(shape)
    pixels = tax.x[index].double().cpu() * std + mean
    return {"prototype_index": index.cpu().numpy(), "prototype_pixels": pixels.float().numpy()}


def run_branch(
    setup: Setup,
    cfg: RunConfig,
    name: str,
    theta: torch.Tensor,
    step: int,
    t_eff: float,
    lr: float,
    warm: Eigenpairs | None,
    threshold: float,
    progress=None,
    fork_at_onset: bool = False,
    buffer: torch.Tensor | None = None,
    resume=None,
    checkpoint=None,
    measure=None,
    cut: float | None = None,
) -> Branch:
    """Train from `step` to cfg.steps at `lr` with the configured optimiser, with full-batch
    diagnostics on the logged grid, tracking every eigenpair above `cut` if given (see `track_cut`). `checkpoint(InFlight)` is offered the whole loop state at the
    top of every logged step; `resume` (such a state) continues from one (see runs/checkpoints.py).
    `measure(t_eff, θ)` adds (trace columns, group columns) at each logged step (science.distance).
    `progress(event)` hears what happened: a "forked" event at t* (baseline), then a "logged"
    event at every logged step (see `_logged_event`)."""
    problem = setup.problem
    optimiser = Optimiser(cfg, len(problem.x))
    branch, loop = Branch(name), _Loop(step, t_eff, theta, buffer, warm, torch.Generator().manual_seed(cfg.seed))
    if resume is not None:
        branch, loop = resume.branch, _Loop.resumed(resume)
    loop.valley = checkpoint_steps(cfg, None if fork_at_onset else step, name)  # the baseline adds t* on forking
    book = _TwoStepBook(problem)
    while True:
        if loop.step % cfg.log_every == 0:
            book.top_of_logged_step(branch, loop.theta)
            if checkpoint is not None:  # everything the loop carries is in these seven values
                checkpoint(loop.in_flight(branch))
            gradient = _logged_step(
                setup, cfg, branch, loop, book, optimiser, lr, (threshold, cut), fork_at_onset, progress, measure
            )
            if gradient is None:  # diverged
                break
        else:
            gradient = book.unlogged_step(loop, optimiser)
        if loop.step == cfg.steps:
            break
        if cfg.valley_every:
            remember(branch.recent, loop.theta)
        loop.advance(optimiser, gradient, lr)
    if branch.diverged_at is None:  # the last step's two-step averages need step t+1's losses
        book.after_last_step(loop, optimiser.update(loop.theta, gradient, lr, loop.buffer)[0], lr)
    book.keep(branch)
    branch.recent.clear()  # only a branch still training needs its last iterates
    return branch


@dataclass
class _Loop:
    """What the training loop carries from step to step (an `InFlight` less the branch)."""

    step: int
    t_eff: float
    theta: torch.Tensor
    buffer: torch.Tensor | None
    warm: Eigenpairs | None
    generator: torch.Generator  # the diagnostics' random starts
    valley: set = field(default_factory=set)  # the logged steps that slice the valley (science.valley)

    @classmethod
    def resumed(cls, state: InFlight) -> _Loop:
        generator = torch.Generator()
        generator.set_state(state.generator)
        return cls(state.step, state.t_eff, state.theta, state.buffer, state.warm, generator)

    def in_flight(self, branch: Branch) -> InFlight:
        return InFlight(branch, self.step, self.t_eff, self.theta, self.buffer, self.warm, self.generator.get_state())

    def advance(self, optimiser: Optimiser, gradient: torch.Tensor, lr: float) -> None:
        self.theta, self.buffer = optimiser.update(self.theta, gradient, lr, self.buffer)
        self.step, self.t_eff = self.step + 1, self.t_eff + lr


def _logged_step(
    setup: Setup,
    cfg: RunConfig,
    branch: Branch,
    loop: _Loop,
    book: _TwoStepBook,
    optimiser: Optimiser,
    lr: float,
    thresholds: tuple[float, float | None],
    fork_at_onset: bool,
    progress,
    measure=None,
):
    """Diagnostics, fork, crossing, probes and the logged rows at a logged step; returns the step's
    gradient, or None when the loss is no longer finite (the branch diverged). `thresholds`: the
    onset threshold and the tracking cut (None: track nothing beyond λ1 and λ2)."""
    problem = setup.problem
    threshold, cut = thresholds
    try:  # the diagnostics' own forward tells divergence: no extra pass for it
        d = diagnose(
            problem,
            loop.theta,
            setup.centroid_distance,
            loop.warm,
            loop.generator,
            mechanism=_mechanism_rule(cfg, branch, loop.step, threshold, fork_at_onset),
            cut=cut,
        )
    except NonFiniteLoss:
        branch.diverged_at = loop.step
        return None
    book.logged(branch, loop, d)
    forked = fork_at_onset and _fork_if_onset(branch, loop, d.row["lambda1"], threshold)
    if cfg.valley_every and (forked or loop.step in loop.valley):
        _slice_valley(problem, branch, loop, d)
    if branch.crossing is None and d.row["lambda1"] >= threshold:
        branch.crossing = loop.step
    if setup.probes is not None and (branch.fork is not None or not fork_at_onset):
        d.row.update(evaluate(problem, loop.theta, setup.probes))  # §5.2 asks for them from t* on
    if measure is not None:
        add_measures(d, *measure(loop.t_eff, loop.theta))
    book.pending = _record(branch, cfg, d, loop.step, loop.t_eff, lr)
    loop.warm = d.eigen
    gradient = d.gradient if optimiser.full_batch else optimiser.gradient(problem, loop.theta, loop.step)[0]
    if progress is not None:
        if forked:
            progress(
                {
                    "kind": "forked",
                    "branch": branch.name,
                    "step": loop.step,
                    "t_eff": loop.t_eff,
                    "lambda1": d.row["lambda1"],
                    "threshold": threshold,
                }
            )
        progress(_logged_event(branch, cfg, book.pending, threshold))
    return gradient


def _mechanism_rule(cfg: RunConfig, branch: Branch, step: int, threshold: float, fork_at_onset: bool):
    """Whether a logged step computes the ∇S terms, given its λ1: every `mechanism_every`-th logged
    step (counted from step 0, so both branches share the grid), a branch's first logged step, and
    always at t*, where the branch decomposition (analysis.mechanism) reads a_S, b_S and Q_k."""
    scheduled = (step // cfg.log_every) % cfg.mechanism_every == 0 or not branch.rows
    may_fork = fork_at_onset and branch.fork is None
    return lambda lambda1: scheduled or (may_fork and lambda1 >= threshold)


def _slice_valley(problem: Problem, branch: Branch, loop: _Loop, d) -> None:
    """The valley's rows at this step, from the eigenpairs the diagnostics just solved for."""
    grid, iterates = valley_rows(problem, loop.theta, d.eigen.vectors, d.eigen.values, d.row["loss"], branch.recent)
    where = {"branch": branch.name, "step": loop.step, "t_eff": loop.t_eff}
    branch.valley_rows.extend({**where, **r} for r in grid)
    branch.valley_iterate_rows.extend({**where, **r} for r in iterates)


def add_measures(d, row: dict, group_rows: list[dict]) -> None:
    """Extra trace and per-group columns into a step's diagnostics, before they are recorded."""
    d.row.update(row)
    for mine, extra in zip(d.group_rows, group_rows):
        mine.update(extra)


def _fork_if_onset(branch: Branch, loop: _Loop, lambda1: float, threshold: float) -> bool:
    """t*: the first logged step with λ1 at or above the onset threshold keeps the state the exit
    branch restarts from. True when this step is t*."""
    if branch.fork is not None or lambda1 < threshold:
        return False
    branch.fork = ForkState(
        loop.step, loop.t_eff, loop.theta.clone(), loop.warm, None if loop.buffer is None else loop.buffer.clone()
    )
    return True


def _logged_event(branch: Branch, cfg: RunConfig, logged: tuple[dict, list], threshold: float) -> dict:
    """A logged step, in numbers: the branch, its step of `total`, the step it forked at (t*, the
    baseline once forked, else None), the logged row and group rows, and the onset threshold."""
    row, groups = logged
    return {
        "kind": "logged",
        "branch": branch.name,
        "step": row["step"],
        "total": cfg.steps,
        "forked_at": None if branch.fork is None else branch.fork.step,
        "row": row,
        "groups": groups,
        "threshold": threshold,
    }


class _TwoStepBook:
    """The per-step loss bookkeeping: every step's group losses (kept on the device between logged
    steps, moved off in one transfer per logged step) and the logged rows waiting for step t+1's
    losses to form their two-step averages."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.pending = None  # the last logged rows, waiting for step t+1's losses to form two-step averages
        self.unlogged = []  # group losses of the steps since the last logged one, still on the device
        self.group_mean = _group_mean_matrix(problem)

    def top_of_logged_step(self, branch: Branch, theta: torch.Tensor) -> None:
        if self.pending is not None:  # log_every = 1: the previous logged step waits for this one
            self.pending = _complete_averages(self.pending, self.problem, _full_losses(self.problem, theta))
        self.keep(branch)  # so a checkpoint holds every step's losses so far

    def logged(self, branch: Branch, loop: _Loop, d) -> None:
        _keep_step_losses(branch, self.unlogged, loop.step, loop.t_eff, [g["loss"] for g in d.group_rows])

    def unlogged_step(self, loop: _Loop, optimiser: Optimiser) -> torch.Tensor:
        """A step between logged ones: its gradient, and its losses for the books."""
        gradient, losses = optimiser.gradient(self.problem, loop.theta, loop.step)
        losses = _full_losses(self.problem, loop.theta, losses)
        self.pending = _complete_averages(self.pending, self.problem, losses)
        self.unlogged.append((loop.step, loop.t_eff, self.group_mean @ losses))
        return gradient

    def after_last_step(self, loop: _Loop, theta_after: torch.Tensor, lr: float) -> None:
        after = _full_losses(self.problem, theta_after)
        _complete_averages(self.pending, self.problem, after)
        self.unlogged.append((loop.step + 1, loop.t_eff + lr, self.group_mean @ after))

    def keep(self, branch: Branch) -> None:
        _keep_step_losses(branch, self.unlogged)


def _group_mean_matrix(problem: Problem) -> torch.Tensor:
    """(groups × n) averaging weights: one product turns per-example losses into every ℓ_k."""
    weights = torch.zeros(len(problem.groups), len(problem.x), dtype=problem.x.dtype, device=problem.x.device)
    for k, members in enumerate(problem.groups):
        weights[k, members] = 1.0 / len(members)
    return weights


def _keep_step_losses(branch: Branch, unlogged: list, *logged) -> None:
    """Move the steps' group losses off the device in one transfer per logged step (not one per
    step), then add the logged step's own (step, t_eff, losses) if given."""
    if unlogged:
        values = torch.stack([losses for _, _, losses in unlogged]).tolist()
        branch.step_losses.extend([s, t, *v] for (s, t, _), v in zip(unlogged, values))
        unlogged.clear()
    if logged:
        step, t_eff, losses = logged
        branch.step_losses.append([step, t_eff, *losses])


def _full_losses(problem: Problem, theta: torch.Tensor, losses: torch.Tensor | None = None) -> torch.Tensor:
    if losses is not None:
        return losses
    with torch.no_grad():
        return problem.losses(theta)


def _record(branch: Branch, cfg: RunConfig, d, step: int, t_eff: float, lr: float):
    where = {"branch": branch.name, "step": step, "t_eff": t_eff}
    branch.rows.append({**where, "lr": lr, **d.row})
    new_groups = [{**where, **g} for g in d.group_rows]
    branch.group_rows.extend(new_groups)
    branch.tracked_rows.extend({**where, **r} for r in d.tracked_rows)
    branch.tracked_group_rows.extend({**where, **r} for r in d.tracked_group_rows)
    if step % cfg.example_every == 0:
        branch.example_steps.append(step)
        branch.example_loss.append(d.example_loss)
        branch.example_cos2.append(d.example_cos2)
    return branch.rows[-1], new_groups


def _complete_averages(pending, problem: Problem, next_losses: torch.Tensor):
    """ℓ̄ = (ℓ(θ_t) + ℓ(θ_{t+1}))/2 — the cycle average of App. F (A5) that cancels the
    period-2 phase a fixed logging grid would otherwise always sample on the same side."""
    if pending is None:
        return None
    row, group_rows = pending
    row["loss_avg2"] = (row["loss"] + float(next_losses.mean())) / 2
    for g, index in zip(group_rows, problem.groups):
        g["loss_avg2"] = (g["loss"] + float(next_losses[index].mean())) / 2
    return None


def track_cut(cfg: RunConfig, threshold: float) -> float | None:
    """Where tracking starts: track_fraction·threshold (the branch's own, not the onset's), or None
    for the default 0, which leaves the diagnostics exactly as without tracking."""
    return cfg.track_fraction * threshold if cfg.track_fraction > 0 else None


def run_baseline(setup: Setup, cfg: RunConfig, progress=None, resume=None, checkpoint=None) -> Branch:
    threshold = branch_thresholds(cfg)["baseline"].value
    return run_branch(
        setup,
        cfg,
        "baseline",
        setup.theta0,
        0,
        0.0,
        cfg.lr,
        None,
        cfg.onset_fraction * threshold,
        progress,
        fork_at_onset=True,
        resume=resume,
        checkpoint=checkpoint,
        cut=track_cut(cfg, threshold),
    )


def run_exit(
    setup: Setup, cfg: RunConfig, fork: ForkState, progress=None, resume=None, checkpoint=None, measure=None
) -> Branch:
    threshold = branch_thresholds(cfg)["exit"].value
    return run_branch(
        setup,
        cfg,
        "exit",
        fork.theta,
        fork.step,
        fork.t_eff,
        cfg.c * cfg.lr,
        fork.warm,
        cfg.onset_fraction * threshold,
        progress,
        buffer=fork.buffer,
        resume=resume,
        checkpoint=checkpoint,
        measure=measure,
        cut=track_cut(cfg, threshold),
    )

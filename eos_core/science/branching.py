"""The paper's branching experiment (§3.1, App. A.3–A.4).

The baseline trains at η. At the first logged step t* with λ1 ≥ f·(threshold at η) it is forked:
the exit branch restarts from the exact baseline state at t* (weights and momentum buffer) with
c·η, and t** is its first logged step with λ1 ≥ f·(threshold at c·η). The threshold is the
optimiser's own (2/η for GD, (2 + 2β)/η for heavy-ball momentum; see optim.py). Both branches log on the same step grid (multiples of `log_every`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from eos_core.config import RunConfig, branch_thresholds

from eos_core.groups import GROUPS
from eos_core.science.curvature import Eigenpairs
from eos_core.science.diagnostics import NonFiniteLoss, diagnose
from eos_core.science.optim import Optimiser
from eos_core.science.probes import ProbeSet, build_probe_set, evaluate
from eos_core.resources import resolve_device
from eos_core.science.problem import Problem
from eos_core.science import data, models, prototypes


class Cancelled(Exception):
    """Raised by a progress callback to stop a run at the next logged step."""


@dataclass
class Setup:
    problem: Problem
    theta0: torch.Tensor
    examples: pd.DataFrame
    centroid_distance: np.ndarray
    device: str
    prototype_pixels: dict = field(default_factory=dict)   # index and images of the tracked examples
    probes: ProbeSet | None = None                          # §5.2 robustness and OOD probe sets
    geometry: dict = field(default_factory=dict)            # displacements against the data's span (App. D)


@dataclass
class ForkState:
    """Everything the exit branch needs to restart from the baseline at t*: GD has no other state."""
    step: int
    t_eff: float
    theta: torch.Tensor
    warm: Eigenpairs | None   # the eigen-solver's warm start at t*, so the fork's diagnostics match
    buffer: torch.Tensor | None = None   # heavy-ball momentum: the exit branch keeps it


@dataclass
class Branch:
    name: str
    rows: list = field(default_factory=list)
    group_rows: list = field(default_factory=list)
    example_steps: list = field(default_factory=list)
    example_loss: list = field(default_factory=list)
    example_cos2: list = field(default_factory=list)
    step_losses: list = field(default_factory=list)   # [step, t_eff, ℓ_k for each group] at EVERY step, and step end+1
    diverged_at: int | None = None
    crossing: int | None = None      # first logged step at or above the onset threshold
    fork: ForkState | None = None    # baseline only: the state at t*

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.DataFrame(self.rows), pd.DataFrame(self.group_rows)


@dataclass
class InFlight:
    """A branch stopped at the top of a logged step (before its diagnostics): `run_branch`
    resumed from it ends exactly as the uninterrupted run. Stored by checkpoint.py."""
    branch: Branch
    step: int
    t_eff: float
    theta: torch.Tensor
    buffer: torch.Tensor | None
    warm: Eigenpairs | None
    generator: torch.Tensor    # the diagnostics generator's state (uint8)


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
    tax = prototypes.build_taxonomy(ds.x_train, ds.y_train, cfg.m, cfg.k, cfg.alpha, cfg.displacement,
                                    torch.Generator().manual_seed(1_000_003 + cfg.seed))
    model, theta0 = models.build_model(cfg, ds.x_train.shape[1:], device, dtype)
    groups = [torch.nonzero(tax.group == g).flatten() for g in range(len(GROUPS))]
    problem = Problem(model, tax.x, tax.y, cfg.loss, groups)
    group_names = np.array(("",) + GROUPS, dtype=object)[tax.group.cpu().numpy() + 1]
    examples = pd.DataFrame({
        "index": np.arange(cfg.n),
        "label": tax.y.cpu().numpy(),
        "original_label": tax.original_y.cpu().numpy(),
        "group": group_names.astype(str),
        "centroid_distance": tax.centroid_distance.double().cpu().numpy(),
    })
    return Setup(problem, theta0, examples, examples.centroid_distance.to_numpy(), device,
                 prototype_images(tax, ds), build_probe_set(ds, tax, cfg),
                 prototypes.displacement_geometry(ds.x_train, tax))


def prototype_images(tax, ds) -> dict:
    """The tracked examples in pixel space (un-normalised, not clipped: displaced input-outliers
    may leave [0, 1], and the gallery shows that)."""
    index = torch.nonzero(tax.group >= 0).flatten()
    shape = (1, -1, 1, 1)
    mean = torch.tensor(ds.pixel_mean, dtype=torch.float64).view(shape)
    std = torch.tensor(ds.pixel_std, dtype=torch.float64).view(shape)
    pixels = tax.x[index].double().cpu() * std + mean
    return {"prototype_index": index.cpu().numpy(), "prototype_pixels": pixels.float().numpy()}


def run_branch(setup: Setup, cfg: RunConfig, name: str, theta: torch.Tensor, step: int, t_eff: float,
               lr: float, warm: Eigenpairs | None, threshold: float, progress=None,
               fork_at_onset: bool = False, buffer: torch.Tensor | None = None,
               resume=None, checkpoint=None) -> Branch:
    """Train from `step` to cfg.steps at `lr` with the configured optimiser, with full-batch
    diagnostics on the logged grid. `checkpoint(InFlight)` is offered the whole loop state at the
    top of every logged step; `resume` (such a state) continues from one (see checkpoint.py)."""
    problem, branch = setup.problem, Branch(name)
    optimiser = Optimiser(cfg, len(problem.x))
    generator = torch.Generator().manual_seed(cfg.seed)
    if resume is not None:
        branch, step, t_eff, theta, buffer, warm = (resume.branch, resume.step, resume.t_eff, resume.theta,
                                                    resume.buffer, resume.warm)
        generator.set_state(resume.generator)
    pending = None   # the last logged rows, waiting for step t+1's losses to form two-step averages
    unlogged = []    # group losses of the steps since the last logged one, still on the device
    group_mean = _group_mean_matrix(problem)
    while True:
        if step % cfg.log_every == 0:
            if pending is not None:   # log_every = 1: the previous logged step waits for this one
                pending = _complete_averages(pending, problem, _full_losses(problem, theta))
            _keep_step_losses(branch, unlogged)   # so a checkpoint holds every step's losses so far
            if checkpoint is not None:   # everything the loop carries is in these seven values
                checkpoint(InFlight(branch, step, t_eff, theta, buffer, warm, generator.get_state()))
            try:   # the diagnostics' own forward tells divergence: no extra pass for it
                d = diagnose(problem, theta, setup.centroid_distance, warm, generator)
            except NonFiniteLoss:
                branch.diverged_at = step
                break
            _keep_step_losses(branch, unlogged, step, t_eff, [g["loss"] for g in d.group_rows])
            if fork_at_onset and branch.fork is None and d.row["lambda1"] >= threshold:
                branch.fork = ForkState(step, t_eff, theta.clone(), warm,
                                        None if buffer is None else buffer.clone())
            if branch.crossing is None and d.row["lambda1"] >= threshold:
                branch.crossing = step
            if setup.probes is not None and (branch.fork is not None or not fork_at_onset):
                d.row.update(evaluate(problem, theta, setup.probes))   # §5.2 asks for them from t* on
            pending = _record(branch, cfg, d, step, t_eff, lr)
            warm = d.eigen
            gradient = d.gradient if optimiser.full_batch else optimiser.gradient(problem, theta, step)[0]
            if progress is not None:
                phase = "exit" if name == "exit" else ("eos" if branch.fork else "sharpening")
                progress({"branch": name, "step": step, "total": cfg.steps, "phase": phase,
                          "row": pending[0], "groups": pending[1], "threshold": threshold})
        else:
            gradient, losses = optimiser.gradient(problem, theta, step)
            losses = _full_losses(problem, theta, losses)
            pending = _complete_averages(pending, problem, losses)
            unlogged.append((step, t_eff, group_mean @ losses))
        if step == cfg.steps:
            break
        theta, buffer = optimiser.update(theta, gradient, lr, buffer)
        step, t_eff = step + 1, t_eff + lr
    if branch.diverged_at is None:   # the last step's two-step averages need step t+1's losses
        after = _full_losses(problem, optimiser.update(theta, gradient, lr, buffer)[0])
        _complete_averages(pending, problem, after)
        unlogged.append((step + 1, t_eff + lr, group_mean @ after))
    _keep_step_losses(branch, unlogged)
    return branch


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


def run_baseline(setup: Setup, cfg: RunConfig, progress=None, resume=None, checkpoint=None) -> Branch:
    threshold = branch_thresholds(cfg)["baseline"].value
    return run_branch(setup, cfg, "baseline", setup.theta0, 0, 0.0, cfg.lr, None,
                      cfg.onset_fraction * threshold, progress, fork_at_onset=True,
                      resume=resume, checkpoint=checkpoint)


def run_exit(setup: Setup, cfg: RunConfig, fork: ForkState, progress=None, resume=None, checkpoint=None) -> Branch:
    threshold = branch_thresholds(cfg)["exit"].value
    return run_branch(setup, cfg, "exit", fork.theta, fork.step, fork.t_eff, cfg.c * cfg.lr, fork.warm,
                      cfg.onset_fraction * threshold, progress, buffer=fork.buffer,
                      resume=resume, checkpoint=checkpoint)

"""Fork anywhere: a new exit branch from a stored run's baseline at any logged step, with changed
settings (c, η, loss, optimiser, momentum, batch size), written as a normal result.

A result folder stores no weights, so the baseline is replayed from its initial state: full-batch
GD from the same seed repeats bit for bit (science.branching makes it deterministic), and the
state at the fork step is taken as the loop passes it. A fork at the parent's t* with its own
settings therefore reproduces the parent's exit branch exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from eos_core.analysis.results import Result
from eos_core.config import FORKABLE, ForkError, RunConfig, branch_thresholds
from eos_core.science.branching import ForkState, InFlight, prepare, run_baseline, run_exit
from eos_core.science.central_flow import run_central_flow
from eos_core.science.experiment import assemble


def fork_step(parent: Result, at: int | None = None, at_sharpness: float | None = None) -> int:
    """The logged baseline step to fork at: `at` itself, or the first step where λ1 ≥ F·threshold."""
    base = parent.trace[parent.trace.branch == "baseline"]
    steps = [int(s) for s in base.step]
    if not steps:
        raise ForkError("the parent run has no logged baseline steps to fork from")
    if at_sharpness is not None:
        threshold = branch_thresholds(parent.meta["config"])["baseline"].value
        above = base[base.lambda1 >= at_sharpness * threshold]
        if above.empty:
            raise ForkError(
                f"λ1 never reaches {at_sharpness:g}·threshold = {at_sharpness * threshold:.4g} on the "
                f"baseline (its largest logged λ1 is {base.lambda1.max():.4g})"
            )
        return int(above.step.iloc[0])
    if at not in steps:
        every = parent.meta["config"]["log_every"]
        raise ForkError(
            f"step {at} is not a logged baseline step: forks start where the diagnostics ran, "
            f"{steps[0]}–{steps[-1]} every {every} steps"
        )
    return at


def forked_config(parent: Result, changes: dict) -> RunConfig:
    """The parent's config with `changes`, refused unless every change is one a fork may make."""
    refused = sorted(set(changes) - set(FORKABLE))
    if refused:
        raise ForkError(
            f"a fork cannot change {', '.join(refused)}: the baseline would no longer be the parent's; "
            f"it may change {', '.join(FORKABLE)}"
        )
    return RunConfig.from_dict(parent.meta["config"]).replace(**changes)


def fork(parent: Result, step: int, changes: dict, progress=None) -> Result:
    """Replay the parent's baseline, fork at logged `step` and train an exit branch with `changes`."""
    cfg = RunConfig.from_dict(parent.meta["config"])
    new = forked_config(parent, changes)
    started = time.perf_counter()
    setup = prepare(cfg)
    states: dict[int, ForkState] = {}

    def keep(flight: InFlight) -> None:  # the loop's whole state at the top of each logged step
        if flight.step == step:
            buffer = None if flight.buffer is None else flight.buffer.clone()
            states[step] = ForkState(flight.step, flight.t_eff, flight.theta.clone(), flight.warm, buffer)

    baseline = run_baseline(setup, cfg, progress, checkpoint=keep)
    if step not in states:  # the replayed baseline diverged before the fork step
        raise ForkError(f"the replayed baseline never reached step {step} (it diverged at {baseline.diverged_at})")
    baseline.fork = states[step]
    exit_setup = setup
    if new.loss != cfg.loss:  # the exit branch trains (and is measured) on the other loss
        exit_setup = dataclasses.replace(setup, problem=dataclasses.replace(setup.problem, loss_name=new.loss))
    exit_ = run_exit(exit_setup, new, baseline.fork, progress)
    branches = [baseline, exit_]
    if "central" in new.flows:  # it predicts the replayed baseline at the parent's η
        branches.append(run_central_flow(setup, cfg, baseline.fork, progress))
    result = assemble(new, setup, branches, time.perf_counter() - started)
    return with_lineage(result, parent, baseline.fork, changes)


def with_lineage(result: Result, parent: Result, state: ForkState, changes: dict) -> Result:
    """Record the parent and the fork point; a fork elsewhere than the parent's own gets its own hash."""
    if state.step != parent.meta.get("t_star") or changes:
        key = f"{result.meta['config_hash']}:fork@{state.step}:{parent.meta['config_hash']}"
        result.meta["config_hash"] = hashlib.sha256(key.encode()).hexdigest()[:20]
    result.meta["fork"] = {
        "parent": parent.meta["config_hash"],
        "step": state.step,
        "t_eff": state.t_eff,
        "parent_t_star": parent.meta.get("t_star"),
        "changes": dict(changes),
    }
    return result

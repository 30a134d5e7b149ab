"""Fork anywhere: a new exit branch from a stored run's baseline at any logged step, with changed
settings (c, η, loss, optimiser, momentum, batch size), written as a normal result.

A result folder stores no weights, so the baseline is replayed from its initial state: full-batch
GD from the same seed repeats bit for bit (science.branching makes it deterministic), and the
state at the fork step is taken as the loop passes it. A fork at the parent's t* with its own
settings therefore reproduces the parent's exit branch exactly. Where a fork may start, what it may
change and the key its result gets are torch-free (analysis.lineage), so the queue checks and keys
a fork job before any worker trains it.
"""

from __future__ import annotations

import dataclasses
import time

from eos_core.analysis.lineage import fork_hash, forked_config
from eos_core.analysis.results import Result
from eos_core.config import ForkError, RunConfig
from eos_core.science.branching import Branch, ForkState, InFlight, Setup, prepare, run_baseline, run_exit
from eos_core.science.distance import Shadow
from eos_core.science.experiment import assemble
from eos_core.science.flows import run_flows


def fork(parent: Result, step: int, changes: dict, progress=None) -> Result:
    """Replay the parent's baseline, fork at logged `step` and train an exit branch with `changes`."""
    cfg = RunConfig.from_dict(parent.meta["config"])
    new = forked_config(parent, changes)
    started = time.perf_counter()
    setup = prepare(cfg)
    baseline, state = replay(lambda keep: run_baseline(setup, cfg, progress, checkpoint=keep), step)
    baseline.fork = state  # the fork step's state, not the onset's
    exit_setup = setup
    if new.loss != cfg.loss:  # the exit branch trains (and is measured) on the other loss
        exit_setup = dataclasses.replace(setup, problem=dataclasses.replace(setup.problem, loss_name=new.loss))

    def measure():  # the distance to the parent's baseline: its own setup and η, whatever the fork changes
        return Shadow(setup, cfg, baseline.fork).measure

    exit_ = run_exit(exit_setup, new, baseline.fork, progress, measure=measure())
    flows = run_flows(exit_setup, new, baseline.fork, progress, measure)
    result = assemble(new, setup, [baseline, exit_, *flows], time.perf_counter() - started)
    return with_lineage(result, parent, baseline.fork, changes)


class _Reached(Exception):
    """Raised from the checkpoint hook to stop a replay once it holds the state it was run for."""


def replay(train, step: int, whole: bool = True) -> tuple[Branch | None, ForkState]:
    """Run `train(checkpoint)` (a branch's training loop, deterministic from its start) and take its
    whole state at the top of logged `step`, before that step's diagnostics. With `whole` the branch
    trains to its end and comes back too; without, training stops at `step` (the branch is None)."""
    states: dict[int, ForkState] = {}

    def keep(flight: InFlight) -> None:
        if flight.step == step:
            buffer = None if flight.buffer is None else flight.buffer.clone()
            states[step] = ForkState(flight.step, flight.t_eff, flight.theta.clone(), flight.warm, buffer)
            if not whole:
                raise _Reached

    try:
        branch = train(keep)
    except _Reached:
        return None, states[step]
    if step not in states:  # the replayed branch diverged before the step
        raise ForkError(f"the replayed {branch.name} never reached step {step} (it diverged at {branch.diverged_at})")
    return branch, states[step]


def state_at(result: Result, step: int, branch: str = "baseline", progress=None) -> tuple[Setup, RunConfig, ForkState]:
    """θ (and the rest of the loop's state) of a stored run's `branch` at logged `step`, replayed:
    the baseline from its start; the exit branch from the baseline at t*, then at c·η to `step`."""
    cfg = RunConfig.from_dict(result.meta["config"])
    if (result.meta.get("fork") or {}).get("changes"):  # its config is the exit's: the baseline's is not stored
        raise ForkError("a fork with changed settings cannot be replayed; replay its parent's baseline instead")
    setup = prepare(cfg)
    quick = cfg.replace(valley_every=0)  # valley slices are forward passes only: the state is the same without
    at = step if branch == "baseline" else result.meta["t_star"]
    _, base = replay(lambda keep: run_baseline(setup, quick, progress, checkpoint=keep), at, whole=False)
    if branch == "baseline":
        return setup, cfg, base
    _, state = replay(lambda keep: run_exit(setup, quick, base, progress, checkpoint=keep), step, whole=False)
    return setup, cfg, state


def with_lineage(result: Result, parent: Result, state: ForkState, changes: dict) -> Result:
    """Record the parent and the fork point, under the fork's own key (lineage.fork_hash)."""
    parent_hash, parent_t_star = parent.meta["config_hash"], parent.meta.get("t_star")
    result.meta["config_hash"] = fork_hash(result.meta["config_hash"], parent_hash, parent_t_star, state.step, changes)
    result.meta["fork"] = {
        "parent": parent_hash,
        "step": state.step,
        "t_eff": state.t_eff,
        "parent_t_star": parent_t_star,
        "changes": dict(changes),
    }
    return result

"""One configuration end to end: prepare, baseline, fork at t*, exit branch, the reference flows
the config asks for (science.flows), assembled Result."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eos_core.analysis.results import (
    EXAMPLE_COLUMNS,
    GROUP_COLUMNS,
    LOSS_COLUMNS,
    TRACE_COLUMNS,
    TRACKED_COLUMNS,
    TRACKED_GROUP_COLUMNS,
    VALLEY_COLUMNS,
    VALLEY_ITERATE_COLUMNS,
    Result,
)
from eos_core.config import SCHEMA_VERSION, RunConfig, branch_thresholds
from eos_core.groups import GROUPS
from eos_core.science.branching import Branch, Setup, prepare, run_baseline, run_exit
from eos_core.science.distance import Shadow
from eos_core.science.flows import run_flows


@dataclass
class Experiment:
    result: Result
    baseline: Branch  # reusable for any other c (see science.snapshot.pack_baseline)
    steps_trained: dict  # GD steps actually run here, per branch


def run_experiment(cfg: RunConfig, progress=None) -> Result:
    return run_from_baseline(cfg, None, progress).result


def run_from_baseline(cfg: RunConfig, baseline: Branch | None = None, progress=None, saver=None) -> Experiment:
    """Run `cfg`, training the baseline only when no stored baseline (same baseline_hash) is given.
    A `saver` (runs.checkpoints.Checkpoints) resumes branches from their checkpoints and keeps new ones."""
    started = time.perf_counter()
    setup = prepare(cfg)
    trained = {"baseline": 0, "exit": 0}
    if baseline is None:
        resume = saver.resume("baseline") if saver else None
        baseline = run_baseline(setup, cfg, progress, resume, saver and saver.hook("baseline"))
        trained["baseline"] = _steps(baseline, resume)
        if saver:
            saver.baseline_done(baseline, trained["baseline"])
    branches = [baseline]
    if baseline.fork is not None:
        resume = saver.resume("exit") if saver else None
        shadow = Shadow(setup, cfg, baseline.fork).measure  # the exit branch's distance to the EoS branch
        branches.append(run_exit(setup, cfg, baseline.fork, progress, resume, saver and saver.hook("exit"), shadow))
        trained["exit"] = _steps(branches[1], resume)
        branches += run_flows(setup, cfg, baseline.fork, progress, lambda: Shadow(setup, cfg, baseline.fork).measure)
    result = assemble(cfg, setup, branches, time.perf_counter() - started)
    return Experiment(result, baseline, trained)


def _steps(branch: Branch, resumed=None) -> int:
    """GD steps run here: from the resumed checkpoint (or the branch's start) to its end."""
    if not branch.rows:  # diverged before its first logged step
        return 0
    last = branch.diverged_at if branch.diverged_at is not None else branch.rows[-1]["step"]
    first = resumed.step if resumed is not None else branch.rows[0]["step"]
    return last - first


def onset_rule(cfg: RunConfig) -> dict:
    base, exit_ = branch_thresholds(cfg).values()
    return {
        "fraction": cfg.onset_fraction,
        "threshold": base.value,
        "exit_threshold": exit_.value,
        "why": base.why,
        "rule": f"t* = first logged step with λ1 ≥ {cfg.onset_fraction:g}·{base.symbol}; "
        f"t** = first logged exit step with λ1 ≥ {cfg.onset_fraction:g}·{exit_.symbol}",
    }


def status_of(cfg: RunConfig, branches: list[Branch]) -> tuple[str, str]:
    """The run's status from its baseline and exit branch; a reference flow's own status is in
    meta["flows"] (a flow that stops does not make the run diverged)."""
    baseline = branches[0]
    diverged = [b for b in branches[:2] if b.diverged_at is not None]
    if diverged:
        b = diverged[0]
        if b.diverged_at == 0:
            return "diverged", (
                "the loss is NaN/inf at step 0, before any training: the inputs or the initial "
                "weights overflow (lower alpha or init_scale)"
            )
        return (
            "diverged",
            f"the {b.name} branch produced NaN/inf by step {b.diverged_at}; the trace up to there is kept",
        )
    if baseline.fork is None:
        best = max((r["lambda1"] for r in baseline.rows), default=float("nan"))
        threshold = branch_thresholds(cfg)["baseline"].value
        return "no_onset", (
            f"no EoS onset within {cfg.steps} steps: logged λ1 peaked at {best:.4g} "
            f"= {best / threshold:.3f} of the threshold, below the onset fraction {cfg.onset_fraction:g}; "
            "no fork was made (train longer, raise η, or lower onset_fraction)"
        )
    exit_ = branches[1]
    if exit_.crossing is None:
        symbol = branch_thresholds(cfg)["exit"].symbol
        return "done", f"the exit branch did not reach its threshold f·{symbol} within the budget (no t**)"
    return "done", ""


def assemble(cfg: RunConfig, setup: Setup, branches: list[Branch], wall_time: float) -> Result:
    status, message = status_of(cfg, branches)
    baseline = branches[0]
    exit_ = branches[1] if len(branches) > 1 else None
    traces, groups = zip(*(b.tables() for b in branches))
    trace = _ordered(pd.concat(traces, ignore_index=True), TRACE_COLUMNS)
    group_table = _ordered(pd.concat(groups, ignore_index=True), GROUP_COLUMNS)
    flows = {b.name: b.info for b in branches if b.info}
    message = " ".join([message] + [f["message"] for f in flows.values() if f["message"]]).strip()
    meta = {
        "schema": SCHEMA_VERSION,
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "baseline_hash": cfg.baseline_hash(),
        "status": status,
        "message": message,
        "t_star": baseline.fork.step if baseline.fork else None,
        "t_star_star": exit_.crossing if exit_ else None,
        "onset_rule": onset_rule(cfg),
        "input_geometry": setup.geometry,
        "device": setup.device,
        "versions": versions(),
        "wall_time_s": round(wall_time, 3),
        "finished_at": time.time(),
    }
    if flows:
        meta["flows"] = flows
    arrays = {**per_example_arrays(branches, cfg.n), **setup.prototype_pixels}
    return Result(
        meta,
        trace,
        group_table,
        setup.examples.reindex(columns=EXAMPLE_COLUMNS),
        arrays,
        step_loss_table(branches, cfg.steps),
        _rows_table(branches, "tracked_rows", TRACKED_COLUMNS),
        _rows_table(branches, "tracked_group_rows", TRACKED_GROUP_COLUMNS),
        _rows_table(branches, "valley_rows", VALLEY_COLUMNS),
        _rows_table(branches, "valley_iterate_rows", VALLEY_ITERATE_COLUMNS),
    )


def _ordered(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The schema's columns first, then the optional ones this run stored (probes, distances)."""
    return table.reindex(columns=columns + [c for c in table.columns if c not in columns])


def _rows_table(branches: list[Branch], name: str, columns: list[str]) -> pd.DataFrame:
    """One table from the branches' rows of `name`, in the schema's column order."""
    rows = [row for b in branches for row in getattr(b, name)]
    return pd.DataFrame(rows, columns=columns)


def step_loss_table(branches: list[Branch], last_step: int) -> pd.DataFrame:
    """ℓ_k and the two-step average ℓ̄_k(t) = (ℓ_k(t) + ℓ_k(t+1))/2 at every step of every branch,
    up to `last_step` (each branch also holds step last_step + 1, which only feeds the average)."""
    frames = []
    for b in branches:
        if not b.step_losses:
            continue
        rows = np.asarray(b.step_losses, dtype=np.float64)
        steps, t_eff, losses = rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2:]
        average = np.full_like(losses, np.nan)
        consecutive = np.diff(steps) == 1  # true by construction; a gap would leave ℓ̄ undefined
        average[:-1][consecutive] = (losses[:-1][consecutive] + losses[1:][consecutive]) / 2
        keep = steps <= last_step
        k = len(GROUPS)
        frames.append(
            pd.DataFrame(
                {
                    "branch": b.name,
                    "step": np.repeat(steps[keep], k),
                    "t_eff": np.repeat(t_eff[keep], k),
                    "group": np.tile(GROUPS, keep.sum()),
                    "loss": losses[keep].ravel(),
                    "loss_avg2": average[keep].ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LOSS_COLUMNS)


def per_example_arrays(branches: list[Branch], n: int) -> dict:
    """(stored steps, n) arrays per branch; a branch that diverged at step 0 has none: (0, n)."""
    arrays = {}
    for b in branches:
        arrays[f"{b.name}_steps"] = np.asarray(b.example_steps, dtype=np.int64)
        arrays[f"{b.name}_loss"] = np.asarray(b.example_loss, dtype=np.float32).reshape(-1, n)
        arrays[f"{b.name}_cos2"] = np.asarray(b.example_cos2, dtype=np.float32).reshape(-1, n)
    return arrays


def versions() -> dict:
    import pandas
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pandas.__version__,
    }

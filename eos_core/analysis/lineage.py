"""Lineage: where a fork starts, what it may change, the key its result is stored under, and the
family of a run — its baseline and every branch grown from it (several c, several fork points).

Torch-free: the queue validates and keys fork jobs with it in the dashboard's process, the worker
and `eos fork` train them through science.fork, and the Branches page reads families with it.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from eos_core.analysis.results import Result
from eos_core.config import FORKABLE, ConfigError, ForkError, RunConfig, branch_thresholds


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
    """The parent's config with `changes`, refused unless every change is one a fork may make and
    the parent is a plain run: a fork's config describes its exit branch (its η, loss, optimiser),
    not the baseline it replayed, so a fork of a fork would replay another baseline."""
    lineage = parent.meta.get("fork")
    if isinstance(lineage, dict):
        raise ForkError(
            f"this run is itself a fork of {lineage.get('parent')}: fork from that run instead (its "
            "baseline is the same, and its config is the baseline's)"
        )
    refused = sorted(set(changes) - set(FORKABLE))
    if refused:
        raise ForkError(
            f"a fork cannot change {', '.join(refused)}: the baseline would no longer be the parent's; "
            f"it may change {', '.join(FORKABLE)}"
        )
    return RunConfig.from_dict(parent.meta["config"]).replace(**changes)


def fork_hash(config_hash: str, parent: str, parent_t_star: int | None, step: int, changes: dict) -> str:
    """The key a fork's result is stored under. A fork at the parent's own t* with no changes is the
    parent's exit branch again, so it keeps `config_hash` (the parent's); any other fork gets a key
    of its own from its config, fork step and parent. Known before anything trains, so a fork job is
    keyed — and submitted once — like a run."""
    if step == parent_t_star and not changes:
        return config_hash
    key = f"{config_hash}:fork@{step}:{parent}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def fork_task(parent: Result, step: int, changes: dict) -> tuple[RunConfig, dict | None]:
    """(the fork's config, its job task) after every check a fork gets before anything trains: a
    logged baseline step, allowed changes with valid values. Changes to the parent's own value are
    dropped, and a fork at the parent's t* that changes nothing is the parent's own run (task None),
    not a copy of it."""
    step = fork_step(parent, at=step)
    own = parent.meta["config"]
    changes = {k: v for k, v in changes.items() if k not in own or _value(own[k]) != _value(v)}
    cfg = forked_config(parent, changes)
    if step == parent.meta.get("t_star") and not changes:
        return cfg, None
    changes = {k: cfg.to_dict()[k] for k in changes}  # as stored: JSON types (flows a list)
    task = {
        "kind": "fork",
        "parent": parent.meta["config_hash"],
        "parent_t_star": parent.meta.get("t_star"),
        "step": step,
        "changes": changes,
    }
    return cfg, task


def _value(v):
    return list(v) if isinstance(v, (list, tuple)) else v


def task_key(cfg: RunConfig, task: dict) -> str:
    """A fork job's key: the key its result will have (fork_hash)."""
    return fork_hash(cfg.config_hash(), task["parent"], task.get("parent_t_star"), task["step"], task["changes"])


def task_of(meta: dict) -> dict | None:
    """The fork task that made a stored result (None for a plain run): a re-run repeats it."""
    fork = meta.get("fork")
    if not isinstance(fork, dict):
        return None
    return {
        "kind": "fork",
        "parent": fork["parent"],
        "parent_t_star": fork.get("parent_t_star"),
        "step": fork["step"],
        "changes": dict(fork.get("changes") or {}),
    }


# -- families ----------------------------------------------------------------------------------


def origin(meta: dict, by_hash: dict[str, dict]) -> dict:
    """The plain run a result descends from: its fork parents followed up while they are stored (a
    fork replays its parent's baseline, so the origin's baseline is the whole family's)."""
    seen = {meta["config_hash"]}
    while isinstance(meta.get("fork"), dict) and meta["fork"].get("parent") in by_hash:
        parent = by_hash[meta["fork"]["parent"]]
        if parent["config_hash"] in seen:  # a cycle cannot come from forks; stop rather than loop
            break
        seen.add(parent["config_hash"])
        meta = parent
    return meta


def family_key(meta: dict, by_hash: dict[str, dict]) -> str:
    """What every member of a family shares: its origin's baseline (runs differing only in c share it)."""
    first = origin(meta, by_hash)
    if isinstance(first.get("baseline_hash"), str):
        return first["baseline_hash"]
    try:  # a meta written without it: the same hash from its config
        return RunConfig.from_dict(first["config"]).baseline_hash()
    except (ConfigError, TypeError):
        return first["config_hash"]  # a config this version cannot read: a family of its own


def families(metas: list[dict]) -> dict[str, list[dict]]:
    """Stored results grouped by family: its plain runs first (larger c first), then its forks by fork
    step and c. The first member is the family's origin run."""
    by_hash = {m["config_hash"]: m for m in metas}
    out: dict[str, list[dict]] = {}
    for meta in metas:
        out.setdefault(family_key(meta, by_hash), []).append(meta)
    for members in out.values():
        members.sort(key=lambda m: ("fork" in m, m.get("t_star") or 0, -m["config"]["c"]))
    return out


def family(metas: list[dict], config_hash: str) -> list[dict]:
    """The members of the family of the run `config_hash` (one of `metas`)."""
    by_hash = {m["config_hash"]: m for m in metas}
    return families(metas)[family_key(by_hash[config_hash], by_hash)]


BRANCH_COLUMNS = [
    "id", "kind", "fork_step", "fork_t_eff", "c", "lr", "exit_lr", "exit_threshold", "loss", "optimizer",
    "status", "t_star_star", "parent",
]  # fmt: skip


def branch_table(members: list[dict], jobs: list[dict] = ()) -> pd.DataFrame:
    """One row per exit branch of a family: its stored results, then the fork jobs from its members
    that have no result yet (queued, running, failed, cancelled), their job state as status."""
    rows = [_row(m["config_hash"], m["config"], m.get("fork"), m.get("status"), m.get("t_star"), m) for m in members]
    stored = {m["config_hash"] for m in members}
    for job in jobs:
        task = job.get("task") or {}
        if task.get("kind") == "fork" and task.get("parent") in stored and job["id"] not in stored:
            rows.append(_row(job["id"], job["config"], task, str(job["state"]), task.get("step"), None))
    return pd.DataFrame(rows, columns=BRANCH_COLUMNS)


def _row(key: str, config: dict, fork: dict | None, status: str, step, meta: dict | None) -> dict:
    return {
        "id": key,
        "kind": "fork" if fork else "run",
        "fork_step": step,
        # a plain run forks at t* after t* steps at η; a fork records its own time (a task has none yet)
        "fork_t_eff": fork.get("t_eff") if fork else (None if step is None else step * config["lr"]),
        "c": config["c"],
        "lr": config["lr"],
        "exit_lr": config["c"] * config["lr"],
        "exit_threshold": branch_thresholds(config)["exit"].value,
        "loss": config["loss"],
        "optimizer": config["optimizer"],
        "status": status,
        "t_star_star": (meta or {}).get("t_star_star"),
        "parent": (fork or {}).get("parent"),
    }


CURVE_TRACE = ["member", "branch", "step", "t_eff", "lambda1"]
CURVE_GROUPS = ["member", "branch", "step", "t_eff", "group", "loss", "loss_avg2"]


def family_curves(results: list[Result]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trace, groups) of a family on shared axes: the baseline once (every member replays the same
    one), then each member's exit branch, labelled by its key in `member`. Other branches a result
    may hold (reference flows) are left out."""
    traces, groups = [], []
    for i, result in enumerate(results):
        key = result.meta["config_hash"]
        wanted = ("baseline", "exit") if i == 0 else ("exit",)
        trace = result.trace[result.trace.branch.isin(wanted)]
        traces.append(trace[CURVE_TRACE[1:]].assign(member=key))
        table = result.groups[result.groups.branch.isin(wanted)]
        groups.append(table[CURVE_GROUPS[1:]].assign(member=key))
    if not traces:
        return pd.DataFrame(columns=CURVE_TRACE), pd.DataFrame(columns=CURVE_GROUPS)
    trace, groups = pd.concat(traces, ignore_index=True), pd.concat(groups, ignore_index=True)
    return trace.reindex(columns=CURVE_TRACE), groups.reindex(columns=CURVE_GROUPS)

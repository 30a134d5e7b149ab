"""Sweeps over seeds and grids on any `concurrent.futures`-compatible executor.

One task per baseline: a task trains (or receives) one baseline and forks every c that shares it,
so a sweep over c trains each baseline once. Tasks return results as bytes through their futures;
only the submitting host writes the store (SQLite must not live on a network file system).
"""

from __future__ import annotations

import itertools
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

from eos_core.config import ConfigError, RunConfig, coerce
from eos_core.runs.store import Store

MAX_SEEDS = 1000  # more is surely a typo, and would queue that many trainings


def parse_seeds(text: str) -> list[int]:
    """'0-4' → [0, 1, 2, 3, 4]; '0,3,7' → [0, 3, 7]. Ranges are sized before they are built."""
    seeds = []
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last if sep else first)
        except ValueError:
            raise ConfigError("seeds", text, "write seeds as 0-4 or 0,3,7") from None
        if high < low:
            raise ConfigError("seeds", text, f"{low}-{high} is an empty range; write the smaller seed first")
        if len(seeds) + high - low + 1 > MAX_SEEDS:
            raise ConfigError("seeds", text, f"a sweep takes at most {MAX_SEEDS} seeds")
        seeds += range(low, high + 1)
    return seeds


def parse_grid(items: list[str]) -> dict[str, list]:
    """['c=0.25,0.5', 'alpha=3,10'] → {'c': [0.25, 0.5], 'alpha': [3.0, 10.0]}."""
    grid = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        if not sep:
            raise ConfigError(item, item, "grid axes are written key=v1,v2")
        grid[key.strip()] = [coerce(key.strip(), v.strip()) for v in values.split(",")]
    return grid


def expand(base: RunConfig, seeds: list[int], grid: dict[str, list]) -> list[RunConfig]:
    keys = list(grid)
    return [
        base.replace(seed=seed, **dict(zip(keys, values)))
        for values in itertools.product(*grid.values())
        for seed in seeds
    ]


def sweep_task(config_jsons: list[str], baseline_blob: bytes | None) -> dict:
    """Run configs sharing one baseline (in an executor's worker process)."""
    from eos_core.resources import resolve_device
    from eos_core.science.experiment import run_from_baseline
    from eos_core.science.snapshot import pack_baseline, unpack_baseline

    configs = [RunConfig.from_json(j) for j in config_jsons]
    baseline = unpack_baseline(baseline_blob, resolve_device(configs[0].device)) if baseline_blob else None
    out = {"results": [], "baseline": None, "steps": {"baseline": 0, "exit": 0}}
    for cfg in configs:
        experiment = run_from_baseline(cfg, baseline)
        if baseline is None:
            baseline = experiment.baseline
            out["baseline"] = pack_baseline(baseline)
        out["results"].append(experiment.result.to_zip())
        for branch, steps in experiment.steps_trained.items():
            out["steps"][branch] += steps
    return out


@dataclass
class SweepReport:
    done: list = field(default_factory=list)  # config hashes computed now
    cached: list = field(default_factory=list)  # already in the store
    failed: dict = field(default_factory=dict)  # config hash → error text
    steps: dict = field(default_factory=lambda: {"baseline": 0, "exit": 0})


def run_sweep(configs: list[RunConfig], executor: Executor, store: Store, show_progress: bool = True) -> SweepReport:
    from tqdm import tqdm

    from eos_core.analysis.results import Result

    report = SweepReport()
    by_baseline: dict[str, list[RunConfig]] = {}
    existing = set(store.result_hashes())
    for cfg in configs:
        if cfg.config_hash() in existing:
            report.cached.append(cfg.config_hash())
        else:
            by_baseline.setdefault(cfg.baseline_hash(), []).append(cfg)
    futures = {
        executor.submit(sweep_task, [c.to_json() for c in group], store.baseline(key)): (key, group)
        for key, group in by_baseline.items()
    }
    with tqdm(total=len(configs), initial=len(report.cached), unit="run", disable=not show_progress) as bar:
        for future in as_completed(futures):
            key, group = futures[future]
            try:
                out = future.result()
            except Exception as error:  # noqa: BLE001 — one failed run does not sink the sweep
                report.failed.update({c.config_hash(): f"{type(error).__name__}: {error}" for c in group})
            else:
                if out["baseline"] is not None:
                    store.put_baseline(key, out["baseline"])
                for blob in out["results"]:
                    result = Result.from_zip(blob)
                    store.put_result(result)
                    report.done.append(result.meta["config_hash"])
                for branch, steps in out["steps"].items():
                    report.steps[branch] += steps
            bar.update(len(group))
    return report


def make_executor(kind: str = "local", workers: int = 1, scheduler: str | None = None):
    """(executor, closer). `local`: a spawn process pool; `dask`: a Dask distributed client —
    a LocalCluster, or the cluster at `scheduler` (e.g. one started by dask-jobqueue on Slurm)."""
    if kind == "local":
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        return pool, pool.shutdown
    if kind == "dask":
        from distributed import Client, LocalCluster

        if scheduler:
            client = Client(scheduler)
            return client.get_executor(), client.close
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)

        def close():
            client.close()
            cluster.close()

        return client.get_executor(), close
    raise ConfigError("executor", kind, "must be local or dask")

"""Finding and repairing what killed writes and damaged files leave in the cache:
`python -m eos_core store --check` (orphan value files, dangling rows, results without meta, jobs
marked done whose result is gone, stale checkpoints) and `store --rebuild` (a fresh index for a
damaged one). Every repair returns one line saying what it did.

Torch-free; nothing is ever unpickled.
"""

from __future__ import annotations

import pathlib
import time

from eos_core.analysis.results import Result, ResultError
from eos_core.runs.disk import INDEX, row_value, salvage_rows
from eos_core.runs.keys import Keys
from eos_core.runs.queue import JobState, Queue
from eos_core.runs.store import Store

ORPHAN_AGE_S = 600.0  # a value file without an index row older than this was left by a killed write


def orphan_files(store: Store, min_age_s: float = ORPHAN_AGE_S) -> list[pathlib.Path]:
    """Value files no index row refers to, older than `min_age_s` (a younger one may belong to a
    write that is about to commit)."""
    referenced = {filename for _, filename in store.value_files()}
    now = time.time()
    return [
        path
        for path in store.directory.rglob("*.val")
        if path.relative_to(store.directory).as_posix() not in referenced and now - path.stat().st_mtime >= min_age_s
    ]


def remove_orphans(store: Store, min_age_s: float = ORPHAN_AGE_S) -> list[str]:
    removed = []
    for path in orphan_files(store, min_age_s):
        path.unlink(missing_ok=True)
        removed.append(f"removed the orphan value file {path.relative_to(store.directory)} (left by a killed write)")
    return removed


def check(store: Store, min_age_s: float = ORPHAN_AGE_S) -> list[str]:
    """Find and repair inconsistencies. (The index's own integrity is checked on opening: a
    damaged one raises StoreDamaged.)"""
    fixes = remove_orphans(store, min_age_s)
    cache = store.cache
    for key, filename in store.value_files():
        if not (store.directory / filename).exists():
            cache.delete(key)
            fixes.append(f"removed {key}: its value file {filename} is missing")
    before = len(store.problems)
    queue = Queue(store)
    jobs = {job["id"]: job for job in queue.jobs()}  # quarantines malformed records
    fixes += [problem.message for problem in store.problems[before:]]
    results = _check_results(store, fixes)
    for key, job in jobs.items():
        if job["state"] in JobState.RESULT and key not in results:
            queue.update_job(key, state=JobState.QUEUED, from_cache=False, finished=None)
            fixes.append(f"re-queued job {key}: it was {job['state']} but its result is gone")
    for key in store.keys(Keys.prefix("ckpt/exit")):
        if Keys.ident(key) in results:
            cache.delete(key)
            fixes.append(f"removed {key}: its run is finished")
    for key in store.keys(Keys.prefix("ckpt/baseline")):
        if Keys.baseline(Keys.ident(key)) in cache:
            cache.delete(key)
            fixes.append(f"removed {key}: its baseline is finished")
    return fixes


def _check_results(store: Store, fixes: list[str]) -> set[str]:
    """Drop unreadable results and metas without a result, rebuild missing metas; returns the
    hashes of the results that remain."""
    for key in store.result_hashes():
        if not store.result_readable(key):
            store.cache.delete(Keys.result(key))
            fixes.append(f"removed the unreadable result {key}")
    results = set(store.result_hashes())
    for key in store.keys(Keys.prefix("meta")):
        if Keys.ident(key) not in results:
            store.cache.delete(key)
            fixes.append(f"removed {key}: its result is gone")
    for key in results:
        if Keys.meta(key) not in store.cache:
            store.set_json(Keys.meta(key), store.result(key).meta)
            fixes.append(f"rebuilt {Keys.meta(key)} from its result")
    return results


def rebuild(directory) -> list[str]:
    """A fresh index for a damaged cache: the damaged index is moved aside (never deleted), the
    rows it still yields are copied, and any result found in a value file is indexed again.
    Value files nothing claims go to quarantine/. Run it with no worker or dashboard open.
    What lived only inside unreadable rows (queued jobs, notes) cannot be recovered: the
    result files can, and jobs are re-submitted by hand."""
    directory = pathlib.Path(directory)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    notes, rows = [], []
    old = directory / f"{INDEX}.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        path = directory / f"{INDEX}{suffix}"
        if path.exists():
            path.rename(directory / f"{INDEX}{suffix}.damaged-{stamp}")
    if old.exists():
        notes.append(f"moved the damaged index aside to {old.name}")
        rows = salvage_rows(old, notes)
    store = Store(directory)
    try:
        claimed = _copy_rows(store, rows)
        notes.append(f"copied {len(store.cache)} readable entries from the damaged index")
        for path in orphan_files(store, 0.0):
            notes += _reindex_or_quarantine(store, path, claimed)
    finally:
        store.close()
    return notes


def _copy_rows(store: Store, rows: list[tuple]) -> set:
    """Copy the salvaged rows into the fresh index; returns the value files they claim."""
    claimed = set()
    for key, mode, filename, value in rows:
        data = row_value(store.directory, mode, filename, value)
        if data is None or key in store.cache:
            continue
        store.cache.set(key, data)
        claimed.add(filename)
    return claimed


def _reindex_or_quarantine(store: Store, path: pathlib.Path, claimed: set) -> list[str]:
    relative = path.relative_to(store.directory).as_posix()
    if relative in claimed:  # copied into a new value file already
        path.unlink()
        return []
    try:
        result = Result.from_zip(path.read_bytes())
        key = result.meta["config_hash"]
    except (ResultError, KeyError, TypeError, OSError):
        target = store.directory / "quarantine" / relative.replace("/", "_")
        target.parent.mkdir(mode=0o700, exist_ok=True)
        path.rename(target)
        return [f"moved the unclaimed value file {relative} to quarantine/"]
    note = []
    if not store.has_result(key):
        store.put_result(result)
        note = [f"indexed the result {key} found in {relative}"]
    path.unlink()
    return note

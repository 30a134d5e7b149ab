"""The job queue, kept in the store: submit, claim, lease, heartbeat, commit, recover, cancel,
retry; the running jobs' live traces and the worker registry.

Jobs are leased, as in Celery's visibility timeout or Slurm's node leases: a claim writes a
fencing token (the claim's number) and a lease expiry; every write a worker makes for its job —
progress, checkpoints, the result — checks the token inside the same SQLite transaction and raises
`LostLease` if the job was given to someone else meanwhile. So a worker that was paused or cut off
can never write over a job another worker has taken or finished.

A job trains a RunConfig. A job with a `task` does something else with it — {"kind": "fork",
"parent", "step", "changes", ...}: a new exit branch from a stored run — and is keyed by what its
result will be stored under (TASK_KEYS), so it too is submitted once; the worker runs each kind
with its own runner (worker.RUNNERS). Records without a task (all written before tasks) are runs.

Torch-free: the dashboard process uses it.
"""

from __future__ import annotations

import contextlib
import enum
import os
import time
from dataclasses import dataclass

from eos_core.analysis import lineage
from eos_core.analysis.results import Result
from eos_core.config import ForkError, RunConfig
from eos_core.runs.disk import CorruptEntry, ProblemCode
from eos_core.runs.keys import Keys
from eos_core.runs.store import Store


class JobState(enum.StrEnum):
    """A job's state, stored as its plain text ("queued"), so records written before this enum
    read back unchanged. A result's meta["status"] (done, diverged, no_onset) is another set: a
    result's outcome, not a job's place in the queue."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DIVERGED = "diverged"
    CANCELLED = "cancelled"


JobState.ACTIVE = (JobState.QUEUED, JobState.RUNNING)
JobState.FINISHED = (JobState.DONE, JobState.FAILED, JobState.DIVERGED, JobState.CANCELLED)
JobState.RESULT = (JobState.DONE, JobState.DIVERGED)  # the finished states that leave a result
ACTIVE, FINISHED = JobState.ACTIVE, JobState.FINISHED
JOB_FIELDS = {
    "id": str,
    "config": dict,
    "state": str,
    "submitted": (int, float),
    "attempts": int,
    "step": int,
    "total": int,
}


# A browser session (a job's `owner`) may hold this many queued or running jobs: a run, its control
# and one more, so thirty students on one worker each wait behind at most a few of anyone's runs.
OWNER_CAP = 3
OWNER_CAP_ENV = "EOS_JOBS_PER_SESSION"  # a lab with more workers than students raises it


def owner_cap() -> int:
    """The per-owner cap: OWNER_CAP unless EOS_JOBS_PER_SESSION says otherwise."""
    raw = os.environ.get(OWNER_CAP_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else OWNER_CAP


# A task's kind → the key of the result it will store (known before it runs: the job's id).
TASK_KEYS = {"fork": lineage.task_key}


def job_key(cfg: RunConfig, task: dict | None = None) -> str:
    """A job's id: the config hash of a run, the key its task's result will have otherwise."""
    return cfg.config_hash() if task is None else TASK_KEYS[task["kind"]](cfg, task)


class QueueFull(Exception):
    """An owner already holds its cap of queued and running jobs; nothing was queued."""


class NotYours(PermissionError):
    """A job queued by another browser session: only that session may cancel, retry or delete it."""


def may_change(job: dict | None, by: str | None) -> bool:
    """Whether `by` may cancel, retry or delete `job`: the operator (None: the CLI) any job, a
    browser session its own jobs and unowned ones (CLI and first-launch jobs, results without a job)."""
    owner = (job or {}).get("owner")
    return by is None or owner is None or owner == by


def check_may_change(job: dict | None, by: str | None) -> None:
    if not may_change(job, by):
        raise NotYours(f"job {job['id'][:8]} was queued by another browser session; only that session may change it")


class LostLease(Exception):
    """The job this worker was running has been given to another worker (or finished)."""


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: int  # the claim's number: a fencing token


class Queue:
    """Job records in `store` and every write made under a job's lease."""

    def __init__(self, store: Store | None = None):
        self.store = store if isinstance(store, Store) else Store(store)

    def close(self):
        self.store.close()

    # -- job records ------------------------------------------------------------------------
    def submit(self, cfg: RunConfig, force: bool = False, task: dict | None = None, owner: str | None = None) -> dict:
        """Queue `cfg` (with `task`, if any) unless it is already queued, running or done; returns
        its job record.

        Runs in one SQLite transaction, so concurrent submitters of one config get one job.
        `force` discards a stored result and queues the config again; so does a stored result
        that cannot be read back. `owner` (a browser session) is refused with QueueFull past
        owner_cap() active jobs, and with NotYours when it forces another session's job.
        """
        key, store = job_key(cfg, task), self.store
        force = force or unreadable_result(store, key)
        with store.transact():
            job = self.job(key)
            has_result = store.has_result(key)
            if force:
                check_may_change(job, owner)
                self._check_room(owner)
                store.drop_result(key)
            elif job and (job["state"] in ACTIVE or (job["state"] in JobState.RESULT and has_result)):
                return job
            elif has_result:
                job = new_job(cfg, state=JobState.DONE, task=task)
                job["from_cache"] = True
                store.set_json(Keys.job(key), job)
                return job
            if not force:
                self._check_room(owner)
            job = new_job(cfg, token=(job or {}).get("token", 0), task=task, owner=owner)
            store.set_json(Keys.job(key), job)
            return job

    def active_of(self, owner: str) -> int:
        """How many queued or running jobs `owner` holds."""
        return sum(1 for j in self.jobs() if j.get("owner") == owner and j["state"] in ACTIVE)

    def room(self, owner: str | None) -> int | None:
        """How many more jobs `owner` may queue now (None: no cap, the operator's)."""
        return None if owner is None else max(0, owner_cap() - self.active_of(owner))

    def _check_room(self, owner: str | None) -> None:
        if self.room(owner) == 0:
            raise QueueFull(
                f"this session already has {owner_cap()} runs queued or running; "
                "wait for one to finish (or cancel one) before queuing another"
            )

    def submit_fork(self, parent: str, step: int, changes: dict, force: bool = False, owner: str | None = None) -> dict:
        """Queue a new exit branch from the stored run `parent` at its logged baseline `step` with
        `changes` (see analysis.lineage.fork_task); ForkError or ConfigError, with nothing queued,
        when the parent is missing or unreadable, the step was not logged or a change is refused.
        The same fork submitted twice is one job and one result."""
        try:
            result = self.store.result(parent)
        except CorruptEntry as error:
            raise ForkError(f"the parent run {parent} cannot be read ({error}); re-run it first") from None
        if result is None:
            raise ForkError(f"the parent run {parent} is not in this cache")
        cfg, task = lineage.fork_task(result, step, changes)
        return self.submit(cfg, force, task, owner)

    def job(self, config_hash: str) -> dict | None:
        return self._job(Keys.job(config_hash))

    def _job(self, key: str) -> dict | None:
        return read_job(self.store, key)

    def jobs(self) -> list[dict]:
        jobs = [job for key in self.store.keys(Keys.prefix("job")) if (job := self._job(key))]
        return sorted(jobs, key=lambda j: j["submitted"])

    def update_job(self, config_hash: str, **fields) -> dict | None:
        with self.store.transact():
            job = self.job(config_hash)
            if job is None:
                return None
            job.update(fields)
            self.store.set_json(Keys.job(config_hash), job)
            return job

    def delete_job(self, config_hash: str) -> None:
        self.store.cache.delete(Keys.job(config_hash))

    def queue_position(self, config_hash: str) -> int | None:
        """1 for the job claimed next (fair_order); jobs held back behind their owner's running one last."""
        jobs = self.jobs()
        order = [j["id"] for j in fair_order(jobs)]
        queued = order + [j["id"] for j in jobs if j["state"] == JobState.QUEUED and j["id"] not in order]
        return queued.index(config_hash) + 1 if config_hash in queued else None

    def cancel(self, config_hash: str, by: str | None = None) -> dict | None:
        """A queued job is cancelled at once; a running one at its next logged step. A browser
        session `by` may cancel only its own and unowned jobs (NotYours otherwise)."""
        with self.store.transact():
            job = self.job(config_hash)
            if job is None or job["state"] in FINISHED:
                return job
            check_may_change(job, by)
            if job["state"] == JobState.QUEUED:
                job.update(state=JobState.CANCELLED, finished=time.time())
            else:
                job["cancel_requested"] = True
            self.store.set_json(Keys.job(config_hash), job)
            return job

    # -- claims and leases ------------------------------------------------------------------
    def claim_next(self, pid: int, host: str = "", lease_s: float = 60.0) -> tuple[dict, Lease] | None:
        """Atomically move the next queued job (fair_order) to running, leased to `pid` on `host`
        for `lease_s` seconds under a new fencing token. A queued job whose result is already
        stored (its worker died right after the commit) is marked done instead: no work is repeated."""
        with self.store.transact():
            for job in fair_order(self.jobs()):
                if self.store.has_result(job["id"]):
                    job.update(state=JobState.DONE, pid=None, finished=time.time(), from_cache=True)
                    self.store.set_json(Keys.job(job["id"]), job)
                    continue
                now = time.time()
                token = int(job.get("token", 0)) + 1
                job.update(
                    state=JobState.RUNNING,
                    pid=pid,
                    host=host,
                    heartbeat=now,
                    lease_until=now + lease_s,
                    started=now,
                    token=token,
                    attempts=job["attempts"] + 1,
                    step=0,
                    phase="preparing",
                    error=None,
                )
                self.store.set_json(Keys.job(job["id"]), job)
                return job, Lease(job["id"], token)
            return None

    def _owned(self, lease: Lease) -> dict:
        """The job record if `lease` still holds it; LostLease otherwise. Call inside a transaction."""
        job = self.job(lease.job_id)
        if job is None or job["state"] != JobState.RUNNING or job.get("token") != lease.token:
            now = "gone" if job is None else f"{job['state']} under attempt {job.get('token')}"
            raise LostLease(f"job {lease.job_id}: attempt {lease.token} no longer holds it ({now})")
        return job

    @contextlib.contextmanager
    def fenced(self, lease: Lease | None):
        """One transaction in which `lease` (if any) is checked first; yields its job record."""
        with self.store.transact():
            yield None if lease is None else self._owned(lease)

    def _write_owned(self, lease: Lease, **fields) -> dict:
        with self.fenced(lease) as job:
            job.update(fields)
            self.store.set_json(Keys.job(lease.job_id), job)
            return job

    def renew(self, lease: Lease, lease_s: float) -> dict:
        now = time.time()
        return self._write_owned(lease, heartbeat=now, lease_until=now + lease_s)

    def progress(self, lease: Lease, live: dict | None, lease_s: float, **fields) -> dict:
        """A logged step: the trace so far and the job's step, phase and lease, fenced."""
        with self.fenced(lease) as job:
            if live is not None:
                self.store.set_json(Keys.live(lease.job_id), live)
            now = time.time()
            job.update(fields, heartbeat=now, lease_until=now + lease_s, writes=job.get("writes", 0) + 1)
            self.store.set_json(Keys.job(lease.job_id), job)
            return job

    def put_baseline(
        self, baseline_hash: str, blob: bytes, lease: Lease | None = None, counts: dict | None = None
    ) -> None:
        """A finished baseline; with a lease, only while the lease holds (and its counters)."""
        with self.fenced(lease):
            self.store.put_baseline(baseline_hash, blob, counts)

    def put_checkpoint(self, key: str, blob: bytes, lease: Lease | None = None) -> None:
        with self.fenced(lease):
            self.store.put_checkpoint(key, blob)

    def commit(self, lease: Lease, result: Result, counts: dict | None = None, **fields) -> dict:
        """Result, meta, counters and the finished job record in one fenced transaction: once a
        result is stored its job is done, and a worker that lost its lease stores nothing."""
        key = result.meta["config_hash"]
        if key != lease.job_id:  # a runner whose key rule disagrees with TASK_KEYS: a bug, stored nowhere
            raise ValueError(f"job {lease.job_id} produced a result keyed {key}")
        with self.fenced(lease) as job:
            self.store.put_result(result)
            self.store.cache.delete(Keys.ckpt_exit(key))
            for name, add in (counts or {}).items():
                self.store.count(name, add)
            job.update(fields, finished=time.time(), pid=None, lease_until=None, commits=job.get("commits", 0) + 1)
            self.store.set_json(Keys.job(key), job)
            return job

    def finish(self, lease: Lease, **fields) -> dict:
        """End the leased job without a result (cancelled, failed, or back to the queue)."""
        final = fields.get("state") in FINISHED
        return self._write_owned(
            lease, pid=None, lease_until=None, **({"finished": time.time()} if final else {}), **fields
        )

    def recover(self, abandoned, max_lost: int) -> list[str]:
        """Re-queue every running job for which `abandoned(job)` holds (its worker died or its
        lease expired). Each such loss is counted; past `max_lost` the job fails instead."""
        recovered = []
        with self.store.transact():
            for job in self.jobs():
                if job["state"] != JobState.RUNNING or not abandoned(job):
                    continue
                lost = job.get("lost", 0) + 1
                if lost > max_lost:
                    job.update(
                        state=JobState.FAILED,
                        finished=time.time(),
                        lost=lost,
                        pid=None,
                        error=f"the worker running this job vanished {lost} times",
                    )
                else:
                    job.update(state=JobState.QUEUED, lost=lost, pid=None, phase=None, lease_until=None)
                    recovered.append(job["id"])
                self.store.set_json(Keys.job(job["id"]), job)
        return recovered

    # -- live traces and the worker registry ------------------------------------------------
    def put_live(self, config_hash: str, live: dict) -> None:
        self.store.set_json(Keys.live(config_hash), live)

    def live(self, config_hash: str) -> dict | None:
        return self.store.get_json(Keys.live(config_hash))

    def set_worker(self, record: dict, gone: bool = False) -> None:
        """A worker's heartbeat record (pid, host, ...); `gone` removes it."""
        key = Keys.worker(record["host"], record["pid"])
        if gone:
            self.store.cache.delete(key)
        else:
            self.store.set_json(key, record)

    def workers(self) -> list[dict]:
        records = [r for r in self.store.records(Keys.prefix("worker")) if "pid" in r]
        return sorted(records, key=lambda r: r.get("heartbeat") or 0, reverse=True)

    def worker(self) -> dict | None:
        """The worker that heartbeat most recently, if any."""
        workers = self.workers()
        return workers[0] if workers else None


def fair_order(jobs: list[dict]) -> list[dict]:
    """The queued jobs in the order they should run: round-robin across owners, the owner served
    least recently (by its jobs' latest start) first, then by submission. An owner with a job
    running has none claimed until it ends, so one session's runs never take two workers.
    Unowned jobs (the CLI's, the first launch's) share one turn and are never held back."""
    served: dict[str | None, float] = {}
    busy = set()
    for job in jobs:
        owner = job.get("owner")
        served[owner] = max(served.get(owner, float("-inf")), job.get("started") or float("-inf"))
        if job["state"] == JobState.RUNNING and owner is not None:
            busy.add(owner)
    waiting = [j for j in jobs if j["state"] == JobState.QUEUED and j.get("owner") not in busy]
    return sorted(waiting, key=lambda j: (served[j.get("owner")], j["submitted"]))


def unreadable_result(store: Store, key: str) -> bool:
    """A stored result that cannot be read back: recorded as a problem, to be computed again."""
    if not store.has_result(key) or store.result_readable(key):
        return False
    message = f"the stored result {key} could not be read back; it is computed again"
    store.problem(ProblemCode.RECOMPUTED, Keys.result(key), message)
    return True


def read_job(store: Store, key: str) -> dict | None:
    """A job record, or None; a malformed one is quarantined (see Store.quarantine)."""
    try:
        job = store.get_json(key)
    except CorruptEntry as error:
        store.quarantine(key, str(error))
        return None
    if job is None:
        return None
    problem = job_problem(job, key)
    if problem:
        store.quarantine(key, problem)
        return None
    return job


def job_problem(job, key: str) -> str | None:
    """Why a decoded job record cannot be used, or None."""
    if not isinstance(job, dict):
        return f"a job record is a JSON object, not {type(job).__name__}"
    for field, kind in JOB_FIELDS.items():
        if not isinstance(job.get(field), kind) or isinstance(job.get(field), bool):
            return f"field {field!r} is missing or not {getattr(kind, '__name__', 'a number')}"
    if job["state"] not in ACTIVE + FINISHED:
        return f"unknown state {job['state'][:40]!r}"
    task = job.get("task")
    if task is not None and not (isinstance(task, dict) and isinstance(task.get("kind"), str)):
        return "field 'task' is neither absent nor an object with a kind"
    if not isinstance(job.get("owner"), str | None):  # absent in records written before owners
        return "field 'owner' is neither absent nor text"
    if Keys.job(job["id"]) != key:
        return "its id does not match its key"
    return None


def new_job(
    cfg: RunConfig,
    state: JobState = JobState.QUEUED,
    token: int = 0,
    task: dict | None = None,
    owner: str | None = None,
) -> dict:
    return {
        "id": job_key(cfg, task),
        "config": cfg.to_dict(),
        "task": task,
        "owner": owner,
        "state": state,
        "submitted": time.time(),
        "attempts": 0,
        "token": token,
        "failures": 0,
        "lost": 0,
        "pid": None,
        "heartbeat": None,
        "lease_until": None,
        "step": 0,
        "total": cfg.steps,
        "phase": None,
        "error": None,
        "cancel_requested": False,
        "from_cache": False,
        "started": None,
        "finished": None,
    }

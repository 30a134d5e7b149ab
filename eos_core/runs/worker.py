"""The worker: a process that takes queued jobs from the queue in order and runs them, each under
a lease (see queue.py) it renews while the job lives. It talks only to the queue (and through it
to the store).

`python -m eos_core worker` started by hand runs until stopped; `ensure_worker()` (the dashboard,
`submit --start-worker`) starts a detached one in a fresh interpreter — so CUDA is only ever
initialised here, never in a process that forks — which exits after an idle period with nothing
queued. SIGTERM and Ctrl-C stop a worker cleanly: its running job goes back to the queue at once.

Ownership, as in Slurm or Celery: a running job whose worker is gone — on this host by its pid
(dead, a zombie included, or stopped past its lease), on another host by lease expiry — is
re-queued by any live worker, which checks at every heartbeat. A job that raises fails after
MAX_FAILURES attempts; a job whose worker vanished is re-queued up to MAX_LOST times, since kills
say nothing about the job.

This module imports torch only inside the functions that train.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

from eos_core.config import ConfigError, ForkError, RunConfig
from eos_core.datasets.files import DatasetError
from eos_core.resources import ResourceError, check_fits, resolve_device
from eos_core.runs.disk import CorruptEntry, StoreDamaged, cache_dir
from eos_core.runs.eta import phase
from eos_core.runs.fence import Fence, process_state, process_stopped
from eos_core.runs.queue import JobState, Lease, LostLease, Queue
from eos_core.runs.repair import remove_orphans

HOST = socket.gethostname()
MAX_FAILURES = 3  # a job that raised this many times is marked failed, with its message
MAX_LOST = 20  # a job whose worker vanished more often than this is marked failed
IDLE_EXIT_S = 300.0  # an on-demand worker with nothing queued for this long exits
HUNG_LEASES = 10  # a local worker process silent for this many leases is taken as hung


class UnknownTask(ValueError):
    """A job whose task kind this worker has no runner for (a newer version queued it)."""


REFUSALS = (ConfigError, DatasetError, ResourceError, ForkError, UnknownTask)  # no retry changes these: fail at once


def lease_s() -> float:
    """How long a claim holds without renewal (EOS_LEASE_S). A paused worker loses its job after
    this; keep it well above the longest stall a busy machine imposes on a heartbeat."""
    return float(os.environ.get("EOS_LEASE_S", "60"))


def heartbeat_s() -> float:
    return float(os.environ.get("EOS_HEARTBEAT_S", lease_s() / 6))


def idle_exit_s() -> float:
    return float(os.environ.get("EOS_IDLE_EXIT_S", IDLE_EXIT_S))


def pid_alive(pid) -> bool:
    """Whether a process of this host with this pid is alive. A zombie (exited, not yet reaped by
    its parent) is dead, though os.kill(pid, 0) still finds it. Where /proc cannot tell, a pid that
    os.kill finds counts as alive: its job's lease then decides (abandoned)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    return process_state(pid) not in ("Z", "X")


def abandoned(job: dict, now: float | None = None) -> bool:
    """A running job has lost its worker. Another host's worker: when its lease expired. On this
    host, by the pid: gone or a zombie → at once; stopped past its lease → lost (it will find out
    when it resumes); running but late → still working (a loaded machine delays heartbeats),
    unless it stayed silent for HUNG_LEASES leases."""
    now = time.time() if now is None else now
    expiry = job.get("lease_until") or (job.get("heartbeat") or 0) + lease_s()
    if job.get("host") != HOST:
        return now > expiry
    pid = job.get("pid")
    if not pid_alive(pid):
        return True
    if now <= expiry:
        return False
    # where /proc cannot tell whether it is stopped, say yes: the lease alone then decides
    return process_stopped(pid, unknown=True) or now > expiry + (HUNG_LEASES - 1) * lease_s()


def is_stale(record: dict, now: float | None = None) -> bool:
    """A worker record whose process is gone or a zombie (this host) or that stopped heartbeating."""
    now = time.time() if now is None else now
    if record.get("host") == HOST and not pid_alive(record.get("pid")):
        return True
    return now - (record.get("heartbeat") or 0) > lease_s()


def recover_stale_jobs(queue: Queue) -> list[str]:
    """Re-queue running jobs whose worker died or whose lease expired; returns their ids."""
    return queue.recover(abandoned, MAX_LOST)


def execute(queue: Queue, cfg: RunConfig, progress=None, lease: Lease | None = None):
    """Compute `cfg`'s result from whatever is stored — a finished baseline, checkpoints — and
    keep new checkpoints as it goes. Returns (result, counters for the commit)."""
    from eos_core.runs.checkpoints import Checkpoints
    from eos_core.science.experiment import run_from_baseline
    from eos_core.science.snapshot import unpack_baseline

    device = resolve_device(cfg.device)
    baseline = None
    try:
        blob = queue.store.baseline(cfg.baseline_hash())
        baseline = unpack_baseline(blob, device) if blob else None
    except (CorruptEntry, ValueError, KeyError, TypeError) as error:
        print(f"warning: retraining the baseline, the stored one is unreadable: {error}", file=sys.stderr)
    experiment = run_from_baseline(cfg, baseline, progress, Checkpoints(queue, cfg, device, lease))
    steps = experiment.steps_trained["exit"]
    return experiment.result, ({"exit_trainings": 1, "exit_steps": steps} if steps else {})


def execute_fork(queue: Queue, cfg: RunConfig, task: dict, progress=None, lease: Lease | None = None):
    """A fork job: the parent's stored result, its baseline replayed and a new exit branch grown at
    the task's step (science.fork). It keeps no checkpoints: a fork that loses its worker starts
    over, and the deterministic replay ends identical. Returns (result, counters for the commit)."""
    from eos_core.science.fork import fork

    try:
        parent = queue.store.result(task["parent"])
    except CorruptEntry as error:
        raise ForkError(f"the parent run {task['parent']} cannot be read ({error}); re-run it first") from None
    if parent is None:
        raise ForkError(f"the parent run {task['parent']} is no longer in this cache")
    return fork(parent, task["step"], task["changes"], progress), {"fork_trainings": 1}


def execute_run(queue: Queue, cfg: RunConfig, task: None, progress=None, lease: Lease | None = None):
    return execute(queue, cfg, progress, lease)  # looked up at call time: tests replace `execute`


# A job's task kind → its runner (None: a plain run). Each returns (result, counters) and reports
# through `progress`, so progress, live traces, cancel and leases work alike for every kind.
RUNNERS = {None: execute_run, "fork": execute_fork}


def runner_of(job: dict):
    kind = (job.get("task") or {}).get("kind")
    if kind not in RUNNERS:
        raise UnknownTask(f"this worker cannot run a job of kind {kind!r}; it runs {', '.join(map(str, RUNNERS))}")
    return RUNNERS[kind]


class JobProgress:
    """Progress callback: publishes the growing trace and the job's step under the lease, and
    stops the job when it was cancelled or its lease was lost."""

    def __init__(self, queue: Queue, lease: Lease, lost: threading.Event | None = None):
        self.queue, self.lease, self.lost = queue, lease, lost or threading.Event()
        try:  # a resumed job keeps the trace its earlier attempt published
            self.live = queue.live(lease.job_id) or {}
        except CorruptEntry:
            self.live = {}
        self.live = {table: self.live.get(table, []) for table in ("trace", "groups", "clock")}
        self.started = set()

    def __call__(self, event: dict):
        from eos_core.science.branching import Cancelled

        if event["kind"] != "logged":  # a logged step follows every other event
            return
        if self.lost.is_set():
            raise LostLease(f"job {self.lease.job_id}: the lease was lost")
        if event["branch"] not in self.started:  # drop what a resumed branch recomputes
            self.started.add(event["branch"])
            for table in ("trace", "groups"):
                self.live[table] = [
                    r for r in self.live[table] if r["branch"] != event["branch"] or r["step"] < event["step"]
                ]
            self.live["clock"] = [c for c in self.live["clock"] if c[0] != event["branch"] or c[1] < event["step"]]
        self.live["trace"].append(event["row"])
        self.live["groups"].extend(event["groups"])
        # when each logged step was reached: the dashboard's time-left estimate (eta.estimate)
        self.live["clock"].append([event["branch"], event["step"], phase(event), time.time()])
        job = self.queue.progress(
            self.lease, self.live, lease_s(), step=event["step"], phase=phase(event), branch=event["branch"]
        )
        if job.get("cancel_requested"):
            raise Cancelled()


def run_job(queue: Queue, job: dict, lease: Lease, lost: threading.Event | None = None) -> str:
    """Run one claimed job to its end; returns what became of it (its new state, or "lost")."""
    from eos_core.science.branching import Cancelled

    try:
        cfg = RunConfig.from_dict(job["config"])
        check_fits(cfg)
        result, counts = runner_of(job)(queue, cfg, job.get("task"), JobProgress(queue, lease, lost), lease)
        state = JobState.DIVERGED if result.status == "diverged" else JobState.DONE
        queue.commit(lease, result, counts, state=state, status=result.status, message=result.meta["message"])
        return state
    except LostLease:
        return "lost"
    except StoreDamaged:
        raise
    except Cancelled:
        fields = {"state": JobState.CANCELLED}
    except REFUSALS as error:  # the config cannot run here: retrying would refuse it again
        fields = {"state": JobState.FAILED, "failures": job.get("failures", 0) + 1, "error": str(error)}
    except Exception as error:  # noqa: BLE001 — the job fails (or is retried), the worker lives on
        failures = job.get("failures", 0) + 1
        message = f"{type(error).__name__}: {error}"
        fields = {
            "state": JobState.FAILED if failures >= MAX_FAILURES else JobState.QUEUED,
            "failures": failures,
            "error": message if failures >= MAX_FAILURES else f"attempt {failures} failed: {message}",
            "traceback": traceback.format_exc(limit=8),
        }
    try:
        return queue.finish(lease, **fields)["state"]
    except LostLease:
        return "lost"


class Stop(BaseException):
    """SIGTERM: leave the running job at once (it is re-queued) and exit."""


def _raise_stop(signum, frame):
    raise Stop()


class Heartbeat(threading.Thread):
    """Every heartbeat_s: renew this worker's record and its job's lease, and re-queue the jobs
    of workers that died or whose lease expired."""

    def __init__(self, queue: Queue, record: dict):
        super().__init__(daemon=True)
        self.queue, self.record = queue, record
        self.lease: Lease | None = None
        self.lost, self.stop = threading.Event(), threading.Event()

    def run(self):
        while not self.stop.wait(heartbeat_s()):
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 — a busy or vanishing store must not kill the thread
                print(f"warning: heartbeat: {type(error).__name__}: {error}", file=sys.stderr)

    def beat(self):
        lease = self.lease
        if lease is not None:
            try:
                self.queue.renew(lease, lease_s())
            except LostLease:
                self.lost.set()
        self.record["heartbeat"] = time.time()
        self.queue.set_worker(self.record)
        recover_stale_jobs(self.queue)


def worker_main(directory=None, once: bool = False, poll: float = 0.5, idle_exit: float | None = None) -> int:
    """Run queued jobs until stopped (or, with `once`, until the queue is empty; with
    `idle_exit`, until nothing was queued for that many seconds). Returns the jobs finished."""
    fence = Fence(directory or cache_dir(), HOST, grace=lease_s(), interval=heartbeat_s())
    fence.start()  # first: opening the store may itself wait on a stopped worker's lock
    try:
        queue = Queue(directory)
    except BaseException:
        fence.stop.set()
        raise
    print(f"eos worker {os.getpid()} starts on device {resolve_device('auto')}", flush=True)
    for line in remove_orphans(queue.store):
        print(line, file=sys.stderr)
    record = {
        "pid": os.getpid(),
        "host": HOST,
        "started": time.time(),
        "heartbeat": time.time(),
        "current": None,
        "lost_jobs": [],
        "idle_exit": idle_exit,
    }
    queue.set_worker(record)
    heart = Heartbeat(queue, record)
    heart.start()
    previous = _install(signal.SIGTERM, _raise_stop)
    done = [0]
    try:
        _serve(queue, heart, done, once, poll, idle_exit)
    except (KeyboardInterrupt, Stop):
        if heart.lease is not None:
            with contextlib.suppress(LostLease):
                queue.finish(heart.lease, state=JobState.QUEUED, phase=None)
    finally:
        heart.stop.set()
        fence.stop.set()
        _install(signal.SIGTERM, previous)
        queue.set_worker(record, gone=True)
    return done[0]


def _serve(queue: Queue, heart: Heartbeat, done: list[int], once: bool, poll: float, idle_exit: float | None):
    """Claim and run jobs until the queue is empty (`once`) or idle for `idle_exit` seconds;
    `done[0]` counts the jobs finished (a list, so that a Stop leaves the count behind)."""
    record, idle_since = heart.record, time.time()
    while True:
        recover_stale_jobs(queue)
        claimed = queue.claim_next(os.getpid(), HOST, lease_s())
        if claimed is None:
            if once:
                return
            if idle_exit is not None and time.time() - idle_since > idle_exit:
                print(f"worker: nothing queued for {idle_exit:g} s; exiting", file=sys.stderr)
                return
            time.sleep(poll)
            continue
        job, lease = claimed
        heart.lost.clear()
        heart.lease, record["current"] = lease, job["id"]
        outcome = run_job(queue, job, lease, heart.lost)
        heart.lease, record["current"] = None, None
        if outcome == "lost":
            record["lost_jobs"].append(job["id"])
            print(f"worker: job {job['id']} was given to another worker; stopped it", file=sys.stderr)
        else:
            done[0] += 1
        queue.set_worker(record)
        idle_since = time.time()


def _install(signum, handler):
    """Install a signal handler where that is possible (only the main thread may)."""
    try:
        return signal.signal(signum, handler)
    except (ValueError, TypeError):
        return None


def ensure_worker(queue: Queue | None = None) -> int | None:
    """The pid of a live worker, starting a detached on-demand one (it exits after
    EOS_IDLE_EXIT_S idle seconds) if none is alive; a thread of this process reaps it when it
    exits, so that it never lingers as a zombie taken for a live worker. A deployment whose worker
    runs elsewhere (its own container or host) sets EOS_AUTOSTART_WORKER=0."""
    if os.environ.get("EOS_AUTOSTART_WORKER", "1") == "0":
        return None
    queue = queue or Queue()
    store = queue.store
    with store.transact():
        for record in queue.workers():
            if not is_stale(record):
                return record["pid"]
        env = {**os.environ, "EOS_CACHE_DIR": str(store.directory)}
        with open(store.directory / "worker.log", "ab") as log:  # the worker keeps its own copy
            process = subprocess.Popen(
                [sys.executable, "-m", "eos_core", "worker", "--idle-exit", str(idle_exit_s())],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        threading.Thread(target=process.wait, name=f"reap worker {process.pid}", daemon=True).start()
        queue.set_worker({"pid": process.pid, "host": HOST, "heartbeat": time.time(), "started": time.time()})
        return process.pid

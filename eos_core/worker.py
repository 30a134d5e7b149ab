"""The worker: a long-lived process that takes queued jobs from the store in order and runs them.

`python -m eos_core worker` starts one; `ensure_worker()` (called by the dashboard) starts a
detached one in a fresh interpreter when none is alive, so CUDA is only ever initialised here and
never in a process that forks. This module imports torch only inside the functions that train.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import traceback

from .config import RunConfig
from .store import Store

HEARTBEAT_S = 2.0
STALE_S = 20.0        # a running job whose heartbeat is older than this has lost its worker
MAX_ATTEMPTS = 3      # a job whose worker died this many times is marked failed


def pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(record: dict, now: float | None = None) -> bool:
    """A worker (or its job) is gone when its heartbeat is old, or — on this host, where pids
    mean something — when its process no longer exists."""
    now = time.time() if now is None else now
    if now - (record.get("heartbeat") or 0) > STALE_S:
        return True
    return record.get("host") == socket.gethostname() and not pid_alive(record.get("pid"))


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()}


def recover_stale_jobs(store: Store) -> list[str]:
    """Re-queue running jobs whose worker died (bounded retries); returns their ids."""
    recovered = []
    for job in store.jobs():
        if job["state"] == "running" and is_stale(job):
            if job["attempts"] >= MAX_ATTEMPTS:
                store.update_job(job["id"], state="failed", finished=time.time(),
                                 error=f"the worker running this job died {job['attempts']} times")
            else:
                store.update_job(job["id"], state="queued", pid=None, phase=None)
                recovered.append(job["id"])
    return recovered


def execute(store: Store, cfg: RunConfig, progress=None):
    """Compute `cfg`'s result, forking from a stored baseline when one exists; store both."""
    from .checkpoint import pack_baseline, unpack_baseline
    from .experiment import run_from_baseline
    from .branching import resolve_device

    blob = store.baseline(cfg.baseline_hash())
    baseline = unpack_baseline(blob, resolve_device(cfg.device)) if blob else None
    experiment = run_from_baseline(cfg, baseline, progress)
    if baseline is None:
        store.put_baseline(cfg.baseline_hash(), pack_baseline(experiment.baseline))
    for branch, steps in experiment.steps_trained.items():
        if steps:
            store.count(f"{branch}_trainings", 1)
            store.count(f"{branch}_steps", steps)
    store.put_result(experiment.result)
    return experiment.result


class JobProgress:
    """Progress callback: records step, phase and the growing trace; honours cancellation."""

    def __init__(self, store: Store, job_id: str):
        self.store, self.job_id = store, job_id
        self.live = {"trace": [], "groups": []}

    def __call__(self, event: dict):
        from .branching import Cancelled

        self.live["trace"].append(event["row"])
        self.live["groups"].extend(event["groups"])
        self.store.put_live(self.job_id, self.live)
        job = self.store.update_job(self.job_id, step=event["step"], phase=event["phase"],
                                    branch=event["branch"], heartbeat=time.time())
        if job is None or job.get("cancel_requested"):
            raise Cancelled()


def run_job(store: Store, job: dict) -> dict:
    from .branching import Cancelled

    try:
        result = execute(store, RunConfig.from_dict(job["config"]), JobProgress(store, job["id"]))
        fields = {"state": "diverged" if result.status == "diverged" else "done",
                  "status": result.status, "message": result.meta["message"]}
    except Cancelled:
        fields = {"state": "cancelled"}
    except Exception as error:   # the job fails, the worker lives on
        fields = {"state": "failed", "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc(limit=8)}
    return store.update_job(job["id"], finished=time.time(), **fields)


def _heartbeat(store: Store, current: dict, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        store.set_worker(_me())
        if current.get("id"):
            store.update_job(current["id"], heartbeat=time.time())


def worker_main(directory=None, once: bool = False, poll: float = 0.5) -> int:
    """Run queued jobs until killed (or, with `once`, until the queue is empty)."""
    store = Store(directory)
    from .branching import resolve_device   # imports torch, which the worker needs anyway
    print(f"eos worker {os.getpid()} starts on device {resolve_device('auto')}", flush=True)
    store.set_worker(_me())
    recover_stale_jobs(store)
    current, stop = {}, threading.Event()
    threading.Thread(target=_heartbeat, args=(store, current, stop), daemon=True).start()
    done = 0
    try:
        while True:
            job = store.claim_next(os.getpid(), socket.gethostname())
            if job is None:
                if once:
                    return done
                time.sleep(poll)
                continue
            current["id"] = job["id"]
            run_job(store, job)
            current["id"] = None
            done += 1
    finally:
        stop.set()
        record = store.worker()
        if record and record.get("pid") == os.getpid():
            store.set_worker(None)


def ensure_worker(store: Store | None = None) -> int | None:
    """The pid of a live worker, starting a detached one if none is alive. A deployment whose
    worker runs elsewhere (its own container or host) sets EOS_AUTOSTART_WORKER=0."""
    if os.environ.get("EOS_AUTOSTART_WORKER", "1") == "0":
        return None
    store = store or Store()
    with store.cache.transact():
        record = store.worker()
        if record and not is_stale(record):
            return record["pid"]
        log = open(store.directory / "worker.log", "ab")
        env = {**os.environ, "EOS_CACHE_DIR": str(store.directory)}
        process = subprocess.Popen([sys.executable, "-m", "eos_core", "worker"], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log, env=env, start_new_session=True)
        store.set_worker({**_me(), "pid": process.pid})
        return process.pid

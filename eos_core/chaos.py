"""`python -m eos_core chaos`: the job system under fault injection.

A small preset (one config per seed) is queued in a fresh store; two workers take the jobs while
random injections hit them — kill -9 (the worker is restarted at once, as a supervisor would) and,
with `pause`, SIGSTOP for up to twice the lease before SIGCONT. Then every job must have finished
exactly once and equal an uninterrupted run of its config. One JSON line reports it.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from .config import RunConfig

LEASE_S = 5.0
CHAOS = RunConfig(dataset="synthetic", classes=("0", "1"), n_per_class=40, image_size=4, width=32, m=4, k=5,
                  lr=0.05, steps=40, log_every=10, example_every=10, onset_fraction=0.02, init_scale=1.0)


def run_chaos(jobs: int = 8, injections: int = 100, pause: bool = False, seed: int = 0, workers: int = 2,
              timeout_s: float = 7200.0) -> dict:
    from .store import Store

    rng = random.Random(seed)
    configs = [CHAOS.replace(seed=s) for s in range(jobs)]
    folder = tempfile.mkdtemp(prefix="eos-chaos-")
    store = Store(folder)
    for cfg in configs:
        store.submit(cfg)
    env = {**os.environ, "EOS_CACHE_DIR": folder, "EOS_LEASE_S": str(LEASE_S), "EOS_HEARTBEAT_S": "0.5",
           "EOS_CHECKPOINT_EVERY": "1"}
    log = open(os.path.join(folder, "workers.log"), "ab")
    pool: list[subprocess.Popen] = []
    first_done: dict[str, dict] = {}   # each job's record when first seen done
    counts = {"kills": 0, "pauses": 0}
    started = time.time()

    def spawn():
        pool.append(subprocess.Popen([sys.executable, "-m", "eos_core", "worker"], env=env, stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL))

    def watch():
        for process in [p for p in pool if p.poll() is not None]:   # a supervisor restarts the dead
            pool.remove(process)
        while len(pool) < workers:
            spawn()
        for job in store.jobs():
            if job["state"] in ("done", "diverged") and job["id"] not in first_done:
                first_done[job["id"]] = job
        return all(j["state"] in ("done", "diverged", "failed", "cancelled") for j in store.jobs())

    try:
        while counts["kills"] + counts["pauses"] < injections and time.time() - started < timeout_s:
            if watch():
                break
            time.sleep(rng.uniform(0.5, 3.0))
            watch()
            registered = {w["pid"] for w in store.workers()}
            targets = [p for p in pool if p.pid in registered and p.poll() is None]
            if not targets:
                continue
            target = rng.choice(targets)
            if pause and rng.random() < 0.5:
                target.send_signal(signal.SIGSTOP)
                end = time.time() + rng.uniform(0.5, 2 * LEASE_S)
                while time.time() < end:
                    watch()
                    time.sleep(0.2)
                target.send_signal(signal.SIGCONT)
                counts["pauses"] += 1
            else:
                target.kill()
                target.wait()
                counts["kills"] += 1
        while not watch() and time.time() - started < timeout_s:
            time.sleep(0.5)
        chaos_wall = time.time() - started
    finally:
        for process in pool:
            process.send_signal(signal.SIGCONT)
            process.terminate()
        for process in pool:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
    return {"injections": counts["kills"] + counts["pauses"], **counts, "workers": workers,
            **verify(store, configs, first_done), "chaos_wall_s": round(chaos_wall, 1), "store": folder}


def verify(store, configs: list[RunConfig], first_done: dict) -> dict:
    """Compare every stored result with an uninterrupted run of its config."""
    from .experiment import run_experiment

    finished = identical = twice = retrained = 0
    for cfg in configs:
        key = cfg.config_hash()
        job = store.job(key) or {}
        if job.get("state") not in ("done", "diverged"):
            continue
        finished += 1
        twice += int(job.get("commits", 0) > 1 or (key in first_done and first_done[key] != job))
        result = store.result(key)
        retrained += (job.get("writes", 0) - len(result.trace)) * cfg.log_every
        identical += int(same_result(result, run_experiment(cfg)))
    return {"jobs": len(configs), "finished": finished, "identical": identical, "trained_twice": twice,
            "lost": len(configs) - finished, "steps_retrained": retrained}


def same_result(a, b) -> bool:
    """Every table and array equal, bit for bit (meta differs only in wall time)."""
    files, reference = a.to_files(), b.to_files()
    return files.keys() == reference.keys() and all(files[n] == reference[n] for n in files if n != "meta.json")

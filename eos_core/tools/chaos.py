"""`python -m eos_core chaos`: the job system under fault injection.

A small preset (one config per seed) is queued in a fresh store; two workers take the jobs while
random injections hit them — kill -9 (the worker is restarted at once, as a supervisor would) and,
with `pause`, SIGSTOP for up to twice the lease before SIGCONT. Then every job must have finished
exactly once and equal an uninterrupted run of its config. One JSON line reports it.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from eos_core.config import RunConfig
from eos_core.analysis.results import Result
from eos_core.runs.queue import JobState

LEASE_S = 5.0
LOGGED_STEPS = 80          # progress writes (and checkpoints) per branch: kill targets between them
STEPS_PER_INJECTION = 3200  # ~10 s of training on one idle core; one injection takes ~5 s
CHAOS = RunConfig(dataset="synthetic", classes=("0", "1"), n_per_class=40, image_size=4, width=32, m=4, k=5,
                  lr=0.05, steps=40, log_every=10, example_every=10, onset_fraction=0.02, init_scale=1.0)


def chaos_config(seed: int, steps: int) -> RunConfig:
    every = max(1, steps // LOGGED_STEPS)
    return CHAOS.replace(seed=seed, steps=steps, log_every=every, example_every=every)


def default_steps(jobs: int, injections: int) -> int:
    """Steps per job such that the jobs outlast the injection schedule: otherwise they would all
    finish before most injections had landed (a 40-step job takes a second)."""
    return STEPS_PER_INJECTION * max(1, -(-injections // max(1, jobs)))


def run_chaos(jobs: int = 8, injections: int = 100, pause: bool = False, seed: int = 0, workers: int = 2,
              steps: int | None = None, timeout_s: float = 7200.0) -> dict:
    from eos_core.runs.queue import Queue

    rng = random.Random(seed)
    configs = [chaos_config(s, steps or default_steps(jobs, injections)) for s in range(jobs)]
    folder = tempfile.mkdtemp(prefix="eos-chaos-")
    queue = Queue(folder)
    for cfg in configs:
        queue.submit(cfg)
    env = {**os.environ, "EOS_CACHE_DIR": folder, "EOS_LEASE_S": str(LEASE_S), "EOS_HEARTBEAT_S": "0.5",
           "EOS_CHECKPOINT_EVERY": "1"}
    log = open(os.path.join(folder, "workers.log"), "ab")
    pool: list[subprocess.Popen] = []
    first_done: dict[str, dict] = {}   # each job's record when first seen done
    counts = {"kills": 0, "pauses": 0}
    writes_at_claim: dict[tuple, int] = {}
    started = time.time()
    expected_dir = os.path.join(folder, "expected")
    references = subprocess.Popen([sys.executable, "-c", "import sys; from eos_core.tools.chaos import write_references; "
                                   "write_references(sys.argv[1], sys.argv[2:])", expected_dir,
                                   *[cfg.to_json() for cfg in configs]], env=env, stdout=log, stderr=log)

    def spawn():
        pool.append(subprocess.Popen([sys.executable, "-m", "eos_core", "worker"], env=env, stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL))

    def watch():
        for process in [p for p in pool if p.poll() is not None]:   # a supervisor restarts the dead
            pool.remove(process)
        while len(pool) < workers:
            spawn()
        for job in queue.jobs():
            if job["state"] in JobState.RESULT and job["id"] not in first_done:
                first_done[job["id"]] = job
            if job["state"] == JobState.RUNNING:
                writes_at_claim.setdefault((job["id"], job["token"]), job.get("writes", 0))
        return all(j["state"] in JobState.FINISHED for j in queue.jobs())

    def targets():
        """Workers to hit: idle ones, and ones whose job saved progress since they claimed it
        (two progress writes under their token: a checkpoint past their resume point exists).
        Kills at any instant would be as safe, but on a slow machine could stop every job
        before its first checkpoint and only measure the re-queue cap."""
        registered = {w["pid"] for w in queue.workers()}
        running = {j["pid"]: j for j in queue.jobs() if j["state"] == JobState.RUNNING}
        out = []
        for process in pool:
            if process.poll() is not None or process.pid not in registered:
                continue
            job = running.get(process.pid)
            if job is not None:
                if job.get("writes", 0) < writes_at_claim.get((job["id"], job["token"]), 1e9) + 2:
                    continue
            out.append(process)
        return out

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so that `finally` stops the workers
    completed = False
    try:
        while counts["kills"] + counts["pauses"] < injections and time.time() - started < timeout_s:
            if watch():
                break
            time.sleep(rng.uniform(0.5, 3.0))
            watch()
            candidates = targets()
            if not candidates:
                continue
            target = rng.choice(candidates)
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
            print(f"chaos: {counts} after {time.time() - started:.0f} s; "
                  f"{len(first_done)}/{len(configs)} done", file=sys.stderr, flush=True)
        while not watch() and time.time() - started < timeout_s:
            time.sleep(0.5)
        chaos_wall = time.time() - started
        completed = True
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
        if not completed:
            references.kill()
        references.wait()
        log.close()
    if references.returncode != 0:
        raise RuntimeError(f"the uninterrupted reference runs failed; see {folder}/workers.log")
    expected = {cfg.config_hash(): Result.load(os.path.join(expected_dir, cfg.config_hash())) for cfg in configs}
    report = {"injections": counts["kills"] + counts["pauses"], **counts, "workers": workers,
              **verify(queue, configs, first_done, expected), "chaos_wall_s": round(chaos_wall, 1)}
    queue.close()
    if report["identical"] == len(configs) and report["trained_twice"] == 0:
        shutil.rmtree(folder, ignore_errors=True)
    else:   # keep the evidence
        report["store"] = folder
    return report


def write_references(folder: str, config_jsons: list[str]) -> None:
    """Uninterrupted runs of the configs, one result folder each (run beside the chaos)."""
    from eos_core.science.experiment import run_experiment

    for text in config_jsons:
        cfg = RunConfig.from_json(text)
        run_experiment(cfg).save(os.path.join(folder, cfg.config_hash()))


def verify(queue, configs: list[RunConfig], first_done: dict, expected: dict) -> dict:
    """Compare every stored result with an uninterrupted run of its config."""
    finished = identical = twice = retrained = 0
    for cfg in configs:
        key = cfg.config_hash()
        job = queue.job(key) or {}
        if job.get("state") not in JobState.RESULT:
            continue
        finished += 1
        twice += int(job.get("commits", 0) > 1 or (key in first_done and first_done[key] != job))
        result = queue.store.result(key)
        retrained += (job.get("writes", 0) - len(result.trace)) * cfg.log_every
        identical += int(same_result(result, expected[key]))
    return {"jobs": len(configs), "finished": finished, "identical": identical, "trained_twice": twice,
            "lost": len(configs) - finished, "steps_retrained": retrained}


def same_result(a, b) -> bool:
    """Every table and array equal, bit for bit (meta differs only in wall time)."""
    files, reference = a.to_files(), b.to_files()
    return files.keys() == reference.keys() and all(files[n] == reference[n] for n in files if n != "meta.json")

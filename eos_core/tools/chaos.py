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

from eos_core.analysis.results import Result
from eos_core.config import RunConfig
from eos_core.runs.queue import JobState

LEASE_S = 5.0
LOGGED_STEPS = 80  # progress writes (and checkpoints) per branch: kill targets between them
STEPS_PER_INJECTION = 3200  # ~10 s of training on one idle core; one injection takes ~5 s
CHAOS = RunConfig(
    dataset="synthetic",
    classes=("0", "1"),
    n_per_class=40,
    image_size=4,
    width=32,
    m=4,
    k=5,
    lr=0.05,
    steps=40,
    log_every=10,
    example_every=10,
    onset_fraction=0.02,
    init_scale=1.0,
)


def chaos_config(seed: int, steps: int) -> RunConfig:
    every = max(1, steps // LOGGED_STEPS)
    return CHAOS.replace(seed=seed, steps=steps, log_every=every, example_every=every)


def default_steps(jobs: int, injections: int) -> int:
    """Steps per job such that the jobs outlast the injection schedule: otherwise they would all
    finish before most injections had landed (a 40-step job takes a second)."""
    return STEPS_PER_INJECTION * max(1, -(-injections // max(1, jobs)))


def run_chaos(
    jobs: int = 8,
    injections: int = 100,
    pause: bool = False,
    seed: int = 0,
    workers: int = 2,
    steps: int | None = None,
    timeout_s: float = 7200.0,
) -> dict:
    """Queue the jobs, supervise the workers under `injections` faults, verify every result against
    an uninterrupted run."""
    from eos_core.runs.queue import Queue

    rng = random.Random(seed)
    configs = [chaos_config(s, steps or default_steps(jobs, injections)) for s in range(jobs)]
    folder = tempfile.mkdtemp(prefix="eos-chaos-")
    queue = Queue(folder)
    for cfg in configs:
        queue.submit(cfg)
    env = {
        **os.environ,
        "EOS_CACHE_DIR": folder,
        "EOS_LEASE_S": str(LEASE_S),
        "EOS_HEARTBEAT_S": "0.5",
        "EOS_CHECKPOINT_EVERY": "1",
    }
    log = open(os.path.join(folder, "workers.log"), "ab")  # noqa: SIM115 — workers write to it until the finally
    started = time.time()
    expected_dir = os.path.join(folder, "expected")
    references = start_references(expected_dir, configs, env, log)
    supervisor = Supervisor(queue, env, log, workers)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the workers
    completed = False
    try:
        counts = supervise(supervisor, rng, injections, pause, started, timeout_s, len(configs))
        chaos_wall = time.time() - started
        completed = True
    finally:
        supervisor.stop()
        if not completed:
            references.kill()
        references.wait()
        log.close()
    if references.returncode != 0:
        raise RuntimeError(f"the uninterrupted reference runs failed; see {folder}/workers.log")
    expected = {cfg.config_hash(): Result.load(os.path.join(expected_dir, cfg.config_hash())) for cfg in configs}
    report = {
        "injections": counts["kills"] + counts["pauses"],
        **counts,
        "workers": workers,
        **verify(queue, configs, supervisor.first_done, expected),
        "chaos_wall_s": round(chaos_wall, 1),
    }
    queue.close()
    if report["identical"] == len(configs) and report["trained_twice"] == 0:
        shutil.rmtree(folder, ignore_errors=True)
    else:  # keep the evidence
        report["store"] = folder
    return report


def supervise(
    supervisor: Supervisor,
    rng: random.Random,
    injections: int,
    pause: bool,
    started: float,
    timeout_s: float,
    jobs: int,
) -> dict:
    """Inject faults at random intervals until `injections` landed or every job ended, then watch
    the jobs to their end; returns the counts of kills and pauses."""
    counts = {"kills": 0, "pauses": 0}
    while counts["kills"] + counts["pauses"] < injections and time.time() - started < timeout_s:
        if supervisor.watch():
            break
        time.sleep(rng.uniform(0.5, 3.0))
        supervisor.watch()
        if inject(supervisor, rng, pause, counts):
            print(
                f"chaos: {counts} after {time.time() - started:.0f} s; {len(supervisor.first_done)}/{jobs} done",
                file=sys.stderr,
                flush=True,
            )
    while not supervisor.watch() and time.time() - started < timeout_s:
        time.sleep(0.5)
    return counts


def start_references(folder: str, configs: list[RunConfig], env: dict, log) -> subprocess.Popen:
    """The uninterrupted runs to compare with, in their own process beside the chaos."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from eos_core.tools.chaos import write_references; "
            "write_references(sys.argv[1], sys.argv[2:])",
            folder,
            *[cfg.to_json() for cfg in configs],
        ],
        env=env,
        stdout=log,
        stderr=log,
    )


class Supervisor:
    """Keeps `workers` worker processes on the store (restarting the dead at once, as a supervisor
    would) and watches the jobs: each one's record when first seen done, and its progress writes
    when a worker claimed it."""

    def __init__(self, queue, env: dict, log, workers: int):
        self.queue, self.env, self.log, self.workers = queue, env, log, workers
        self.pool: list[subprocess.Popen] = []
        self.first_done: dict[str, dict] = {}  # each job's record when first seen done
        self.writes_at_claim: dict[tuple, int] = {}

    def spawn(self) -> None:
        self.pool.append(
            subprocess.Popen(
                [sys.executable, "-m", "eos_core", "worker"],
                env=self.env,
                stdout=self.log,
                stderr=self.log,
                stdin=subprocess.DEVNULL,
            )
        )

    def watch(self) -> bool:
        """Restart the dead, note the jobs; True when every job has ended."""
        for process in [p for p in self.pool if p.poll() is not None]:  # a supervisor restarts the dead
            self.pool.remove(process)
        while len(self.pool) < self.workers:
            self.spawn()
        for job in self.queue.jobs():
            if job["state"] in JobState.RESULT and job["id"] not in self.first_done:
                self.first_done[job["id"]] = job
            if job["state"] == JobState.RUNNING:
                self.writes_at_claim.setdefault((job["id"], job["token"]), job.get("writes", 0))
        return all(j["state"] in JobState.FINISHED for j in self.queue.jobs())

    def targets(self) -> list[subprocess.Popen]:
        """Workers to hit: idle ones, and ones whose job saved progress since they claimed it
        (two progress writes under their token: a checkpoint past their resume point exists).
        Kills at any instant would be as safe, but on a slow machine could stop every job
        before its first checkpoint and only measure the re-queue cap."""
        registered = {w["pid"] for w in self.queue.workers()}
        running = {j["pid"]: j for j in self.queue.jobs() if j["state"] == JobState.RUNNING}
        out = []
        for process in self.pool:
            if process.poll() is not None or process.pid not in registered:
                continue
            job = running.get(process.pid)
            if job is not None and job.get("writes", 0) < self.writes_at_claim.get((job["id"], job["token"]), 1e9) + 2:
                continue
            out.append(process)
        return out

    def stop(self) -> None:
        """Wake the paused, then stop every worker (kill -9 one that does not end within a minute)."""
        for process in self.pool:
            process.send_signal(signal.SIGCONT)
            process.terminate()
        for process in self.pool:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def inject(supervisor: Supervisor, rng: random.Random, pause: bool, counts: dict) -> bool:
    """One fault on a random target, if there is one: kill -9, or (with `pause`, half the time)
    SIGSTOP for up to twice the lease, watching the jobs meanwhile, then SIGCONT. True when one landed."""
    candidates = supervisor.targets()
    if not candidates:
        return False
    target = rng.choice(candidates)
    if pause and rng.random() < 0.5:
        target.send_signal(signal.SIGSTOP)
        end = time.time() + rng.uniform(0.5, 2 * LEASE_S)
        while time.time() < end:
            supervisor.watch()
            time.sleep(0.2)
        target.send_signal(signal.SIGCONT)
        counts["pauses"] += 1
    else:
        target.kill()
        target.wait()
        counts["kills"] += 1
    return True


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
    return {
        "jobs": len(configs),
        "finished": finished,
        "identical": identical,
        "trained_twice": twice,
        "lost": len(configs) - finished,
        "steps_retrained": retrained,
    }


def same_result(a, b) -> bool:
    """Every table and array equal, bit for bit (meta differs only in wall time)."""
    files, reference = a.to_files(), b.to_files()
    return files.keys() == reference.keys() and all(files[n] == reference[n] for n in files if n != "meta.json")

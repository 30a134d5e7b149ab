"""How honest is the dashboard's time-left estimate? Runs a preset (default teach-selective)
through the real worker code path into a temporary store, then replays the run's progress
records: at each one, the estimate `eos_core.runs.eta.estimate` would have shown is compared with the
real finish.

    .venv/bin/python scripts/bench_eta.py [PRESET]
    .venv/bin/python scripts/bench_eta.py [PRESET] --store DIR   # judge a job already in a store

Prints the error at 10 %, 25 %, 50 %, 75 % of the run and the worst one while at least 10 % of
the run was left (target: within ±30 %), then one JSON line. With --store and a job still
running, the last record stands in for the finish: each record's speed predicts the time to
reach the steps of the last record (the speed half of the estimate; the step counts are exact
once t* is known).
"""

import argparse
import json
import os
import pathlib
import socket
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eos_core.presets import preset  # noqa: E402
from eos_core.runs.eta import estimate, records, steps_left  # noqa: E402
from eos_core.runs.queue import JobState, Queue  # noqa: E402
from eos_core.runs.worker import run_job  # noqa: E402


def _summary(rows: list[tuple[float, float]]) -> dict:
    """rows: (fraction of the run elapsed, relative error of the predicted time left)."""
    out = {}
    for target in (0.10, 0.25, 0.50, 0.75):
        _, error = min(rows, key=lambda r: abs(r[0] - target))
        out[f"eta_error_at_{int(target * 100)}pct"] = round(error, 3)
    worst = max(rows, key=lambda r: abs(r[1]))
    return {
        **out,
        "eta_worst_error": round(worst[1], 3),
        "eta_worst_at_pct": round(100 * worst[0], 1),
        "eta_within_30pct_share": round(sum(abs(e) <= 0.3 for _, e in rows) / len(rows), 3),
    }


def judge_finished(clock: list, steps: int, start: float, finish: float) -> dict:
    total, rows = finish - start, []
    for i in range(1, len(clock) + 1):
        now = clock[i - 1][3]
        left = finish - now
        eta = estimate(clock[:i], steps, now=now)
        if eta.seconds is not None and left >= 0.1 * total:
            rows.append(((now - start) / total, (eta.seconds - left) / left))
    return _summary(rows)


def judge_running(clock: list, steps: int, start: float) -> dict:
    recs = records(clock)
    end, total = recs[-1], recs[-1].time - start
    work_end = sum(steps_left(recs, steps)[:2])
    rows = []
    for i in range(2, len(recs)):
        eta = estimate(clock[:i], steps, now=recs[i - 1].time)
        if eta.seconds is None:
            continue
        work = sum(steps_left(recs[:i], steps)[:2]) - work_end
        actual = end.time - recs[i - 1].time
        if actual >= 0.1 * total and work > 0:
            rows.append(((recs[i - 1].time - start) / total, (work / eta.steps_per_second - actual) / actual))
    return _summary(rows)


def run(name: str) -> tuple[dict, list]:
    cfg = preset(name)
    with tempfile.TemporaryDirectory() as folder:
        queue = Queue(folder)
        queue.submit(cfg)
        claimed, lease = queue.claim_next(os.getpid(), socket.gethostname())
        run_job(queue, claimed, lease)
        job = queue.job(claimed["id"])
        clock = queue.live(cfg.config_hash())["clock"]
        queue.close()
    if job["state"] != JobState.DONE:
        raise RuntimeError(f"{name} ended {job['state']}: {job.get('error') or job.get('message')}")
    return job, clock


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("preset", nargs="?", default="teach-selective")
    parser.add_argument("--store", help="judge the preset's job in this store instead of running it")
    args = parser.parse_args()
    cfg = preset(args.preset)
    if args.store:
        queue = Queue(args.store)
        job, clock = queue.job(cfg.config_hash()), queue.live(cfg.config_hash())["clock"]
        queue.close()
    else:
        job, clock = run(args.preset)
    finished = job["state"] == JobState.DONE
    judged = (
        judge_finished(clock, cfg.steps, job["started"], job["finished"])
        if finished
        else judge_running(clock, cfg.steps, job["started"])
    )
    figures = {
        "preset": args.preset,
        "finished": finished,
        "records": len(clock),
        "run_s": round((job["finished"] if finished else clock[-1][3]) - job["started"], 1),
        **judged,
    }
    for key, value in figures.items():
        print(f"  {key:28} {value}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

"""How honest is the dashboard's time-left estimate? Runs a preset (default teach-selective)
through the real worker code path into a temporary store, then replays the run's progress
records: at each one, the estimate `eos_core.eta.estimate` would have shown is compared with the
real finish.

    .venv/bin/python scripts/bench_eta.py [preset]
Prints the error at 10 %, 25 %, 50 %, 75 % of the run and the worst one while at least 10 % of
the run was left (target: within ±30 %), then one JSON line.
"""
import json
import os
import pathlib
import socket
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eos_core.eta import estimate  # noqa: E402
from eos_core.presets import preset  # noqa: E402
from eos_core.store import Store  # noqa: E402
from eos_core.worker import run_job  # noqa: E402


def eta_errors(name: str = "teach-selective") -> dict:
    cfg = preset(name)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        store.submit(cfg)
        job = store.claim_next(os.getpid(), socket.gethostname())
        job = run_job(store, job)
        clock = store.live(cfg.config_hash())["clock"]
        store.close()
    if job["state"] != "done":
        raise RuntimeError(f"{name} ended {job['state']}: {job.get('error') or job.get('message')}")
    start, finish = job["started"], job["finished"]
    total = finish - start
    rows = []   # (fraction of the run elapsed, relative error of the predicted time left)
    for i in range(1, len(clock) + 1):
        now = clock[i - 1][3]
        left = finish - now
        eta = estimate(clock[:i], cfg.steps, now=now)
        if eta.seconds is not None and left >= 0.1 * total:
            rows.append(((now - start) / total, (eta.seconds - left) / left))
    at = {}
    for target in (0.10, 0.25, 0.50, 0.75):
        fraction, error = min(rows, key=lambda r: abs(r[0] - target))
        at[f"eta_error_at_{int(target * 100)}pct"] = round(error, 3)
    worst = max(rows, key=lambda r: abs(r[1]))
    return {"preset": name, "run_s": round(total, 1), "records": len(clock), **at,
            "eta_worst_error": round(worst[1], 3), "eta_worst_at_pct": round(100 * worst[0], 1),
            "eta_within_30pct_share": round(sum(abs(e) <= 0.3 for _, e in rows) / len(rows), 3)}


def main() -> dict:
    figures = eta_errors(sys.argv[1] if len(sys.argv) > 1 else "teach-selective")
    for key, value in figures.items():
        print(f"  {key:28} {value}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()

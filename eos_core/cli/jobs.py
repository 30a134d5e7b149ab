"""Verbs of the job system: submit, status, cancel, worker, store, sweep."""

from __future__ import annotations

import json
import sys

from eos_core.cli.common import build_config, config_options
from eos_core.resources import check_fits


def add_submit(sub) -> None:
    submit = sub.add_parser("submit", help="queue a run (a queued, running or finished config is not queued twice)")
    config_options(submit)
    submit.add_argument("--force", action="store_true", help="recompute even if a result is stored")
    submit.add_argument("--start-worker", action="store_true", help="start a background worker if none is alive")
    submit.set_defaults(func=cmd_submit)


def cmd_submit(args) -> int:
    from eos_core.runs.queue import Queue

    job = Queue().submit(build_config(args.preset, args.set), force=args.force)
    if args.start_worker:
        from eos_core.runs.worker import ensure_worker

        ensure_worker()
    print(json.dumps({k: job[k] for k in ("id", "state", "from_cache")}))
    return 0


def add_status(sub) -> None:
    status = sub.add_parser("status", help="list jobs, or show one")
    status.add_argument("id", nargs="?", help="a job id (the config hash)")
    status.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    from eos_core.runs.queue import Queue

    queue = Queue()
    jobs = [queue.job(args.id)] if args.id else queue.jobs()
    if args.id and jobs[0] is None:
        print(f"error: no job {args.id}", file=sys.stderr)
        return 2
    for job in jobs:
        where = f"{job['step']}/{job['total']} {job.get('phase') or ''}".strip()
        extra = job.get("error") or job.get("message") or ""
        print(f"{job['id']}  {job['state']:9}  {where:24}  {extra}")
    return 0


def add_cancel(sub) -> None:
    cancel = sub.add_parser("cancel", help="cancel a queued job now, or a running one at its next logged step")
    cancel.add_argument("id", help="a job id (the config hash)")
    cancel.set_defaults(func=cmd_cancel)


def cmd_cancel(args) -> int:
    from eos_core.runs.queue import Queue

    job = Queue().cancel(args.id)
    if job is None:
        print(f"error: no job {args.id}", file=sys.stderr)
        return 2
    print(f"{job['id']}  {'cancel requested' if job.get('cancel_requested') else job['state']}")
    return 0


def add_worker(sub) -> None:
    worker = sub.add_parser("worker", help="run queued jobs from the store ($EOS_CACHE_DIR, default ./cache)")
    worker.add_argument("--once", action="store_true", help="exit when the queue is empty")
    worker.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="exit after this long with nothing queued (default: run until stopped)",
    )
    worker.set_defaults(func=cmd_worker)


def cmd_worker(args) -> int:
    from eos_core.runs.worker import worker_main

    done = worker_main(once=args.once, idle_exit=args.idle_exit)
    print(f"worker finished {done} job(s)")
    return 0


def add_store(sub) -> None:
    store = sub.add_parser("store", help="check the store ($EOS_CACHE_DIR) and repair what is inconsistent")
    store.add_argument("--check", action="store_true", help="report and repair inconsistencies (the default)")
    store.add_argument(
        "--rebuild",
        action="store_true",
        help="move a damaged index aside and build a new one from what can be read (stop workers and dashboards first)",
    )
    store.add_argument(
        "--orphan-age",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="remove value files no entry refers to once they are this old (default 600)",
    )
    store.set_defaults(func=cmd_store)


def cmd_store(args) -> int:
    from eos_core.runs.queue import Queue
    from eos_core.runs.repair import check, rebuild
    from eos_core.runs.store import Store, cache_dir

    if args.rebuild:
        for line in rebuild(cache_dir()):
            print(line)
        return 0
    store = Store()
    from eos_core.runs.worker import recover_stale_jobs

    fixes = check(store, min_age_s=args.orphan_age)
    fixes += [f"re-queued job {key}: its worker is gone" for key in recover_stale_jobs(Queue(store))]
    for line in fixes:
        print(line)
    print(f"the cache at {store.directory} is consistent" + (f" ({len(fixes)} repair(s) made)" if fixes else ""))
    return 0


def add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", help="run a preset over seeds and a grid; results go to the store")
    config_options(sweep)
    sweep.add_argument("--seeds", default="0", help="seeds, as 0-4 or 0,3,7 (default 0)")
    sweep.add_argument(
        "--grid",
        action="append",
        metavar="KEY=V1,V2",
        help="one grid axis, e.g. --grid c=0.25,0.5; repeatable (the product is run)",
    )
    sweep.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="local: a process pool on this machine; dask: a Dask cluster",
    )
    sweep.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    sweep.add_argument("--workers", type=int, default=1, help="processes for the local pool or LocalCluster")
    sweep.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from eos_core.runs.store import Store
    from eos_core.runs.sweep import expand, make_executor, parse_grid, parse_seeds, run_sweep

    configs = expand(build_config(args.preset, args.set), parse_seeds(args.seeds), parse_grid(args.grid))
    if args.executor == "local":  # a cluster's workers have their own memory
        for cfg in configs:
            check_fits(cfg)
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    try:
        report = run_sweep(configs, executor, Store())
    finally:
        close()
    print(
        f"{len(report.done)} computed, {len(report.cached)} from the store, {len(report.failed)} failed; "
        f"GD steps trained: baseline {report.steps['baseline']}, exit {report.steps['exit']}"
    )
    for key, error in report.failed.items():
        print(f"  failed {key}: {error}")
    return 1 if report.failed else 0

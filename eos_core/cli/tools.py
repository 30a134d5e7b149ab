"""Verbs that measure the product itself: bench, chaos."""

from __future__ import annotations

import json

from eos_core.cli.common import config_options, runnable_config


def add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="measure speed, memory and result size; prints one JSON line last")
    config_options(bench)
    bench.add_argument(
        "--vmap-sample", type=int, default=256, help="examples for the vmap(grad) reference timing (default 256)"
    )
    bench.add_argument(
        "--no-full-run", action="store_true", help="skip the full run (wall time, peak memory, result size)"
    )
    bench.add_argument(
        "--sweep", action="store_true", help="also time a sweep over three c values with and without baseline reuse"
    )
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from eos_core.tools.bench import run_bench

    cfg = runnable_config(args.preset, args.set)
    print(json.dumps(run_bench(cfg, vmap_sample=args.vmap_sample, full_run=not args.no_full_run, sweep=args.sweep)))
    return 0


def add_chaos(sub) -> None:
    chaos = sub.add_parser(
        "chaos",
        help="fault-injection check: a small preset under random kill -9 (and "
        "SIGSTOP) of 2 workers; prints one JSON line",
    )
    chaos.add_argument("--jobs", type=int, default=8, help="configurations to run (default 8)")
    chaos.add_argument("--kills", type=int, default=100, help="injections in all (default 100)")
    chaos.add_argument("--pause", action="store_true", help="half the injections SIGSTOP a worker for a while")
    chaos.add_argument("--seed", type=int, default=0, help="seed of the injection schedule")
    chaos.add_argument(
        "--steps", type=int, default=None, help="steps per job (default: enough for the jobs to outlast the injections)"
    )
    chaos.set_defaults(func=cmd_chaos)


def cmd_chaos(args) -> int:
    from eos_core.tools.chaos import run_chaos

    report = run_chaos(args.jobs, args.kills, pause=args.pause, seed=args.seed, steps=args.steps)
    print(json.dumps(report))
    return 0 if report["identical"] == report["jobs"] and report["trained_twice"] == 0 else 1

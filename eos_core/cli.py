"""Command line: `python -m eos_core VERB ...` with the verbs run, bench, worker, store, chaos, submit, status,
cancel, sweep, report, regime, presets and data (`--help` on each)."""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

from eos_core.config import ConfigError, RunConfig, branch_thresholds, coerce
from eos_core.datasets.files import DatasetError
from eos_core.datasets import REGISTRY
from eos_core.presets import OFFLINE_LAUNCH, PRESETS, preset
from eos_core.resources import ResourceError, check_fits


def build_config(preset_name: str, assignments: list[str]) -> RunConfig:
    """A preset with `key=value` overrides, validated."""
    overrides = {}
    for item in assignments or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--set", item, "overrides are written key=value, e.g. --set lr=0.02")
        overrides[key.strip()] = coerce(key.strip(), value.strip())
    return preset(preset_name, **overrides)


def runnable_config(preset_name: str, assignments: list[str]) -> RunConfig:
    """build_config, and refuse here what this machine cannot run (no GPU, not enough memory)."""
    cfg = build_config(preset_name, assignments)
    check_fits(cfg)
    return cfg


class ProgressBar:
    """One tqdm bar per branch, showing the step, λ1 against its threshold and the phase."""

    def __init__(self, disable: bool = False):
        self.bar, self.branch, self.disable = None, None, disable

    def __call__(self, event: dict):
        from tqdm import tqdm
        from eos_core.runs.eta import phase
        if event["kind"] != "logged":
            return
        if event["branch"] != self.branch:
            self.close()
            self.branch = event["branch"]
            self.bar = tqdm(total=event["total"], initial=event["step"], desc=event["branch"],
                            unit="step", disable=self.disable, dynamic_ncols=True)
        row = event["row"]
        self.bar.update(event["step"] - self.bar.n)
        self.bar.set_postfix_str(f"λ1={row['lambda1']:.1f} / {event['threshold']:.0f} ({phase(event)})")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def cmd_run(args) -> int:
    from eos_core.science.experiment import run_experiment
    from eos_core.analysis.results import summary

    cfg = runnable_config(args.preset, args.set)
    out = pathlib.Path(args.out or f"runs/{args.preset}-{cfg.config_hash()}")
    bar = ProgressBar(disable=args.quiet)
    try:
        result = run_experiment(cfg, bar)
    finally:
        bar.close()
    result.save(out)
    print_summary(summary(result), result.meta, out)
    return 0 if result.status != "diverged" else 3


def print_summary(s: dict, meta: dict, out) -> None:
    base, exit_ = branch_thresholds(meta["config"]).values()
    print(f"\nstatus: {s['status']}  {meta['message']}".rstrip())
    print(f"onset rule: {meta['onset_rule']['rule']}")
    print(f"t*  = {s['t_star']}   t** = {s['t_star_star']}   ({base.symbol} = {base.value:.4g}, "
          f"{exit_.symbol} = {exit_.value:.4g})")
    if s["final_lambda1_over_threshold"] is not None:
        print(f"final baseline λ1 / {base.symbol} = {s['final_lambda1_over_threshold']:.3f}")
    if s.get("median_lambda1_over_threshold_after_onset") is not None:
        print(f"median baseline λ1 / {base.symbol} after t* = {s['median_lambda1_over_threshold_after_onset']:.3f}")
    if s["window_delta_loss"]:
        print(f"median Δℓ_k = ℓ_k(exit) − ℓ_k(EoS) at equal t_eff, from t* to {'t**' if s['t_star_star'] else 'the end'}:")
    for group, value in s["window_delta_loss"].items():
        verdict = "EoS ahead" if value > 0 else "exit ahead"
        print(f"  Δℓ[{group:>14}] = {value:+.4f}  ({verdict})")
    print(f"result: {out}  ({meta['wall_time_s']:.1f} s)")


def cmd_bench(args) -> int:
    from eos_core.tools.bench import run_bench

    cfg = runnable_config(args.preset, args.set)
    print(json.dumps(run_bench(cfg, vmap_sample=args.vmap_sample, full_run=not args.no_full_run, sweep=args.sweep)))
    return 0


def cmd_worker(args) -> int:
    from eos_core.runs.worker import worker_main

    done = worker_main(once=args.once, idle_exit=args.idle_exit)
    print(f"worker finished {done} job(s)")
    return 0


def cmd_store(args) -> int:
    from eos_core.runs.repair import check, rebuild
    from eos_core.runs.store import Store, cache_dir

    if args.rebuild:
        for line in rebuild(cache_dir()):
            print(line)
        return 0
    store = Store()
    from eos_core.runs.worker import recover_stale_jobs
    fixes = check(store, min_age_s=args.orphan_age)
    fixes += [f"re-queued job {key}: its worker is gone" for key in recover_stale_jobs(store)]
    for line in fixes:
        print(line)
    print(f"the cache at {store.directory} is consistent" + (f" ({len(fixes)} repair(s) made)" if fixes else ""))
    return 0


def cmd_chaos(args) -> int:
    from eos_core.tools.chaos import run_chaos

    report = run_chaos(args.jobs, args.kills, pause=args.pause, seed=args.seed, steps=args.steps)
    print(json.dumps(report))
    return 0 if report["identical"] == report["jobs"] and report["trained_twice"] == 0 else 1


def cmd_submit(args) -> int:
    from eos_core.runs.store import Store

    job = Store().submit(build_config(args.preset, args.set), force=args.force)
    if args.start_worker:
        from eos_core.runs.worker import ensure_worker
        ensure_worker()
    print(json.dumps({k: job[k] for k in ("id", "state", "from_cache")}))
    return 0


def cmd_status(args) -> int:
    from eos_core.runs.store import Store

    store = Store()
    jobs = [store.job(args.id)] if args.id else store.jobs()
    if args.id and jobs[0] is None:
        print(f"error: no job {args.id}", file=sys.stderr)
        return 2
    for job in jobs:
        where = f"{job['step']}/{job['total']} {job.get('phase') or ''}".strip()
        extra = job.get("error") or job.get("message") or ""
        print(f"{job['id']}  {job['state']:9}  {where:24}  {extra}")
    return 0


def cmd_cancel(args) -> int:
    from eos_core.runs.store import Store

    job = Store().cancel(args.id)
    if job is None:
        print(f"error: no job {args.id}", file=sys.stderr)
        return 2
    print(f"{job['id']}  {'cancel requested' if job.get('cancel_requested') else job['state']}")
    return 0


def cmd_sweep(args) -> int:
    from eos_core.runs.store import Store
    from eos_core.runs.sweep import expand, make_executor, parse_grid, parse_seeds, run_sweep

    configs = expand(build_config(args.preset, args.set), parse_seeds(args.seeds), parse_grid(args.grid))
    if args.executor == "local":      # a cluster's workers have their own memory
        for cfg in configs:
            check_fits(cfg)
    executor, close = make_executor(args.executor, args.workers, args.scheduler)
    try:
        report = run_sweep(configs, executor, Store())
    finally:
        close()
    print(f"{len(report.done)} computed, {len(report.cached)} from the store, {len(report.failed)} failed; "
          f"GD steps trained: baseline {report.steps['baseline']}, exit {report.steps['exit']}")
    for key, error in report.failed.items():
        print(f"  failed {key}: {error}")
    return 1 if report.failed else 0


def cmd_report(args) -> int:
    from eos_core.analysis.claims import format_report, report
    from eos_core.analysis.results import Result, ResultError

    try:
        runs = [Result.load(folder) for folder in args.runs]
    except ResultError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(report(runs)))
    return 0


def cmd_regime(args) -> int:
    from eos_core.analysis.regime import grid, markdown, select, table
    from eos_core.runs.store import Store

    store = Store()
    results = [r for r in (store.result(m["config_hash"]) for m in store.metas()) if r is not None]
    where = {}
    for item in args.where or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("where", item, "write a fixed axis as key=value, e.g. loss=mse")
        where[key.strip()] = value.strip()
    try:
        frame = select(table(results, args.at), args.rows, args.cols, where)
    except ValueError as error:
        raise ConfigError("regime", f"{args.rows}×{args.cols}", str(error)) from None
    if not len(frame):
        print("error: no stored runs match; run a sweep first (scripts/survey_fashion.sh)", file=sys.stderr)
        return 2
    print(frame.to_csv(index=False).rstrip("\n") if args.format == "csv" else markdown(grid(frame, args.rows, args.cols)))
    return 0


def cmd_presets(args) -> int:
    for name, (description, _) in PRESETS.items():
        print(f"{name:18} {description}")
    return 0


def cmd_data(args) -> int:
    spec = REGISTRY[args.download]
    print(f"{spec.title} is ready in {spec.download()}")
    return 0


class Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other refusal, pointing at the help (its verbs'
    parsers are of this class too)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def add_regime(sub) -> None:
    """The `regime` verb's options."""
    regime = sub.add_parser("regime", help="map stored runs over two axes: each group's Δℓ_k at the peak window "
                                           "or the end, with how many seeds agree (io/in/bd/oo; ✓ = the paper's pattern)")
    axes = "pair, alpha, c, lr, loss or displacement"
    regime.add_argument("--rows", default="pair", help=f"row axis: {axes} (default %(default)s)")
    regime.add_argument("--cols", default="displacement", help=f"column axis: {axes} (default %(default)s)")
    regime.add_argument("--where", action="append", metavar="AXIS=VALUE",
                        help="fix another axis or the dataset, e.g. --where loss=mse --where alpha=3; repeatable")
    regime.add_argument("--at", choices=["peak", "end"], default="peak",
                        help="Δℓ_k averaged over the peak trade-off window, or at the last step (default %(default)s)")
    regime.add_argument("--format", choices=["markdown", "csv"], default="markdown",
                        help="a Markdown table of cells, or CSV with one row per configuration and group")
    regime.set_defaults(func=cmd_regime)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m eos_core", description=(
        "EoS Explorer: run the branching experiment of 'Edge of Stability Selectively Shapes "
        "Learning Across the Data Distribution' and measure its cost."))
    sub = p.add_subparsers(dest="command", required=True)

    def config_options(sp):
        sp.add_argument("--preset", default=OFFLINE_LAUNCH[0], choices=list(PRESETS),
                        help="named configuration to start from (see `presets`); default %(default)s")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override one RunConfig field, e.g. --set lr=0.02 --set classes=cat,dog; repeatable")

    run = sub.add_parser("run", help="train both branches and write a result folder")
    config_options(run)
    run.add_argument("--out", help="result folder (default runs/PRESET-CONFIGHASH)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="measure speed, memory and result size; prints one JSON line last")
    config_options(bench)
    bench.add_argument("--vmap-sample", type=int, default=256,
                       help="examples for the vmap(grad) reference timing (default 256)")
    bench.add_argument("--no-full-run", action="store_true",
                       help="skip the full run (wall time, peak memory, result size)")
    bench.add_argument("--sweep", action="store_true",
                       help="also time a sweep over three c values with and without baseline reuse")
    bench.set_defaults(func=cmd_bench)

    worker = sub.add_parser("worker", help="run queued jobs from the store ($EOS_CACHE_DIR, default ./cache)")
    worker.add_argument("--once", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--idle-exit", type=float, metavar="SECONDS",
                        help="exit after this long with nothing queued (default: run until stopped)")
    worker.set_defaults(func=cmd_worker)

    store = sub.add_parser("store", help="check the store ($EOS_CACHE_DIR) and repair what is inconsistent")
    store.add_argument("--check", action="store_true", help="report and repair inconsistencies (the default)")
    store.add_argument("--rebuild", action="store_true",
                       help="move a damaged index aside and build a new one from what can be read "
                            "(stop workers and dashboards first)")
    store.add_argument("--orphan-age", type=float, default=600.0, metavar="SECONDS",
                       help="remove value files no entry refers to once they are this old (default 600)")
    store.set_defaults(func=cmd_store)

    chaos = sub.add_parser("chaos", help="fault-injection check: a small preset under random kill -9 (and "
                                         "SIGSTOP) of 2 workers; prints one JSON line")
    chaos.add_argument("--jobs", type=int, default=8, help="configurations to run (default 8)")
    chaos.add_argument("--kills", type=int, default=100, help="injections in all (default 100)")
    chaos.add_argument("--pause", action="store_true", help="half the injections SIGSTOP a worker for a while")
    chaos.add_argument("--seed", type=int, default=0, help="seed of the injection schedule")
    chaos.add_argument("--steps", type=int, default=None,
                       help="steps per job (default: enough for the jobs to outlast the injections)")
    chaos.set_defaults(func=cmd_chaos)

    submit = sub.add_parser("submit", help="queue a run (a queued, running or finished config is not queued twice)")
    config_options(submit)
    submit.add_argument("--force", action="store_true", help="recompute even if a result is stored")
    submit.add_argument("--start-worker", action="store_true", help="start a background worker if none is alive")
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="list jobs, or show one")
    status.add_argument("id", nargs="?", help="a job id (the config hash)")
    status.set_defaults(func=cmd_status)

    cancel = sub.add_parser("cancel", help="cancel a queued job now, or a running one at its next logged step")
    cancel.add_argument("id", help="a job id (the config hash)")
    cancel.set_defaults(func=cmd_cancel)

    sweep = sub.add_parser("sweep", help="run a preset over seeds and a grid; results go to the store")
    config_options(sweep)
    sweep.add_argument("--seeds", default="0", help="seeds, as 0-4 or 0,3,7 (default 0)")
    sweep.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                       help="one grid axis, e.g. --grid c=0.25,0.5; repeatable (the product is run)")
    sweep.add_argument("--executor", choices=["local", "dask"], default="local",
                       help="local: a process pool on this machine; dask: a Dask cluster")
    sweep.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    sweep.add_argument("--workers", type=int, default=1, help="processes for the local pool or LocalCluster")
    sweep.set_defaults(func=cmd_sweep)

    rep = sub.add_parser("report", help="which of the paper's claims C1–C8 the given result folders support")
    rep.add_argument("runs", nargs="+", metavar="RUN_DIR", help="result folders written by `run`")
    rep.set_defaults(func=cmd_report)

    add_regime(sub)

    presets = sub.add_parser("presets", help="list the named configurations")
    presets.set_defaults(func=cmd_presets)

    data = sub.add_parser("data", help="download a dataset's files into $EOS_DATA_DIR (default cache/data)")
    data.add_argument("--download", choices=[name for name, s in REGISTRY.items() if s.download], required=True)
    data.set_defaults(func=cmd_data)
    return p


# A user's mistake, reported as one line and exit code 2; anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, ResourceError, DatasetError, KeyError, FileNotFoundError)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:   # a damaged store index: one line on every verb, never a traceback
        from eos_core.runs.store import StoreDamaged, cache_dir, is_damage
        if is_damage(error):
            error = StoreDamaged(cache_dir(), str(error))
        if not isinstance(error, StoreDamaged):
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2


def one_line(error: BaseException) -> str:
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(text).splitlines())

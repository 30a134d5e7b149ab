"""`python -m eos_core bench`: speed, memory and size figures measured side by side in one process.

Ratios, not absolute times, are the targets: both sides of each ratio run here, now, on the
same machine, so a busy machine slows both alike.
"""

from __future__ import annotations

import resource
import statistics
import time

import torch

from eos_core.analysis.results import GROUP_COLUMNS, TRACE_COLUMNS, Result
from eos_core.config import RunConfig
from eos_core.science.branching import prepare, run_baseline, run_exit
from eos_core.science.central_flow import run_central_flow
from eos_core.science.diagnostics import diagnose, per_example_alignment
from eos_core.science.experiment import run_experiment
from eos_core.science.per_example import per_example_grads
from eos_core.science.probes import evaluate


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeat: int = 1) -> float:
    """Median wall time of `fn()` over `repeat` calls, seconds."""
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


VARIANTS = ("plain", "diagnostics", "probes")


def overhead_cycles(setup, cfg: RunConfig, cycles: int) -> tuple[dict, list[int]]:
    """Seconds per logged-step cycle (`log_every` GD steps) of plain GD, GD with the logged-step
    diagnostics, and with the §5.2 probes too (a run computes them from t* on).

    The three trajectories start at θ0 and advance side by side, one cycle of each in turn, so a
    load change on a shared machine falls on all three alike rather than on whichever ran then."""
    problem = setup.problem
    generator = torch.Generator().manual_seed(0)
    cold = diagnose(problem, setup.theta0, setup.centroid_distance, None, generator).eigen  # untimed
    theta = dict.fromkeys(VARIANTS, setup.theta0)
    warm = dict.fromkeys(VARIANTS, cold)
    seconds = {name: [] for name in VARIANTS}
    hvps = []
    for _ in range(cycles):
        for name in VARIANTS:
            _sync(setup.device)
            start = time.perf_counter()
            theta[name], warm[name], solve = _cycle(setup, cfg, theta[name], warm[name], generator, name)
            _sync(setup.device)
            seconds[name].append(time.perf_counter() - start)
            if name == "diagnostics":
                hvps.append(solve)
    return seconds, hvps


def _cycle(setup, cfg, theta, warm, generator, variant):
    """`log_every` GD steps; the last is a logged step unless `variant` is plain."""
    problem, hvps = setup.problem, None
    for step in range(1, cfg.log_every + 1):
        if variant != "plain" and step == cfg.log_every:
            d = diagnose(problem, theta, setup.centroid_distance, warm, generator)
            if variant == "probes":
                evaluate(problem, theta, setup.probes)
            warm, gradient, hvps = d.eigen, d.gradient, d.row["hvps"]
        else:
            gradient = problem.step_gradient(theta)[0]
        theta = theta - cfg.lr * gradient
    return theta, warm, hvps


def overhead_figures(setup, cfg: RunConfig, cycles: int) -> dict:
    """Overheads as total time ÷ plain GD's total, with the spread of the per-cycle ratios."""
    seconds, hvps = overhead_cycles(setup, cfg, cycles)
    plain = sum(seconds["plain"])
    figures = {"steps_per_s": cycles * cfg.log_every / plain, "window_steps": cycles * cfg.log_every}
    for name, key in (("diagnostics", "diagnostics_overhead"), ("probes", "diagnostics_overhead_with_probes")):
        ratios = [t / p for t, p in zip(seconds[name], seconds["plain"])]
        figures[key] = sum(seconds[name]) / plain
        figures[key + "_cycle_range"] = f"{min(ratios):.3f}–{max(ratios):.3f}"
    figures["hvps_per_solve_window"] = hvps
    return figures


def per_example_figures(setup, sample: int) -> dict:
    problem, theta, device = setup.problem, setup.theta0, setup.device
    v1 = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(0)).to(device)
    v1 /= v1.norm()
    gradient = timed(lambda: problem.step_gradient(theta), device, repeat=5)
    fast = timed(lambda: per_example_alignment(problem, theta, v1), device, repeat=5)
    x, y = problem.x[:sample], problem.y[:sample]

    def reference():  # explicit per-example gradients, in chunks so memory stays bounded
        out = []
        for i in range(0, len(x), 32):
            G = per_example_grads(problem.model, problem.loss_fn, theta, x[i : i + 32], y[i : i + 32])
            out.append((G @ v1) ** 2 / (G**2).sum(1))
        return torch.cat(out)

    slow = timed(reference, device, repeat=2) * len(problem.x) / sample
    return {
        "gradient_ms": 1e3 * gradient,
        "per_example_ms": 1e3 * fast,
        "per_example_cost_grad_equiv": fast / gradient,
        "vmap_ms_extrapolated": 1e3 * slow,
        "per_example_speedup_vs_vmap": slow / fast,
    }


def sweep_reuse_figures(cfg: RunConfig, cs=(0.25, 0.5, 0.75)) -> dict:
    """Three values of c: forking each from one stored baseline vs training each from scratch."""
    from eos_core.science.experiment import run_from_baseline

    start = time.perf_counter()
    for c in cs:
        run_experiment(cfg.replace(c=c))
    scratch = time.perf_counter() - start
    start = time.perf_counter()
    baseline = None
    for c in cs:
        baseline = run_from_baseline(cfg.replace(c=c), baseline).baseline
    reuse = time.perf_counter() - start
    return {"sweep3c_scratch_s": scratch, "sweep3c_reuse_s": reuse, "sweep3c_speedup": scratch / reuse}


def paper_sized_result(n: int = 10_000, steps: int = 10_000, log_every: int = 32, t_star: int = 3_200) -> Result:
    """A result with the shapes of a paper-scale run (random values): for timing storage and pages."""
    import numpy as np
    import pandas as pd

    from eos_core.groups import GROUPS
    from eos_core.presets import preset
    from eos_core.science.experiment import onset_rule

    cfg = preset("paper-synthetic", n_per_class=n // 2, steps=steps, log_every=log_every, example_every=log_every)
    rng = np.random.default_rng(0)
    grid = {"baseline": np.arange(0, steps + 1, log_every), "exit": np.arange(t_star, steps + 1, log_every)}
    trace = pd.concat([pd.DataFrame({"branch": b, "step": g}) for b, g in grid.items()], ignore_index=True)
    trace["lr"] = np.where((trace.branch == "exit") & (trace.step > t_star), cfg.c * cfg.lr, cfg.lr)
    trace["t_eff"] = np.where(
        trace.branch == "exit", cfg.lr * t_star + cfg.c * cfg.lr * (trace.step - t_star), cfg.lr * trace.step
    )
    for column in TRACE_COLUMNS[4:]:
        trace[column] = rng.random(len(trace)) * (2 / cfg.lr if column.startswith("lambda") else 1)
    groups = trace[["branch", "step", "t_eff"]].merge(pd.DataFrame({"group": GROUPS}), how="cross")
    for column in GROUP_COLUMNS[4:]:
        groups[column] = rng.random(len(groups))
    group_names = np.array(["", *GROUPS])[rng.integers(0, 5, n)]
    examples = pd.DataFrame(
        {
            "index": np.arange(n),
            "label": rng.integers(0, 2, n),
            "original_label": 0,
            "group": group_names,
            "centroid_distance": rng.random(n) * 80,
        }
    )
    per_example = {f"{b}_steps": g for b, g in grid.items()}
    per_example.update(
        {f"{b}_{q}": rng.random((len(g), n), dtype=np.float32) for b, g in grid.items() for q in ("loss", "cos2")}
    )
    meta = {
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "baseline_hash": cfg.baseline_hash(),
        "status": "done",
        "message": "synthetic values for timing",
        "t_star": t_star,
        "t_star_star": None,
        "onset_rule": onset_rule(cfg),
        "device": "none",
        "versions": {},
        "wall_time_s": 0.0,
        "finished_at": 0.0,
    }
    return Result(meta, trace, groups, examples, per_example)


def store_round_trip_figures() -> dict:
    """Write and read back a paper-sized result (n = 10,000 per-example arrays at every logged
    step of both branches) through a fresh store; also its size."""
    import tempfile

    from eos_core.runs.store import Store

    result = paper_sized_result()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(folder)
        start = time.perf_counter()
        store.put_result(result)
        written = time.perf_counter()
        store.result(result.meta["config_hash"])
        read = time.perf_counter()
        store.close()
    return {
        "store_write_s": written - start,
        "store_read_s": read - written,
        "paper_sized_result_mb": len(result.to_zip()) / 2**20,
    }


def load_figures(cfg: RunConfig) -> dict:
    """Seconds to load the run's class pair from its files, cold: parsed files are cached per
    process, so the cache is emptied first (for MNIST-format sets this reads and checks the .gz)."""
    from eos_core.datasets import idx
    from eos_core.science.data import load_dataset

    idx._arrays.cache_clear()
    start = time.perf_counter()
    load_dataset(cfg.dataset, cfg.classes, cfg.n_per_class, cfg.image_size, seed=cfg.seed)
    return {"load_pair_s": time.perf_counter() - start}


def run_bench(cfg: RunConfig, vmap_sample: int = 256, full_run: bool = True, sweep: bool = False) -> dict:
    figures = load_figures(cfg)
    setup = prepare(cfg)
    figures.update({"n": cfg.n, "params": setup.theta0.numel(), "device": setup.device})
    figures.update(overhead_figures(setup, cfg, max(1, min(cfg.steps, 8 * cfg.log_every) // cfg.log_every)))
    figures.update(per_example_figures(setup, min(vmap_sample, cfg.n)))
    if full_run:
        figures.update(full_run_figures(cfg))
    if sweep:
        figures.update(sweep_reuse_figures(cfg))
    if "central" in cfg.flows:
        figures.update(central_flow_figures(setup, cfg))
    figures.update(store_round_trip_figures())
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if setup.device == "cuda":
        figures["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print_table(cfg, figures)
    return figures


def full_run_figures(cfg: RunConfig) -> dict:
    start = time.perf_counter()
    result = run_experiment(cfg)
    wall = time.perf_counter() - start
    warm = result.trace.hvps.iloc[1:]  # only the baseline's first solve is cold; the exit's starts warm
    size = sum(len(b) for b in result.to_files().values())
    return {
        "full_run_wall_s": wall,
        "status": result.status,
        "t_star": result.meta["t_star"],
        "t_star_star": result.meta["t_star_star"],
        "hvps_per_solve_median": float(warm.median()) if len(warm) else None,
        "result_mb": size / 2**20,
    }


def central_flow_figures(setup, cfg: RunConfig) -> dict:
    """The central flow's cost apart: its wall time from t* to the end against the exit branch's over
    the same span (both with their logged-step rows), from one baseline."""
    baseline = run_baseline(setup, cfg)
    if baseline.fork is None:
        return {"central_flow_status": "no onset: nothing to integrate"}
    start = time.perf_counter()
    run_exit(setup, cfg, baseline.fork)
    exit_s = time.perf_counter() - start
    start = time.perf_counter()
    flow = run_central_flow(setup, cfg, baseline.fork)
    flow_s = time.perf_counter() - start
    return {
        "exit_branch_s": exit_s,
        "central_flow_s": flow_s,
        "central_flow_cost_vs_exit": flow_s / exit_s,
        "central_flow_status": "diverged" if flow.diverged_at is not None else "done",
    }


def print_table(cfg: RunConfig, figures: dict) -> None:
    print(f"benchmark: {cfg.dataset} n={cfg.n} model={cfg.model} loss={cfg.loss} steps={cfg.steps}")
    for key, value in figures.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"  {key:32} {shown}")

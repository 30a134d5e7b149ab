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
from eos_core.config import RunConfig, branch_thresholds
from eos_core.science.branching import prepare
from eos_core.science.curvature import align_signs, top_eigenpairs, track, warm_start
from eos_core.science.diagnostics import diagnose, per_example_alignment
from eos_core.science.experiment import run_experiment
from eos_core.science.per_example import per_example_grads
from eos_core.science.probes import evaluate
from eos_core.science.spectrum import PROBES, STEPS, hessian_operator, slq


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


VARIANTS = ("plain", "diagnostics", "mechanism_every_step", "probes")


def overhead_cycles(setup, cfg: RunConfig, cycles: int) -> tuple[dict, list[int]]:
    """Seconds per logged-step cycle (`log_every` GD steps) of plain GD, GD with the logged-step
    diagnostics at the configured cadence of the ∇S terms (`mechanism_every`), with the ∇S terms at
    every logged step, and with the §5.2 probes too (a run computes them from t* on).

    The three trajectories start at θ0 and advance side by side, one cycle of each in turn, so a
    load change on a shared machine falls on all three alike rather than on whichever ran then."""
    problem = setup.problem
    generator = torch.Generator().manual_seed(0)
    cold = diagnose(problem, setup.theta0, setup.centroid_distance, None, generator).eigen  # untimed
    theta = dict.fromkeys(VARIANTS, setup.theta0)
    warm = dict.fromkeys(VARIANTS, cold)
    seconds = {name: [] for name in VARIANTS}
    hvps = []
    for i in range(cycles):
        for name in VARIANTS:
            mechanism = name == "mechanism_every_step" or i % cfg.mechanism_every == 0
            _sync(setup.device)
            start = time.perf_counter()
            theta[name], warm[name], solve = _cycle(setup, cfg, theta[name], warm[name], generator, name, mechanism)
            _sync(setup.device)
            seconds[name].append(time.perf_counter() - start)
            if name == "diagnostics":
                hvps.append(solve)
    return seconds, hvps


def _cycle(setup, cfg, theta, warm, generator, variant, mechanism: bool):
    """`log_every` GD steps; the last is a logged step unless `variant` is plain, with the ∇S terms
    when `mechanism`."""
    problem, hvps = setup.problem, None
    for step in range(1, cfg.log_every + 1):
        if variant != "plain" and step == cfg.log_every:
            d = diagnose(problem, theta, setup.centroid_distance, warm, generator, mechanism=lambda _: mechanism)
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
    overheads = (
        ("diagnostics", "diagnostics_overhead"),
        ("mechanism_every_step", "diagnostics_overhead_mechanism_every_step"),
        ("probes", "diagnostics_overhead_with_probes"),
    )
    for name, key in overheads:
        ratios = [t / p for t, p in zip(seconds[name], seconds["plain"])]
        figures[key] = sum(seconds[name]) / plain
        figures[key + "_cycle_range"] = f"{min(ratios):.3f}–{max(ratios):.3f}"
    figures["hvps_per_solve_window"] = hvps
    return figures


# The fraction the tracking figures use when the config leaves track_fraction at 0.
BENCH_TRACK_FRACTION = 0.5


def tracking_figures(setup, cfg: RunConfig, cycles: int) -> dict:
    """The tracked solve (every eigenpair above f·threshold) against the default top-2 solve, both
    warm-started as in a run and timed on the same gradient graph at the same logged steps, in turn.

    GD first runs (untimed) to the first logged step with λ1 at or above the cut, where there is
    something to track; f is the config's track_fraction, or BENCH_TRACK_FRACTION if that is 0."""
    fraction = cfg.track_fraction or BENCH_TRACK_FRACTION
    cut = fraction * branch_thresholds(cfg)["baseline"].value
    problem, device = setup.problem, setup.device
    generator = torch.Generator().manual_seed(0)
    theta, warm, step = setup.theta0, None, 0
    while True:  # to the first logged step above the cut
        warm = _top2(problem.graph(theta)[0], warm, theta, generator)
        if float(warm.values[0]) >= cut or step >= cfg.steps:
            break
        theta, step = _gd(problem, theta, cfg), step + cfg.log_every
    if float(warm.values[0]) < cut:
        return {"track_fraction": fraction, "tracked_solve_vs_top2": None}
    seconds, hvps, counts, tracked = {"top2": [], "tracked": []}, {"top2": [], "tracked": []}, [], None
    for _ in range(cycles):
        graph = problem.graph(theta)[0]
        _sync(device)
        start = time.perf_counter()
        warm = _top2(graph, warm, theta, generator)
        _sync(device)
        middle = time.perf_counter()
        tracked = track(graph.hvp, warm, tracked, cut, generator)
        _sync(device)
        seconds["top2"].append(middle - start)
        seconds["tracked"].append(time.perf_counter() - middle)
        hvps["top2"].append(warm.hvps)
        hvps["tracked"].append(tracked.hvps)
        counts.append(len(tracked.values))
        theta = _gd(problem, theta, cfg)
    return {
        "track_fraction": fraction,
        "tracked_from_step": step,
        "tracked_count_window": counts,
        "top2_solve_ms": 1e3 * statistics.median(seconds["top2"]),
        "tracked_solve_ms": 1e3 * statistics.median(seconds["tracked"]),
        "tracked_solve_vs_top2": sum(seconds["tracked"]) / sum(seconds["top2"]),
        "top2_hvps_window": hvps["top2"],
        "tracked_hvps_window": hvps["tracked"],
    }


def _top2(graph, warm, theta, generator):
    start = warm_start(warm, theta.numel(), theta.device, generator)
    return align_signs(top_eigenpairs(graph.hvp, start, k=2), warm)


def _gd(problem, theta, cfg: RunConfig):
    """`log_every` plain GD steps."""
    for _ in range(cfg.log_every):
        theta = theta - cfg.lr * problem.step_gradient(theta)[0]
    return theta


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


def spectrum_figures(setup, probes: int = PROBES, steps: int = STEPS) -> dict:
    """SLQ's cost at one checkpoint (θ0) as gradients and as logged steps' diagnostics, all three
    timed here. One probe is timed — probes are independent and cost alike — and the checkpoint is
    that × `probes` (each probe's timing includes a graph build, ~1 gradient of its ~1.2·m).
    A spectrum of a stored run also replays the run to its step: that is the run's own cost."""
    problem, theta, device = setup.problem, setup.theta0, setup.device
    generator = torch.Generator().manual_seed(0)
    warm = diagnose(problem, theta, setup.centroid_distance, None, generator).eigen  # untimed: a cold solve

    def references() -> tuple[float, float]:  # (gradient, logged step) seconds
        gradient = timed(lambda: problem.step_gradient(theta), device, repeat=3)
        return gradient, timed(lambda: diagnose(problem, theta, setup.centroid_distance, warm, generator), device)

    before = references()  # timed either side of the probe: a load change falls on both sides alike
    dim = theta.numel()
    probe = timed(lambda: slq(hessian_operator(problem, theta).hvp, dim, 1, steps, 0, device), device, repeat=1)
    after = references()
    gradient, logged = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    checkpoint = probes * probe
    return {
        "slq_probes_x_steps": f"{probes}x{min(steps, dim)}",
        "slq_checkpoint_s": checkpoint,
        "slq_cost_grad_equiv": checkpoint / gradient,
        "slq_cost_logged_steps": checkpoint / logged,
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
    cycles = max(1, min(cfg.steps, 8 * cfg.log_every) // cfg.log_every)
    figures.update(overhead_figures(setup, cfg, cycles))
    figures.update(tracking_figures(setup, cfg, cycles))
    figures.update(per_example_figures(setup, min(vmap_sample, cfg.n)))
    figures.update(spectrum_figures(setup))
    if full_run:
        figures.update(full_run_figures(cfg))
    if sweep:
        figures.update(sweep_reuse_figures(cfg))
    if cfg.flows:
        figures.update(flow_figures(cfg))
    if cfg.valley_every:
        figures.update(valley_figures(cfg))
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


def valley_figures(cfg: RunConfig) -> dict:
    """The valley slices' cost (valley_every > 0): the baseline branch trained with them, between
    two trainings without (in this process, so a load change falls on both sides), as a ratio to
    the mean of the two; and one checkpoint's cost in gradients."""
    from eos_core.science.branching import run_baseline
    from eos_core.science.valley import valley_rows

    setup = prepare(cfg)
    seconds, branches = [], []
    for run in (cfg.replace(valley_every=0), cfg, cfg.replace(valley_every=0)):
        start = time.perf_counter()
        branches.append(run_baseline(setup, run))
        _sync(setup.device)
        seconds.append(time.perf_counter() - start)
    problem, theta = setup.problem, setup.theta0
    d = diagnose(problem, theta, setup.centroid_distance, None, torch.Generator().manual_seed(0))
    recent = [theta - cfg.lr * d.gradient] * 4

    def checkpoint():
        valley_rows(problem, theta, d.eigen.vectors, d.eigen.values, d.row["loss"], recent)

    gradient = timed(lambda: problem.step_gradient(theta), setup.device, repeat=3)
    one = timed(checkpoint, setup.device)
    return {
        "valley_baseline_overhead": seconds[1] / ((seconds[0] + seconds[2]) / 2),
        "valley_baseline_checkpoints": len({row["step"] for row in branches[1].valley_rows}),
        "valley_checkpoint_s": one,
        "valley_checkpoint_grad_equiv": one / gradient,
    }


def flow_figures(cfg: RunConfig) -> dict:
    """The reference flows' cost (`--set flows=gradient`) against the exit branch's, from the same
    fork in this process: each flow branch, the exit branch with its distance to the EoS branch
    (as a run trains it) and without, run back to back. A flow's cost is its ratio to the exit
    branch with distances (the median of three, alternating with three without: the distances'
    own cost is the ratio of the two medians)."""
    from eos_core.science.branching import run_baseline, run_exit
    from eos_core.science.distance import Shadow
    from eos_core.science.flows import FLOWS

    setup = prepare(cfg)
    baseline = run_baseline(setup, cfg)
    if baseline.fork is None:
        return {"flows": "no fork: nothing to compare"}
    fork, device = baseline.fork, setup.device
    measured, plain = [], []
    for _ in range(3):  # alternately, so a load change on a shared machine falls on both alike
        measured.append(timed(lambda: run_exit(setup, cfg, fork, measure=Shadow(setup, cfg, fork).measure), device))
        plain.append(timed(lambda: run_exit(setup, cfg, fork), device))
    exit_s = statistics.median(measured)
    figures = {"exit_branch_s": exit_s, "distance_overhead": exit_s / statistics.median(plain)}
    for name in cfg.flows:
        flow, kept = FLOWS[name], {}

        def integrate(flow=flow, kept=kept):
            kept["branch"] = flow.run(setup, cfg, fork, None, Shadow(setup, cfg, fork).measure)

        seconds = timed(integrate, device)
        info = kept["branch"].info
        figures.update({f"{flow.branch}_s": seconds, f"{flow.branch}_cost_vs_exit": seconds / exit_s})
        if "substeps" in info:  # an adaptive integrator (the gradient flow): its work and error
            figures[f"{flow.branch}_gradients"] = info["gradients"]
            figures[f"{flow.branch}_substeps"] = f"{info['substeps'][0]}–{info['substeps'][1]}"
            figures[f"{flow.branch}_error_estimate"] = info["error_estimate"]
        figures[f"{flow.branch}_status"] = info["status"]
    return figures


def print_table(cfg: RunConfig, figures: dict) -> None:
    print(f"benchmark: {cfg.dataset} n={cfg.n} model={cfg.model} loss={cfg.loss} steps={cfg.steps}")
    for key, value in figures.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"  {key:32} {shown}")

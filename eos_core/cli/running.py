"""Verbs that run the experiment here and now: run, fork, presets, data."""

from __future__ import annotations

import pathlib

from eos_core.cli.common import config_options, parse_assignments, runnable_config
from eos_core.config import FORKABLE, ForkError, branch_thresholds
from eos_core.datasets import REGISTRY
from eos_core.presets import PRESETS
from eos_core.resources import check_fits


def add_run(sub) -> None:
    run = sub.add_parser("run", help="train both branches and write a result folder")
    config_options(run)
    run.add_argument("--out", help="result folder (default runs/PRESET-CONFIGHASH)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)


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
            self.bar = tqdm(
                total=event["total"],
                initial=event["step"],
                desc=event["branch"],
                unit="step",
                disable=self.disable,
                dynamic_ncols=True,
            )
        row = event["row"]
        self.bar.update(event["step"] - self.bar.n)
        self.bar.set_postfix_str(f"λ1={row['lambda1']:.1f} / {event['threshold']:.0f} ({phase(event)})")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def cmd_run(args) -> int:
    from eos_core.analysis.results import summary
    from eos_core.science.experiment import run_experiment

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
    print(
        f"t*  = {s['t_star']}   t** = {s['t_star_star']}   ({base.symbol} = {base.value:.4g}, "
        f"{exit_.symbol} = {exit_.value:.4g})"
    )
    if s["final_lambda1_over_threshold"] is not None:
        print(f"final baseline λ1 / {base.symbol} = {s['final_lambda1_over_threshold']:.3f}")
    if s.get("median_lambda1_over_threshold_after_onset") is not None:
        print(f"median baseline λ1 / {base.symbol} after t* = {s['median_lambda1_over_threshold_after_onset']:.3f}")
    if s["window_delta_loss"]:
        until = "t**" if s["t_star_star"] else "the end"
        print(f"median Δℓ_k = ℓ_k(exit) − ℓ_k(EoS) at equal t_eff, from t* to {until}:")
    for group, value in s["window_delta_loss"].items():
        verdict = "EoS ahead" if value > 0 else "exit ahead"
        print(f"  Δℓ[{group:>14}] = {value:+.4f}  ({verdict})")
    for name, flow in meta.get("flows", {}).items():  # reference branches: their own outcome
        print(f"{name}: {flow['status']} ({flow['wall_time_s']:.1f} s)  {flow['message']}".rstrip())
    print(f"result: {out}  ({meta['wall_time_s']:.1f} s)")


def add_fork(sub) -> None:
    fork = sub.add_parser("fork", help="a new exit branch from a stored run's baseline at any logged step")
    fork.add_argument("result", help="the parent run's result folder")
    where = fork.add_mutually_exclusive_group(required=True)
    where.add_argument("--at", type=int, metavar="STEP", help="fork at this logged baseline step")
    where.add_argument("--at-sharpness", type=float, metavar="F", help="fork at the first step where λ1 ≥ F·threshold")
    fork.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help=f"change the exit branch's {', '.join(FORKABLE)}"
    )
    fork.add_argument("--out", required=True, help="the new result folder")
    fork.add_argument("--quiet", action="store_true", help="no progress bar")
    fork.set_defaults(func=cmd_fork)


def cmd_fork(args) -> int:
    from eos_core.analysis.lineage import fork_step, forked_config
    from eos_core.analysis.results import Result, ResultError, summary
    from eos_core.science.fork import fork

    try:
        parent = Result.load(args.result)
    except ResultError as error:
        raise ForkError(f"the parent {args.result} cannot be read: {error}") from None
    changes = dict(parse_assignments(args.set))
    step = fork_step(parent, args.at, args.at_sharpness)
    check_fits(forked_config(parent, changes))  # every refusal before anything trains
    bar = ProgressBar(disable=args.quiet)
    try:
        result = fork(parent, step, changes, bar)
    finally:
        bar.close()
    result.save(args.out)
    print(f"forked {parent.meta['config_hash']} at step {step}" + (f" with {changes}" if changes else ""))
    print_summary(summary(result), result.meta, args.out)
    return 0 if result.status != "diverged" else 3


def add_presets(sub) -> None:
    presets = sub.add_parser("presets", help="list the named configurations")
    presets.set_defaults(func=cmd_presets)


def cmd_presets(args) -> int:
    for name, (description, _) in PRESETS.items():
        print(f"{name:18} {description}")
    return 0


def add_data(sub) -> None:
    data = sub.add_parser("data", help="download a dataset's files into $EOS_DATA_DIR (default cache/data)")
    data.add_argument("--download", choices=[name for name, s in REGISTRY.items() if s.download], required=True)
    data.set_defaults(func=cmd_data)


def cmd_data(args) -> int:
    spec = REGISTRY[args.download]
    print(f"{spec.title} is ready in {spec.download()}")
    return 0


def add_spectrum(sub) -> None:
    spectrum = sub.add_parser(
        "spectrum", help="the Hessian's spectral density at a logged step, by stochastic Lanczos quadrature"
    )
    spectrum.add_argument("result", help="a result folder, or the config hash of a run in the store")
    spectrum.add_argument("--step", type=int, required=True, help="a logged step of the branch")
    spectrum.add_argument("--branch", choices=("baseline", "exit"), default="baseline", help="default %(default)s")
    spectrum.add_argument("--probes", type=int, default=10, help="random probes (default %(default)s)")
    spectrum.add_argument("--steps", type=int, default=80, help="Lanczos steps per probe (default %(default)s)")
    spectrum.add_argument("--seed", type=int, default=0, help="the probes' seed (default %(default)s)")
    spectrum.add_argument("--quiet", action="store_true", help="no progress bar for the replay")
    spectrum.set_defaults(func=cmd_spectrum)


def cmd_spectrum(args) -> int:
    """Replay to the step, compute, and only then write: into the folder's spectra.json, and into
    the store where it holds the run (the Sharpness page draws it from there)."""
    from eos_core.analysis.spectrum import SpectrumError, check_step, write_folder

    if args.probes < 1 or args.steps < 2:
        raise SpectrumError("--probes must be at least 1 and --steps at least 2")
    result, folder = spectrum_source(args.result)
    check_step(result.trace, result.meta, args.step, args.branch)  # before anything is replayed
    from eos_core.science.spectrum import spectrum_of

    bar = ProgressBar(disable=args.quiet)
    try:
        spectrum = spectrum_of(result, args.step, args.branch, args.probes, args.steps, args.seed, bar)
    finally:
        bar.close()
    kept = []
    if folder is not None:
        kept.append(str(write_folder(folder, spectrum)))
    store = stored_run(spectrum.config_hash)
    if store is not None:
        store.put_spectrum(spectrum)
        kept.append(f"the store ({store.directory})")
        store.close()
    print_spectrum(spectrum)
    print("kept in " + " and ".join(kept))
    return 0


def spectrum_source(name: str):
    """(Result, its folder or None) for a folder path or a stored run's config hash."""
    from eos_core.analysis.results import Result, ResultError
    from eos_core.analysis.spectrum import SpectrumError
    from eos_core.runs.store import CorruptEntry

    path = pathlib.Path(name)
    try:
        if path.is_dir():
            return Result.load(path), path
        store = stored_run(name)
        result = store.result(name) if store is not None else None
    except (ResultError, CorruptEntry, OSError) as error:
        raise SpectrumError(f"{name} cannot be read: {error}") from None
    if result is None:
        raise SpectrumError(f"{name} is neither a result folder nor a run in the store")
    return result, None


def stored_run(config_hash: str):
    """The store, opened, if it exists and holds a result for `config_hash`; else None (a
    spectrum of a folder outside the store never creates one)."""
    from eos_core.runs.store import Store, cache_dir

    if not cache_dir().is_dir():
        return None
    store = Store()
    if store.has_result(config_hash):
        return store
    store.close()
    return None


def print_spectrum(s) -> None:
    nodes, weights = s.measure()
    print(f"{s.branch} step {s.step} (t_eff {s.t_eff:.4g}): {s.dim} parameters, {s.probes} probes × {s.steps} steps")
    print(f"  {s.hvps} Hessian-vector products in {s.wall_s:.1f} s")
    print(f"  top node {s.top_node:.5g}   logged λ1 {s.lambda1:.5g}   {s.threshold_symbol} = {s.threshold:.5g}")
    print(f"  smallest node {nodes[0]:.4g}; mass below 0: {weights[nodes < 0].sum():.3f}")

"""Verbs that read results: report, regime, valley."""

from __future__ import annotations

import sys

from eos_core.config import ConfigError
from eos_core.groups import SHORT


def add_report(sub) -> None:
    rep = sub.add_parser("report", help="which of the paper's claims C1–C8 the given result folders support")
    rep.add_argument("runs", nargs="+", metavar="RUN_DIR", help="result folders written by `run`")
    rep.set_defaults(func=cmd_report)


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


def add_regime(sub) -> None:
    """The `regime` verb's options."""
    regime = sub.add_parser(
        "regime",
        help="map stored runs over two axes: each group's Δℓ_k at the peak window "
        "or the end, with how many seeds agree "
        f"({'/'.join(SHORT.values())}; ✓ = the paper's pattern)",
    )
    axes = "pair, alpha, c, lr, loss or displacement"
    regime.add_argument("--rows", default="pair", help=f"row axis: {axes} (default %(default)s)")
    regime.add_argument("--cols", default="displacement", help=f"column axis: {axes} (default %(default)s)")
    regime.add_argument(
        "--where",
        action="append",
        metavar="AXIS=VALUE",
        help="fix another axis or the dataset, e.g. --where loss=mse --where alpha=3; repeatable",
    )
    regime.add_argument(
        "--at",
        choices=["peak", "end"],
        default="peak",
        help="Δℓ_k averaged over the peak trade-off window, or at the last step (default %(default)s)",
    )
    regime.add_argument(
        "--format",
        choices=["markdown", "csv"],
        default="markdown",
        help="a Markdown table of cells, or CSV with one row per configuration and group",
    )
    regime.set_defaults(func=cmd_regime)


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
    if args.format == "csv":
        print(frame.to_csv(index=False).rstrip("\n"))
    else:
        print(markdown(grid(frame, args.rows, args.cols)))
    return 0


def add_valley(sub) -> None:
    """The `valley` verb's options."""
    valley = sub.add_parser(
        "valley",
        help="the loss along the top eigenvector v1 at a valley checkpoint (runs with valley_every > 0); "
        "without --step, the checkpoints",
    )
    valley.add_argument("result", help="a result folder, or the config hash of a run in the store")
    valley.add_argument("--branch", choices=("baseline", "exit"), default="baseline", help="default %(default)s")
    valley.add_argument("--step", type=int, help="a valley checkpoint of the branch: print its slice")
    valley.add_argument("--format", choices=["table", "csv"], default="table", help="default %(default)s")
    valley.set_defaults(func=cmd_valley)


def cmd_valley(args) -> int:
    from eos_core.analysis.valley import HOW_TO_GET, ValleyError, has_valley, slice_table, valley_at, valley_steps
    from eos_core.cli.running import spectrum_source

    result, _ = spectrum_source(args.result)
    if args.step is None:
        if not has_valley(result):
            raise ValleyError(f"this run has no valley slices; {HOW_TO_GET}")
        print(f"{args.branch} valley checkpoints: {', '.join(map(str, valley_steps(result, args.branch))) or 'none'}")
        return 0
    valley = valley_at(result, args.branch, args.step)
    table = slice_table(valley)
    if args.format == "csv":
        print(table.to_csv(index=False).rstrip("\n"))
        return 0
    ratio = valley.curvature / valley.threshold.value
    print(
        f"{args.branch} at step {valley.step} (t_eff {valley.t_eff:.4g}): L = {valley.loss:.6g}, curvature "
        f"along v1 {valley.curvature:.4g} = {ratio:.3f} × {valley.threshold.symbol}"
    )
    print(table.to_string(index=False, float_format=lambda x: f"{x:.6g}"))
    for row in valley.iterates.itertuples():
        print(f"θ(t−{row.lag}) lands at s1 = {row.s1:.4g}, s2 = {row.s2:.4g}, loss {row.loss:.6g}")
    return 0

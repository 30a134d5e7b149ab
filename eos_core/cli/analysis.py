"""Verbs that read results: report, regime."""

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

"""A run's result as tidy tables, written to a folder and read back identically — never pickled.

    meta.json          config, hashes, status, t*, t**, onset rule, device, versions, wall time
    trace.parquet      one row per branch and logged step
    groups.parquet     one row per branch, logged step and prototype group
    examples.parquet   the static per-example table
    per_example.npz    per branch: logged steps, per-example loss and cos²; prototype images (no object arrays)
    losses.parquet     one row per branch, EVERY step and group: ℓ_k and its two-step average ℓ̄_k
                       (optional: results written before it existed load with an empty table)
    tracked.parquet    one row per branch, logged step and tracked eigenpair (rank): λ_i and its residual
    tracked_groups.parquet  the same, per group: cos²(∇ℓ_k, v_i) and (∇ℓ_k·v_i)²
                       (both empty unless the run set track_fraction > 0; optional like losses.parquet)
    valley.parquet     one row per branch, valley checkpoint and grid point: the loss along v1 (kind
                       slice) and over v1 × v2 (kind surface)
    valley_iterates.parquet  one row per branch, valley checkpoint and previous iterate (lag j):
                       its offsets along v1 and v2 and its loss (both written only by runs with
                       valley_every > 0, so a run without them stores exactly the files it did before)
    spectra.json       Hessian spectra computed later by `eos spectrum` (optional; analysis/spectrum.py
                       reads and writes it, `Result` does not carry it)

Torch-free: the dashboard reads results with this module.
"""

from __future__ import annotations

import io
import json
import pathlib
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eos_core.config import branch_thresholds
from eos_core.groups import GROUPS
from eos_core.quantities import EVERY_STEP, GROUP, TRACE, TRACKED, TRACKED_GROUP, VALLEY, VALLEY_ITERATES, columns

BRANCHES = ("baseline", "exit")  # the experiment's own; reference flows add theirs (reference_branches)
# The tables' columns come from the one table of quantities.
TRACE_COLUMNS = columns(TRACE)
GROUP_COLUMNS = columns(GROUP)
EXAMPLE_COLUMNS = ["index", "label", "original_label", "group", "centroid_distance"]
LOSS_COLUMNS = columns(EVERY_STEP)
TRACKED_COLUMNS = columns(TRACKED)
TRACKED_GROUP_COLUMNS = columns(TRACKED_GROUP)
VALLEY_COLUMNS = columns(VALLEY)
VALLEY_ITERATE_COLUMNS = columns(VALLEY_ITERATES)
# Results stored before the decomposition's coefficients were named apart from the displacement α.
LEGACY_TRACE_COLUMNS = {"alpha": "a_S", "beta": "b_S"}
FILES = ("meta.json", "trace.parquet", "groups.parquet", "examples.parquet", "per_example.npz")
# Tables added after the first results: each reads as empty (with its columns) where absent.
OPTIONAL_TABLES = {
    "losses.parquet": LOSS_COLUMNS,
    "tracked.parquet": TRACKED_COLUMNS,
    "tracked_groups.parquet": TRACKED_GROUP_COLUMNS,
    "valley.parquet": VALLEY_COLUMNS,
    "valley_iterates.parquet": VALLEY_ITERATE_COLUMNS,
}
# Written only by a run that sliced the valley (valley_every > 0): a run without stores what it did before.
VALLEY_FILES = ("valley.parquet", "valley_iterates.parquet")
OPTIONAL_FILES = tuple(name for name in OPTIONAL_TABLES if name not in VALLEY_FILES)  # written by every run
READ = FILES + OPTIONAL_FILES + VALLEY_FILES


class ResultError(ValueError):
    """A result folder or payload that is missing, incomplete or corrupt."""


@dataclass
class Result:
    meta: dict
    trace: pd.DataFrame
    groups: pd.DataFrame
    examples: pd.DataFrame
    per_example: dict = field(default_factory=dict)  # name → np.ndarray
    losses: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LOSS_COLUMNS))  # every step
    tracked: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRACKED_COLUMNS))
    tracked_groups: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRACKED_GROUP_COLUMNS))
    valley: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VALLEY_COLUMNS))
    valley_iterates: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VALLEY_ITERATE_COLUMNS))

    @property
    def status(self) -> str:
        return self.meta["status"]

    def to_files(self) -> dict[str, bytes]:
        """Each file of the result folder as bytes (the store keeps exactly these). The valley's
        tables are written only by a run that sliced, so a run without slices is unchanged."""
        files = {
            "meta.json": json.dumps(self.meta, indent=1, sort_keys=True).encode(),
            "trace.parquet": _parquet(self.trace),
            "groups.parquet": _parquet(self.groups),
            "examples.parquet": _parquet(self.examples),
            "per_example.npz": _npz(self.per_example),
            "losses.parquet": _parquet(self.losses),
            "tracked.parquet": _parquet(self.tracked),
            "tracked_groups.parquet": _parquet(self.tracked_groups),
        }
        if len(self.valley):  # both tables, even when no slice had previous iterates (a branch's first step)
            files.update(zip(VALLEY_FILES, (_parquet(self.valley), _parquet(self.valley_iterates))))
        return files

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> Result:
        missing = [name for name in FILES if name not in files]
        if missing:
            raise ResultError(f"result is incomplete: missing {', '.join(missing)}")
        try:
            with np.load(io.BytesIO(files["per_example.npz"]), allow_pickle=False) as npz:
                per_example = {k: npz[k] for k in npz.files}
            return cls(
                meta=json.loads(files["meta.json"]),
                trace=pd.read_parquet(io.BytesIO(files["trace.parquet"])).rename(columns=LEGACY_TRACE_COLUMNS),
                groups=pd.read_parquet(io.BytesIO(files["groups.parquet"])),
                examples=pd.read_parquet(io.BytesIO(files["examples.parquet"])),
                per_example=per_example,
                losses=_optional(files, "losses.parquet"),
                tracked=_optional(files, "tracked.parquet"),
                tracked_groups=_optional(files, "tracked_groups.parquet"),
                valley=_optional(files, "valley.parquet"),
                valley_iterates=_optional(files, "valley_iterates.parquet"),
            )
        except (ValueError, OSError, KeyError, EOFError) as error:
            raise ResultError(f"result is corrupt: {error}") from error

    def to_zip(self) -> bytes:
        """The result folder as one zip (how the store keeps it, and what a user downloads)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, data in self.to_files().items():
                archive.writestr(name, data)
        return buffer.getvalue()

    @classmethod
    def from_zip(cls, blob: bytes) -> Result:
        try:
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                files = {name: archive.read(name) for name in archive.namelist() if name in READ}
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise ResultError(f"result is corrupt: {error}") from error
        return cls.from_files(files)

    def save(self, folder) -> pathlib.Path:
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.to_files().items():
            (folder / name).write_bytes(data)
        return folder

    @classmethod
    def load(cls, folder) -> Result:
        folder = pathlib.Path(folder)
        if not folder.is_dir():
            raise ResultError(f"no result folder at {folder}")
        return cls.from_files({p.name: p.read_bytes() for p in folder.iterdir() if p.name in READ})


def _optional(files: dict[str, bytes], name: str) -> pd.DataFrame:
    if name not in files:
        return pd.DataFrame(columns=OPTIONAL_TABLES[name])
    return pd.read_parquet(io.BytesIO(files[name]))


def _parquet(df: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def delta_loss(
    result: Result, column: str = "loss_avg2", every_step: bool = False, branch: str = "exit"
) -> pd.DataFrame:
    """Δℓ_k = ℓ_k(exit) − ℓ_k(EoS) at equal effective time, per group and exit logged step (with
    `every_step`, at every exit step the per-step losses hold). With `branch` a reference flow
    (e.g. "gradient_flow", logged on the exit branch's grid): ℓ_k(flow) − ℓ_k(EoS) the same way.

    Exit step s (rate c·η from t*) and baseline step t* + c·(s − t*) have the same effective time;
    where that is an integer the baseline's value at that very step is used, otherwise the two
    adjacent steps are interpolated. This needs the baseline at every step (`result.losses`):
    a logged grid would interpolate across an EoS curve whose ℓ̄_k swings between logged steps.
    Results stored before per-step losses existed fall back to the logged steps. Positive means
    the EoS branch is ahead. Uses the two-step (cycle) averages by default (App. F, A5).
    """
    columns = ["step", "t_eff", "group", "delta_loss"]
    t_star = result.meta.get("t_star")
    if t_star is None:
        return pd.DataFrame(columns=columns)
    per_step = result.losses if len(result.losses) else result.groups
    source = per_step if every_step else result.groups
    exit_steps = set(source.step[source.branch == branch])  # the logged grid, or every step
    c = result.meta["config"]["c"]
    frames = []
    for group in GROUPS:
        mine = per_step[per_step.group == group]
        base = mine[mine.branch == "baseline"].dropna(subset=[column]).sort_values("step")
        exit_ = mine[(mine.branch == branch) & mine.step.isin(exit_steps)].sort_values("step")
        if exit_.empty or base.empty:  # e.g. a baseline that diverged right after the fork
            continue
        target = t_star + c * (exit_.step.to_numpy() - t_star)
        target = np.where(np.abs(target - np.round(target)) < 1e-9, np.round(target), target)
        at_equal_time = np.interp(target, base.step, base[column])  # exact at a sample: slope × 0
        frames.append(
            pd.DataFrame(
                {
                    "step": exit_.step.values,
                    "t_eff": exit_.t_eff.values,
                    "group": group,
                    "delta_loss": exit_[column].values - at_equal_time,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


PREDICTIONS = ("central_flow",)  # flows that predict the EoS branch itself (analysis.central compares them)


def reference_branches(result: Result) -> list[str]:
    """The reference flows' branches this result holds (e.g. gradient_flow), in stored order: every
    branch beyond the baseline and the exit branch that is set against the EoS branch as another
    path (not a prediction of it). Older results have none."""
    if not len(result.trace):
        return []
    return [b for b in pd.unique(result.trace.branch) if b not in BRANCHES + PREDICTIONS]


def branch_deltas(result: Result, column: str = "loss_avg2") -> pd.DataFrame:
    """`delta_loss` of the exit branch and of every reference flow, one table with a branch column."""
    frames = [delta_loss(result, column, branch=b).assign(branch=b) for b in ("exit", *reference_branches(result))]
    return pd.concat(frames, ignore_index=True)


def window_delta_loss(result: Result) -> pd.Series:
    """Median Δℓ_k per group between the fork and t** (or the end): the clean comparison, before
    the exit branch reaches its own stability threshold."""
    d = delta_loss(result)
    if d.empty:
        return pd.Series(dtype=float)
    end = result.meta.get("t_star_star") or d.step.max()
    return d[(d.step > result.meta["t_star"]) & (d.step <= end)].groupby("group").delta_loss.median()


def summary(result: Result) -> dict:
    """The headline numbers of a run: onset, t**, the baseline's λ1 as a fraction of its own
    optimiser's threshold (2/η, or (2+2β)/η under momentum), median Δℓ_k from t* to t**."""
    meta, trace = result.meta, result.trace
    base = trace[trace.branch == "baseline"]
    post = base[base.step >= meta["t_star"]] if meta.get("t_star") is not None else base.iloc[:0]
    threshold = branch_thresholds(meta["config"])["baseline"]
    return {
        "status": meta["status"],
        "t_star": meta.get("t_star"),
        "t_star_star": meta.get("t_star_star"),
        "threshold_symbol": threshold.symbol,
        "final_lambda1_over_threshold": float(base.lambda1.iloc[-1] / threshold.value) if len(base) else None,
        "median_lambda1_over_threshold_after_onset": float(post.lambda1.median() / threshold.value)
        if len(post)
        else None,
        "window_delta_loss": {g: float(v) for g, v in window_delta_loss(result).items()},
    }

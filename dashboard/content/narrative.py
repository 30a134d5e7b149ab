"""Plain sentences that read a run's own numbers: what each page of the dashboard is showing,
for the "What am I looking at?" expanders and the Story page.

Every function takes results (finished, or a running job's partial result) and returns a list
of sentences; nothing here draws or imports Streamlit. Torch-free.
"""

from __future__ import annotations

import pandas as pd

from eos_core.analysis.claims import _mixed_signs
from eos_core.analysis.results import Result
from eos_core.analysis.valley import HOW_TO_GET, has_valley, valley_at, valley_steps
from eos_core.config import RunConfig, branch_thresholds, stability_threshold
from eos_core.groups import GROUPS, LABELS
from eos_core.runs.queue import JobState


def _cfg(result: Result) -> RunConfig:
    return RunConfig.from_dict(result.meta["config"])


def _symbol(cfg: RunConfig, exit_branch: bool = False) -> str:
    return branch_thresholds(cfg)["exit" if exit_branch else "baseline"].symbol


def _branch(result: Result, name: str) -> pd.DataFrame:
    t = result.trace
    if t.empty or "branch" not in t:
        return t
    return t[t.branch == name].sort_values("step")


def number(value: float) -> str:
    return f"{value:.3g}"


def _signed(value: float) -> str:
    return f"{value:+.3g}".replace("-", "−")


def _steps_phrase(first: int, last: int) -> str:
    return f"step {first}" if first == last else f"steps {first}–{last}"


# -- sharpness ---------------------------------------------------------------------------------


def sharpness(result: Result) -> list[str]:
    """Sharpening, the onset t*, the EoS plateau and the exit branch's climb to t**."""
    cfg, base = _cfg(result), _branch(result, "baseline")
    if base.empty:
        return ["No logged step yet: the run is preparing its data and prototypes."]
    threshold = stability_threshold(cfg, cfg.lr)[0]
    f, symbol = cfg.onset_fraction, _symbol(cfg)
    first, last = base.iloc[0], base.iloc[-1]
    t_star = result.meta.get("t_star")
    if t_star is None:
        finished = result.meta.get("status") not in JobState.ACTIVE
        peak = base.lambda1.max()
        return [
            f"λ1 has grown from {number(first.lambda1)} at step {int(first.step)} to {number(last.lambda1)} at "
            f"step {int(last.step)}, {peak / threshold:.2f} of {symbol} = {number(threshold)} at its peak.",
            (
                f"It never reached the onset level {f:g}·{symbol} = {number(f * threshold)}, so the run did not "
                f"fork (no t*)."
                if finished
                else f"The run forks when λ1 reaches {f:g}·{symbol} = {number(f * threshold)} (t*)."
            ),
        ]
    sentences = [
        f"λ1 rose from {number(first.lambda1)} at step {int(first.step)} and crossed {f:g}·{symbol} = "
        f"{number(f * threshold)} at step {t_star}: the EoS onset t*, where the run forks."
    ]
    after = base[base.step > t_star]
    if len(after):
        ratio = after.lambda1 / threshold
        sentences.append(
            f"Since then the EoS branch's λ1 has stayed between {ratio.min():.2f} and "
            f"{ratio.max():.2f} of {symbol} (median {ratio.median():.2f}) over "
            f"{_steps_phrase(int(after.step.iloc[0]), int(after.step.iloc[-1]))}, while its "
            f"loss went from {number(base[base.step == t_star].loss.iloc[0])} to {number(after.loss.iloc[-1])}."
        )
    exit_ = _branch(result, "exit")
    exit_after = exit_[exit_.step > t_star] if len(exit_) else exit_
    if len(exit_after):
        exit_threshold = stability_threshold(cfg, cfg.c * cfg.lr)[0]
        exit_symbol = _symbol(cfg, exit_branch=True)
        t_ss = result.meta.get("t_star_star")
        climb = (
            f"The exit branch, at c·η = {number(cfg.c * cfg.lr)}, has the higher threshold {exit_symbol} = "
            f"{number(exit_threshold)}; its λ1 went from {number(exit_.lambda1.iloc[0])} to "
            f"{number(exit_.lambda1.iloc[-1])}"
        )
        if t_ss is not None:
            climb += f" and reached {f:g}·{exit_symbol} at step {t_ss} (t**, {t_ss - t_star} steps after the fork)."
        else:
            climb += (
                f" and has not reached {f:g}·{exit_symbol} = {number(f * exit_threshold)} by step "
                f"{int(exit_.step.iloc[-1])} (no t** yet)."
            )
        sentences.append(climb)
    return sentences


# -- group losses and Δℓ_k ---------------------------------------------------------------------


def _window(result: Result) -> str:
    t_star, t_ss = result.meta["t_star"], result.meta.get("t_star_star")
    exit_ = _branch(result, "exit")
    end = t_ss if t_ss is not None else int(exit_.step.max())
    return f"from t* (step {t_star}) to {'t** (step ' + str(t_ss) + ')' if t_ss is not None else 'step ' + str(end)}"


def tradeoff(result: Result) -> dict:
    """The window Δℓ_k per group (equal effective time, t* to t**), which groups EoS is ahead or
    behind on beyond the noise scale, and whether the signs are mixed (a selective trade-off)."""
    mixed, deltas, scale = _mixed_signs(result)
    deltas = deltas.dropna()
    return {
        "delta": deltas,
        "scale": scale,
        "mixed": mixed,
        "ahead": [g for g in GROUPS if deltas.get(g, 0) > scale],
        "behind": [g for g in GROUPS if deltas.get(g, 0) < -scale],
    }


def _listing(groups: list[str], deltas: pd.Series) -> str:
    parts = [f"{LABELS[g]} ({_signed(deltas[g])})" for g in groups]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def groups(result: Result) -> list[str]:
    """The window Δℓ_k and whether the signs differ across groups."""
    if result.meta.get("t_star") is None or _branch(result, "exit").empty:
        return [
            "Both branches are needed for Δℓ_k: the exit branch starts at the fork t*, which this run "
            "has not reached yet."
            if result.meta.get("status") in JobState.ACTIVE
            else "This run never forked (no t*), so there is no exit branch and no Δℓ_k to compare."
        ]
    t = tradeoff(result)
    if t["delta"].empty:
        return ["The exit branch has no two-step-averaged losses yet."]
    where = _window(result)
    parts = []
    if t["ahead"]:
        parts.append(f"ahead on {_listing(t['ahead'], t['delta'])}")
    if t["behind"]:
        parts.append(f"behind on {_listing(t['behind'], t['delta'])}")
    level = "; ".join(parts) if parts else f"level with the exit branch on every group (|Δℓ_k| ≤ {t['scale']:.2g})"
    first = f"At equal effective time, {where}, the EoS branch is {level} (median Δℓ_k)."
    if t["mixed"]:
        second = (
            "Opposite signs: a selective trade-off — EoS helps some groups at the others' expense (the paper's Fig. 4)."
        )
    else:
        second = (
            "All one sign: no selective trade-off in this run — EoS is "
            f"{'ahead on' if t['ahead'] else 'behind on' if t['behind'] else 'level with'} every group it moves."
        )
    return [first, second]


# -- alignment ---------------------------------------------------------------------------------


def _at(result: Result, branch: str, step: int, column: str) -> pd.Series:
    g = result.groups
    return g[(g.branch == branch) & (g.step == step)].set_index("group")[column]


def alignment(result: Result) -> list[str]:
    g = result.groups
    if g.empty:
        return ["No logged step yet."]
    t_star = result.meta.get("t_star")
    step = t_star if t_star is not None else int(g[g.branch == "baseline"].step.max())
    cos2 = _at(result, "baseline", step, "cos2").dropna()
    if cos2.empty:
        return ["No alignment logged yet."]
    top, low = cos2.idxmax(), cos2.idxmin()
    when = f"At the fork (step {step})" if t_star is not None else f"At step {step} (before any fork)"
    sentences = [
        f"{when} the {LABELS[top]}' gradient points most along v1: cos²θ = {cos2[top]:.2f}, against "
        f"{cos2[low]:.2f} for {LABELS[low]}."
    ]
    since = g[(g.branch == "baseline") & (g.step >= (t_star or 0))]
    influence = since.groupby("group").curvature_influence.median().dropna()
    if len(influence) > 1 and influence.min() > 0:
        strongest = influence.idxmax()
        sentences.append(
            f"{'From t* on' if t_star is not None else 'So far'}, the {LABELS[strongest]} have the "
            f"largest curvature influence (∇ℓ_k·v1)² on the EoS branch (median {number(influence.max())}, "
            f"{influence.max() / influence.min():.0f}× the smallest): they push hardest along the "
            f"unstable direction."
        )
    return sentences


# -- natural outliers --------------------------------------------------------------------------


def outliers(result: Result) -> list[str]:
    base = _branch(result, "baseline")
    if base.empty or "spearman_rho" not in base or base.spearman_rho.dropna().empty:
        return ["No Spearman ρ logged yet."]
    t_star = result.meta.get("t_star")
    if t_star is None:
        return [
            f"Over the {len(base)} logged steps so far, ρ(centroid distance, cos²) has median "
            f"{_signed(base.spearman_rho.median())}; the run has not reached EoS yet."
        ]
    before, after = base[base.step < t_star].spearman_rho.dropna(), base[base.step >= t_star].spearman_rho.dropna()
    sentences = []
    if len(before) and len(after):
        change = "rises" if after.median() > before.median() else "does not rise"
        sentences.append(
            f"Before t* the rank correlation ρ between an example's distance from its class centre "
            f"and its alignment with v1 has median {_signed(before.median())}; from t* on "
            f"{_signed(after.median())} — it {change} at EoS."
        )
    sentences.append(
        "The paper finds ρ ≈ −0.1 during sharpening and ≈ +0.4 at EoS: at the edge of stability "
        "the atypical examples are the ones that align with the unstable direction."
    )
    return sentences


# -- prototypes --------------------------------------------------------------------------------


def prototypes(result: Result) -> list[str]:
    ex = result.examples
    tracked = ex[ex.group.isin(GROUPS)]
    if tracked.empty:
        return ["This run has no tracked prototypes."]
    distance = tracked.groupby("group").centroid_distance.median()
    far, near = distance.idxmax(), distance.idxmin()
    cfg = _cfg(result)
    return [
        f"The {LABELS[far]} lie farthest from their class centre (median distance {number(distance[far])}), "
        f"{distance[far] / distance[near]:.1f}× the {LABELS[near]}' {number(distance[near])}.",
        f"Input-outliers were moved by α = {cfg.alpha:g} ({cfg.displacement}) and lie at median "
        f"{number(distance.get('input_outlier', float('nan')))}; output-outliers keep their inputs, only their labels "
        f"are flipped (median {number(distance.get('output_outlier', float('nan')))}).",
    ]


# -- several runs ------------------------------------------------------------------------------


def compare(a: Result, b: Result, names: tuple[str, str] = ("A", "B")) -> list[str]:
    sentences = []
    for name, r in zip(names, (a, b)):
        t_star, t_ss = r.meta.get("t_star"), r.meta.get("t_star_star")
        onset = f"t* = {t_star}" if t_star is not None else "no fork"
        onset += f", t** = {t_ss}" if t_ss is not None else (", no t**" if t_star is not None else "")
        line = f"{name}: {onset}"
        if t_star is not None and not _branch(r, "exit").empty:
            t = tradeoff(r)
            if not t["delta"].empty:
                line += (
                    f"; median Δℓ_k {_window(r)}: "
                    + ", ".join(f"{LABELS[g]} {_signed(v)}" for g, v in t["delta"].items())
                    + (" — a trade-off" if t["mixed"] else " — no trade-off")
                )
        sentences.append(line + ".")
    return sentences


def report(verdicts) -> list[str]:
    counts = {}
    for v in verdicts:
        counts.setdefault(v.verdict, []).append(v.claim)
    parts = [f"{len(claims)} {verdict} ({', '.join(claims)})" for verdict, claims in counts.items()]
    return [
        f"Of the paper's {len(verdicts)} claims checked here: {'; '.join(parts)}.",
        "An untested claim needs a kind of run that is not selected; its evidence column names the preset "
        "that would test it.",
    ]


def runs(jobs: list[dict], metas: list[dict]) -> list[str]:
    states = {}
    for j in jobs:
        states[j["state"]] = states.get(j["state"], 0) + 1
    forked = sum(m.get("t_star") is not None for m in metas)
    jobs_part = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no jobs"
    return [
        f"{len(metas)} results are stored ({forked} forked at t*); jobs: {jobs_part}.",
        "A result is keyed by its configuration: running the same settings again returns the stored one.",
    ]


def live(result: Result) -> list[str]:
    """A running job: where the sharpness is, so far."""
    return sharpness(result)


def flow_notes(metas: list[dict]) -> list[str]:
    """One sentence per reference flow a run integrated: how, its estimated error, and whether it
    reached the end (from meta["flows"]; runs without flows give none)."""
    notes = []
    for meta in metas:
        for branch, info in meta.get("flows", {}).items():
            end = "reached its end time" if info["status"] == "done" else info["message"]
            error = ""
            if "error_estimate" in info:  # an integrator with an error estimate (the gradient flow)
                error = (
                    f", rtol {info['rtol']:g}; estimated error in θ {number(info['error_estimate'])}, "
                    f"{info['substeps'][0]}–{info['substeps'][1]} substeps per exit step"
                )
            notes.append(f"{branch.replace('_', ' ')}: {info['integrator']}{error}; {end}.")
    return notes


# -- valley ------------------------------------------------------------------------------------


def valley(result: Result) -> list[str]:
    """How the valley along v1 changes over the checkpoints: its curvature against each branch's
    threshold, first and last, on both branches."""
    if not has_valley(result):
        return [f"This run stored no valley slices; {HOW_TO_GET}."]
    sentences = [
        "Each curve is the full-batch loss along the top Hessian eigenvector v1 through the current "
        "weights (a star). The dashed parabola has the curvature of the branch's stability threshold: "
        "a valley as sharp as it is the most gradient descent at that rate can sit in. White circles are "
        "the last four iterates, where they land along v1."
    ]
    for branch in ("baseline", "exit"):
        steps = valley_steps(result, branch)
        if not steps:
            continue
        first, last = valley_at(result, branch, steps[0]), valley_at(result, branch, steps[-1])
        symbol = first.threshold.symbol
        sentences.append(
            f"{'EoS' if branch == 'baseline' else 'Exit'} branch: the valley's curvature is "
            f"{first.curvature / first.threshold.value:.2f} × {symbol} at step {first.step} and "
            f"{last.curvature / last.threshold.value:.2f} × {symbol} at step {last.step} "
            f"({len(steps)} checkpoints)."
        )
    return sentences

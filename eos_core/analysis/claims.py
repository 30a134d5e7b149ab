"""The reproduction report: which of the paper's claims do the given runs support, and by how much.

Each check returns a verdict — supported, not supported, or untested (naming the preset that
would test it) — with the numbers behind it and the runs it used. Thresholds are stated in each
verdict so a reader can disagree with them. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eos_core.analysis.mechanism import group_evidence, influence_ratios, single_mode_fit
from eos_core.analysis.results import BRANCHES, Result, window_delta_loss
from eos_core.analysis.tradeoff import describe, tradeoff
from eos_core.groups import GROUPS

SUPPORTED, REFUTED, UNTESTED = "supported", "not supported", "untested"


@dataclass
class Verdict:
    claim: str
    text: str
    verdict: str
    evidence: str
    runs: list = field(default_factory=list)
    why: str = ""  # where a claim fails: what the judged run shows instead (see explain)


def _cfg(r: Result) -> dict:
    return r.meta["config"]


def _forked(runs, **want) -> list[Result]:
    return [r for r in runs if r.meta.get("t_star") is not None and all(_cfg(r).get(k) == v for k, v in want.items())]


def _main_run(runs) -> Result | None:
    """The forked run to judge a single-run claim on: the paper's main setting (coherent
    displacement, MSE) first, so a verdict does not depend on the order the runs were given in."""
    ranked = sorted(_forked(runs), key=lambda r: (_cfg(r)["loss"], _cfg(r)["displacement"]) != ("mse", "coherent"))
    return ranked[0] if ranked else None


def _series(r: Result, branch: str, group: str, column: str) -> pd.Series:
    g = r.groups
    return g[(g.branch == branch) & (g.group == group)].set_index("step")[column]


def _fmt(values: dict) -> str:
    return ", ".join(f"{k} {v:+.3g}" for k, v in values.items())


def _twins(runs, r: Result, **change) -> list[Result]:
    """The runs whose configuration is r's with `change` applied."""
    return [other for other in runs if is_twin(_cfg(r), _cfg(other), **change)]


def is_twin(config: dict, other: dict, **change) -> bool:
    """Whether `other` is `config` with `change` applied (e.g. displacement="random")."""
    return other == {**config, **change}


def _mixed_signs(r: Result) -> tuple[bool, pd.Series, float]:
    """Whether r's window Δℓ_k has both signs beyond ±scale (1e-3 of the median group loss)."""
    d = window_delta_loss(r)
    own = r.groups[r.groups.branch.isin(BRANCHES)]  # the experiment's branches, not a reference flow's
    scale = 1e-3 * float(own.loss_avg2.abs().median())
    return bool((d > scale).any() and (d < -scale).any()), d, scale


def _seeds_of(runs, r: Result) -> list[Result]:
    """r and every run that differs from it only in the seed."""
    mine = {k: v for k, v in _cfg(r).items() if k != "seed"}
    return [x for x in runs if {k: v for k, v in _cfg(x).items() if k != "seed"} == mine]


def c1(runs) -> Verdict:
    """Judged on the t*→t** median and on the time-resolved curves: a trade-off that lives in a
    window after t* and closes by the end counts, and the verdict says it was transient."""
    text = "Δℓ_k has mixed signs across groups after t*"
    candidates = _forked(runs, loss="mse", displacement="coherent")
    if not candidates:
        return Verdict("C1", text, UNTESTED, "needs a coherent MSE run that forked (preset paper-mlp-mse)")
    r = candidates[0]
    mixed, d, scale = _mixed_signs(r)
    over_time = tradeoff(_seeds_of(runs, r))
    transient = over_time.window is not None and over_time.window.size > scale
    evidence = (
        f"median Δℓ_k from t* to t**: {_fmt(d.to_dict())} (signs count beyond ±{scale:.2g}); "
        f"over time: {describe(over_time)}"
    )
    used = [x.meta["config_hash"] for x in _seeds_of(runs, r)]
    controls = [t for t in _twins(runs, r, displacement="random") if t.meta.get("t_star") is not None]
    if controls:  # the paper's control: with random displacement the trade-off should weaken or vanish
        control_mixed, control_d, _ = _mixed_signs(controls[0])
        evidence += (
            f"; its random-displacement control: {_fmt(control_d.to_dict())} — "
            f"{'still mixed' if control_mixed else 'no trade-off'}"
        )
        used.append(controls[0].meta["config_hash"])
    if transient and not mixed:
        evidence += "; the trade-off is transient: it lives in the window above and is gone from the t*→t** median"
    return Verdict("C1", text, SUPPORTED if mixed or transient else REFUTED, evidence, used)


def c2(runs) -> Verdict:
    text = "input-outlier cos² rises towards 1 before t*, falls under EoS, stays high on the exit branch until t**"
    candidates = [r for r in _forked(runs, loss="mse", displacement="coherent") if r.meta.get("t_star_star")]
    if not candidates:
        return Verdict("C2", text, UNTESTED, "needs a coherent MSE run with t** (preset paper-mlp-mse)")
    r = candidates[0]
    t_star, t_ss = r.meta["t_star"], r.meta["t_star_star"]
    base, exit_ = _series(r, "baseline", "input_outlier", "cos2"), _series(r, "exit", "input_outlier", "cos2")
    start, onset, eos, held = base.iloc[0], base[t_star], base[t_ss], exit_[t_ss]
    ok = onset > start and onset >= 0.5 and eos < onset and held > eos
    return Verdict(
        "C2",
        text,
        SUPPORTED if ok else REFUTED,
        f"cos² at step 0 {start:.3f}, at t* {onset:.3f} (needs ≥ 0.5 and a rise); at t**: "
        f"EoS {eos:.3f}, exit {held:.3f}",
        [r.meta["config_hash"]],
    )


def c3(runs) -> Verdict:
    text = "random displacement cuts input-outliers' curvature influence by ≥ 10× against coherent"
    pairs = [
        (coherent, twin)
        for coherent in _forked(runs, displacement="coherent")
        for twin in _twins(runs, coherent, displacement="random")
        if twin.meta.get("t_star") is not None
    ]
    if not pairs:
        return Verdict(
            "C3",
            text,
            UNTESTED,
            "needs a coherent run and its random twin, both forked (presets paper-mlp-mse + paper-random)",
        )
    coherent, random = pairs[0]
    ratio = influence_ratios(coherent, random)
    (a, b), before = ratio["eos_values"], ratio["before"]
    evidence = (
        f"median input-outlier (∇ℓ·v1)² on the EoS branch from t*: coherent {a:.3g}, random {b:.3g} — "
        f"{ratio['eos']:.2f}× (before t*: {before:.2f}×); {subspace_note(random)}"
    )
    return Verdict(
        "C3",
        text,
        SUPPORTED if ratio["eos"] >= 10 else REFUTED,
        evidence,
        [coherent.meta["config_hash"], random.meta["config_hash"]],
    )


def subspace_note(r: Result) -> str:
    """Why the random control can or cannot decouple from v1 on this data: a random direction's
    energy inside the training inputs' principal subspace (App. D; see prototypes)."""
    g = r.meta.get("input_geometry")
    if not g:
        return "subspace energy not recorded (a result from before it was; rerun to see it)"
    return (
        f"a random direction orthogonal to v_diff keeps {100 * g['random_direction_energy']:.1f} % of its "
        f"energy in the training inputs' {100 * g['variance']:g} %-variance subspace (rank {g['rank']} of "
        f"{g['dim']}; this run's displacements {100 * g['displacement_energy']:.1f} %, v_diff "
        f"{100 * g['v_diff_energy']:.1f} %) — the control can only decouple from v1 where this is small"
    )


def c4(runs) -> Verdict:
    text = "under CE the largest curvature influence and the EoS advantage move to output-outliers"
    candidates = _forked(runs, loss="ce")
    if not candidates:
        return Verdict("C4", text, UNTESTED, "needs a cross-entropy run that forked (preset paper-ce)")
    r = candidates[0]
    g = r.groups[(r.groups.branch == "baseline") & (r.groups.step >= r.meta["t_star"])]
    top_influence = g.groupby("group").curvature_influence.median().idxmax()
    d = window_delta_loss(r)
    top_advantage = d.idxmax()
    ok = top_influence == "output_outlier" and top_advantage == "output_outlier"
    return Verdict(
        "C4",
        text,
        SUPPORTED if ok else REFUTED,
        f"largest curvature influence after t*: {top_influence}; largest Δℓ_k: {top_advantage} ({_fmt(d.to_dict())})",
        [r.meta["config_hash"]],
    )


def c5(runs) -> Verdict:
    text = "Spearman ρ(centroid distance, cos²) ≈ −0.1 before onset and ≈ +0.4 at EoS"
    r = _main_run(runs)
    if r is None:
        return Verdict("C5", text, UNTESTED, "needs a run that forked (preset paper-mlp-mse)")
    base = r.trace[r.trace.branch == "baseline"]
    before = float(base[base.step < r.meta["t_star"]].spearman_rho.median())
    at_eos = float(base[base.step >= r.meta["t_star"]].spearman_rho.median())
    ok = before < 0.1 and at_eos > 0.25 and at_eos - before > 0.2
    return Verdict(
        "C5",
        text,
        SUPPORTED if ok else REFUTED,
        f"median ρ before t* {before:+.3f} (needs < 0.1), from t* {at_eos:+.3f} (needs > 0.25 and a rise > 0.2)",
        [r.meta["config_hash"]],
    )


def _farthest_and_beneficiary(r: Result) -> tuple[str, str]:
    """The group with the largest median centroid distance, and the group EoS helps most — "none"
    when EoS is behind for every group (Δℓ_k ≤ 0 everywhere)."""
    tracked = r.examples[r.examples.group.isin(GROUPS)]
    deltas = window_delta_loss(r)
    return (
        tracked.groupby("group").centroid_distance.median().idxmax(),
        deltas.idxmax() if deltas.max() > 0 else "none",
    )


def c6(runs) -> Verdict:
    text = "the group farthest from its centroid (median) is the EoS beneficiary, and changing α moves it"
    candidates = _forked(runs, loss="mse", displacement="coherent")
    if not candidates:
        return Verdict("C6", text, UNTESTED, "needs MSE runs that forked (presets paper-catdog-a3, paper-catdog-a10)")
    found = {r.meta["config_hash"]: _farthest_and_beneficiary(r) for r in candidates}
    matches = all(far == gain for far, gain in found.values())
    evidence = "; ".join(f"{h[:8]}: farthest {far}, beneficiary {gain}" for h, (far, gain) in found.items())
    moved = None
    for a in candidates:
        for b in candidates:
            if _cfg(a)["alpha"] < _cfg(b)["alpha"] and {**_cfg(a), "alpha": 0} == {**_cfg(b), "alpha": 0}:
                fa, fb = found[a.meta["config_hash"]], found[b.meta["config_hash"]]
                moved = fa[0] != fb[0] and fa[1] != fb[1]
    if moved is None:
        verdict = UNTESTED if matches else REFUTED
        evidence += "; the α part needs two runs differing only in α (presets paper-catdog-a3 + paper-catdog-a10)"
    else:
        verdict = SUPPORTED if matches and moved else REFUTED
        evidence += f"; changing α {'moved' if moved else 'did not move'} both"
    return Verdict("C6", text, verdict, evidence, list(found))


def c7(runs) -> Verdict:
    text = "Q_k² ∝ C_k (the single-mode proxy)"
    r = _main_run(runs)
    if r is None:
        return Verdict("C7", text, UNTESTED, "needs a run that forked (preset paper-mlp-mse)")
    fit = single_mode_fit(r, eos_only=True)
    ok = fit["r"] >= 0.9 and 0.8 <= fit["slope"] <= 1.2
    return Verdict(
        "C7",
        text,
        SUPPORTED if ok else REFUTED,
        f"log Q² vs log C over {fit['points']} group-steps of the EoS branch from t*: slope "
        f"{fit['slope']:.3f} (needs 0.8–1.2), r = {fit['r']:.3f} (needs ≥ 0.9)",
        [r.meta["config_hash"]],
    )


def _pgd_advantage(r: Result) -> float:
    """Median PGD accuracy of the EoS branch minus the exit branch's, at equal effective time,
    between the fork and t** (or the end)."""
    t = r.trace
    base = t[t.branch == "baseline"].sort_values("t_eff")
    exit_ = t[(t.branch == "exit") & (t.step > r.meta["t_star"])]
    if r.meta.get("t_star_star"):
        exit_ = exit_[exit_.step <= r.meta["t_star_star"]]
    return float(np.median(np.interp(exit_.t_eff, base.t_eff, base.pgd_accuracy) - exit_.pgd_accuracy))


def c8(runs) -> Verdict:
    text = "EoS helps PGD accuracy on boundary points only when boundary points dominate v1"
    candidates = [r for r in _forked(runs) if "pgd_accuracy" in r.trace.columns]
    if not candidates:
        return Verdict(
            "C8", text, UNTESTED, "needs forked runs with the PGD probe (presets paper-mlp-mse, paper-catdog-a3)"
        )
    found = {}
    for r in candidates:
        g = r.groups[(r.groups.branch == "baseline") & (r.groups.step >= r.meta["t_star"])]
        found[r.meta["config_hash"]] = (g.groupby("group").cos2.median().idxmax() == "boundary", _pgd_advantage(r))
    consistent = all((advantage > 0) == dominates for dominates, advantage in found.values())
    both = len({dominates for dominates, _ in found.values()}) == 2
    evidence = "; ".join(
        f"{h[:8]}: boundary {'dominates' if d else 'does not dominate'} v1, EoS − exit PGD accuracy {a:+.3f}"
        for h, (d, a) in found.items()
    )
    if not both:
        evidence += (
            "; both cases (boundary dominant or not) are needed for 'only when' (paper-mlp-mse + paper-catdog-a3)"
        )
    return Verdict(
        "C8", text, SUPPORTED if consistent and both else (UNTESTED if consistent else REFUTED), evidence, list(found)
    )


CHECKS = (c1, c2, c3, c4, c5, c6, c7, c8)
EXPLAINED = {"C1", "C2", "C4", "C6"}  # claims about which group EoS favours or aligns


def explain(r: Result) -> str:
    """Which group dominates v1 before and after t*, and how the oscillation's loss spikes split."""
    e = group_evidence(r)
    if "cos2_eos" not in e:
        return ""
    top = {
        c: e[c].idxmax() for c in ("cos2_before", "cos2_eos", "influence_before", "influence_eos") if e[c].notna().any()
    }
    shares = ", ".join(f"{g} {100 * v:.0f} %" for g, v in e.oscillation_share.items() if pd.notna(v))
    return (
        f"run {r.meta['config_hash'][:8]}: largest cos²θ_k before t* {top.get('cos2_before')}, from t* "
        f"{top.get('cos2_eos')}; largest (∇ℓ_k·v1)² before t* {top.get('influence_before')} "
        f"({100 * e.influence_share_before.max():.0f} % of the groups' total), from t* "
        f"{top.get('influence_eos')} ({100 * e.influence_share_eos.max():.0f} %); the EoS oscillation's "
        f"loss spikes Σ|ℓ_k − ℓ̄_k| after t*: {shares or 'not recorded'}"
    )


def report(runs: list[Result]) -> list[Verdict]:
    by_hash = {r.meta["config_hash"]: r for r in runs}
    verdicts = [check(runs) for check in CHECKS]
    for v in verdicts:
        if v.verdict == REFUTED and v.claim in EXPLAINED and v.runs:
            v.why = explain(by_hash[v.runs[0]])
    return verdicts


def format_report(verdicts: list[Verdict]) -> str:
    lines = []
    for v in verdicts:
        lines.append(
            f"{v.claim} [{v.verdict}] {v.text}\n     {v.evidence}"
            + (f"\n     why: {v.why}" if v.why else "")
            + (f"\n     runs: {', '.join(v.runs)}" if v.runs else "")
        )
    return "\n".join(lines)

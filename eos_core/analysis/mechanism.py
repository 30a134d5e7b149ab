"""The mechanism of App. F from a run's tables (torch-free).

Proposition 2: for short times after the fork, in baseline time τ = η(t − t*) (both branches at
the same step t), the cycle-averaged branch differential is
    Δ̄ℓ_k(τ) ≈ (1 − c)·R_k·τ   +   (a_S/b_S)·Q_k·τ
              learning-rate      EoS selector
              confounder
with R_k, Q_k, a_S = −⟨∇L, ∇S⟩, b_S = ‖∇S‖² taken at t* (named apart from the displacement α). Fig. 22: under the single-mode approximation Q_k² ∝ C_k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eos_core.analysis.results import BRANCHES, Result
from eos_core.groups import GROUPS


def decomposition(result: Result) -> pd.DataFrame:
    """Per group and exit logged step: the two predicted terms, their sum, and the measured
    two-step-averaged Δ̄ℓ_k at the same step."""
    t_star, cfg = result.meta["t_star"], result.meta["config"]
    columns = ["group", "step", "tau", "confounder", "selector", "predicted", "measured"]
    if t_star is None:
        return pd.DataFrame(columns=columns)
    trace, groups = result.trace, result.groups
    at_fork = trace[(trace.branch == "baseline") & (trace.step == t_star)].iloc[0]
    ratio = at_fork.a_S / at_fork.b_S if at_fork.b_S > 0 else np.nan
    fork_groups = groups[(groups.branch == "baseline") & (groups.step == t_star)].set_index("group")
    two = groups[groups.branch.isin(BRANCHES)]  # a reference flow's rows would drop steps where it stopped
    both = two.pivot_table(index=["group", "step"], columns="branch", values="loss_avg2").dropna().reset_index()
    both = both[both.step >= t_star]
    tau = cfg["lr"] * (both.step - t_star)
    confounder = (1 - cfg["c"]) * both.group.map(fork_groups.R) * tau
    selector = ratio * both.group.map(fork_groups.Q) * tau
    return pd.DataFrame(
        {
            "group": both.group,
            "step": both.step,
            "tau": tau,
            "confounder": confounder,
            "selector": selector,
            "predicted": confounder + selector,
            "measured": both["exit"] - both["baseline"],
        }
    ).reset_index(drop=True)


def single_mode_fit(result: Result, eos_only: bool = False) -> dict:
    """Fit log Q_k² = a + b·log C_k over every group and logged step (both branches, or with
    `eos_only` the EoS branch from t*, where the single-mode approximation is meant to hold):
    b ≈ 1 with a high correlation is the proportionality Q_k² ∝ C_k of Fig. 22."""
    g = result.groups[result.groups.branch.isin(BRANCHES)]  # the experiment's two branches, no reference flow
    if eos_only and result.meta.get("t_star") is not None:
        g = g[(g.branch == "baseline") & (g.step >= result.meta["t_star"])]
    q2, c = g.Q.to_numpy() ** 2, g.curvature_influence.to_numpy()
    keep = (q2 > 0) & (c > 0) & np.isfinite(q2) & np.isfinite(c)
    if keep.sum() < 3:
        return {"slope": np.nan, "r": np.nan, "kappa": np.nan, "points": int(keep.sum())}
    x, y = np.log(c[keep]), np.log(q2[keep])
    slope, _ = np.polyfit(x, y, 1)
    return {
        "slope": float(slope),
        "r": float(np.corrcoef(x, y)[0, 1]),
        "kappa": float(np.exp(np.median(y - x))),
        "points": int(keep.sum()),
    }


def oscillation_shares(result: Result, branch: str = "baseline") -> pd.Series:
    """Each group's share of Σ_t |ℓ_k(t) − ℓ̄_k(t)| from t* on (the exit branch: from t**), at every
    step: how the EoS oscillation's loss spikes split across the groups. |ℓ_k − ℓ̄_k| is half the
    step-to-step swing |ℓ_k(t) − ℓ_k(t+1)|/2 of the period-2 cycle. Results without per-step
    losses use the logged steps."""
    start = result.meta.get("t_star") if branch == "baseline" else result.meta.get("t_star_star")
    table = result.losses if len(result.losses) else result.groups
    if start is None or table.empty:
        return pd.Series(np.nan, index=list(GROUPS))
    rows = table[(table.branch == branch) & (table.step >= start)]
    swing = (rows.loss - rows.loss_avg2).abs().groupby(rows.group).sum().reindex(list(GROUPS))
    return swing / swing.sum() if swing.sum() > 0 else swing * np.nan


def group_evidence(result: Result) -> pd.DataFrame:
    """Per group, on the EoS branch before t* and from t* on: median cos²θ_k, median curvature
    influence (∇ℓ_k·v1)² and its share across groups — which group dominates v1 — and the share
    of the oscillation's loss spikes after t*. The evidence a reader needs when a claim fails."""
    t_star = result.meta.get("t_star")
    g = result.groups[result.groups.branch == "baseline"]
    table = pd.DataFrame(index=pd.Index(list(GROUPS), name="group"))
    phases = {"before": g.step < t_star, "eos": g.step >= t_star} if t_star is not None else {"before": g.step >= 0}
    for phase, mask in phases.items():
        medians = g[mask].groupby("group")[["cos2", "curvature_influence"]].median().reindex(list(GROUPS))
        table[f"cos2_{phase}"] = medians.cos2
        table[f"influence_{phase}"] = medians.curvature_influence
        table[f"influence_share_{phase}"] = medians.curvature_influence / medians.curvature_influence.sum()
    table["oscillation_share"] = oscillation_shares(result)
    return table


def influence_ratios(coherent: Result, random: Result, group: str = "input_outlier") -> dict:
    """Coherent / random median curvature influence of `group` on the EoS branch, before each run's
    own t* and from t* on (C3's statistic, App. D)."""
    medians = [group_evidence(r).loc[group] for r in (coherent, random)]
    ratio = {}
    for phase in ("before", "eos"):
        a, b = (m.get(f"influence_{phase}", np.nan) for m in medians)
        ratio[phase] = a / b if b > 0 else (np.inf if a > 0 else np.nan)
        ratio[f"{phase}_values"] = (a, b)
    return ratio

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

from .results import Result


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
    both = groups.pivot_table(index=["group", "step"], columns="branch", values="loss_avg2").dropna().reset_index()
    both = both[both.step >= t_star]
    tau = cfg["lr"] * (both.step - t_star)
    confounder = (1 - cfg["c"]) * both.group.map(fork_groups.R) * tau
    selector = ratio * both.group.map(fork_groups.Q) * tau
    return pd.DataFrame({"group": both.group, "step": both.step, "tau": tau, "confounder": confounder,
                         "selector": selector, "predicted": confounder + selector,
                         "measured": both["exit"] - both["baseline"]}).reset_index(drop=True)


def single_mode_fit(result: Result, eos_only: bool = False) -> dict:
    """Fit log Q_k² = a + b·log C_k over every group and logged step (both branches, or with
    `eos_only` the EoS branch from t*, where the single-mode approximation is meant to hold):
    b ≈ 1 with a high correlation is the proportionality Q_k² ∝ C_k of Fig. 22."""
    g = result.groups
    if eos_only and result.meta.get("t_star") is not None:
        g = g[(g.branch == "baseline") & (g.step >= result.meta["t_star"])]
    q2, c = g.Q.to_numpy() ** 2, g.curvature_influence.to_numpy()
    keep = (q2 > 0) & (c > 0) & np.isfinite(q2) & np.isfinite(c)
    if keep.sum() < 3:
        return {"slope": np.nan, "r": np.nan, "kappa": np.nan, "points": int(keep.sum())}
    x, y = np.log(c[keep]), np.log(q2[keep])
    slope, intercept = np.polyfit(x, y, 1)
    return {"slope": float(slope), "r": float(np.corrcoef(x, y)[0, 1]),
            "kappa": float(np.exp(np.median(y - x))), "points": int(keep.sum())}

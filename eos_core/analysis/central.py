"""The central flow's predictions against what the EoS branch measured (torch-free).

The flow's rows sit on the baseline's logged steps with the baseline's effective time, so each
predicted time average ℓ̂_k = ℓ_k(w) + ½σ²·v1ᵀH_k v1 meets the baseline's two-step average ℓ̄_k at
the same step. The EoS phase is [t*, end]: the flow starts at t*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eos_core.analysis.results import PREDICTIONS, Result, delta_loss

FLOW = PREDICTIONS[0]  # the branch science.central_flow writes
COMPARISON_COLUMNS = ["step", "t_eff", "group", "predicted", "measured", "relative_error"]


def has_central_flow(result: Result) -> bool:
    return bool((result.groups.branch == FLOW).any()) if len(result.groups) else False


def flow_status(result: Result) -> dict:
    """How the flow ended: {"status": done | diverged | skipped, "message", "integrator", "wall_time_s", "rows"}, or {}."""
    return result.meta.get("flows", {}).get(FLOW, {})


def central_comparison(result: Result) -> pd.DataFrame:
    """Per group and flow row from t* on: the predicted ℓ̂_k, the measured ℓ̄_k and
    |ℓ̂_k − ℓ̄_k|/|ℓ̄_k|."""
    t_star = result.meta.get("t_star")
    groups = result.groups
    if t_star is None or not has_central_flow(result) or "predicted_loss" not in groups:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    flow = groups[(groups.branch == FLOW) & (groups.step >= t_star)][["step", "t_eff", "group", "predicted_loss"]]
    base = groups[groups.branch == "baseline"][["step", "group", "loss_avg2"]]
    both = flow.merge(base, on=["step", "group"]).dropna(subset=["predicted_loss", "loss_avg2"])
    both = both.rename(columns={"predicted_loss": "predicted", "loss_avg2": "measured"})
    both["relative_error"] = (both.predicted - both.measured).abs() / both.measured.abs()
    return both[COMPARISON_COLUMNS].reset_index(drop=True)


def median_relative_error(result: Result) -> pd.Series:
    """Median over the EoS phase of |ℓ̂_k − ℓ̄_k|/|ℓ̄_k|, per group."""
    table = central_comparison(result)
    return table.groupby("group").relative_error.median() if len(table) else pd.Series(dtype=float)


def predicted_delta(result: Result) -> pd.DataFrame:
    """Δℓ_k at equal effective time with the EoS side predicted instead of measured: the exit branch's
    ℓ̄_k minus ℓ̂_k at the same effective time (linear between the flow's logged rows), beside the
    measured Δℓ_k. Rows outside the flow's span are left out."""
    measured = delta_loss(result)
    table = central_comparison(result)
    if measured.empty or table.empty:
        return pd.DataFrame(columns=["step", "t_eff", "group", "measured", "predicted"])
    exit_ = result.groups[result.groups.branch == "exit"][["step", "group", "loss_avg2"]]
    rows = measured.merge(exit_, on=["step", "group"])
    frames = []
    for group, mine in rows.groupby("group"):
        flow = table[table.group == group].sort_values("t_eff")
        inside = mine[(mine.t_eff >= flow.t_eff.min()) & (mine.t_eff <= flow.t_eff.max())]
        predicted_eos = np.interp(inside.t_eff, flow.t_eff, flow.predicted)
        frames.append(
            pd.DataFrame(
                {
                    "step": inside.step.values,
                    "t_eff": inside.t_eff.values,
                    "group": group,
                    "measured": inside.delta_loss.values,
                    "predicted": inside.loss_avg2.values - predicted_eos,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def summary(result: Result) -> pd.DataFrame:
    """Per group: the median relative error of ℓ̂_k over the EoS phase, the median measured and
    predicted Δℓ_k, and the share of exit steps after t* where their signs agree."""
    error = median_relative_error(result)
    delta = predicted_delta(result)
    delta = delta[delta.step > result.meta.get("t_star", -1)]  # at t* itself both are 0 by construction
    if error.empty:
        return pd.DataFrame(
            columns=["group", "median_relative_error", "delta_measured", "delta_predicted", "sign_agrees"]
        )
    by_group = delta.groupby("group")
    out = pd.DataFrame({"median_relative_error": error})
    if len(delta):
        out["delta_measured"] = by_group.measured.median()
        out["delta_predicted"] = by_group.predicted.median()
        out["sign_agrees"] = by_group.apply(lambda d: float((np.sign(d.measured) == np.sign(d.predicted)).mean()))
    return out.rename_axis("group").reset_index()

import streamlit as st

from dashboard import clock
from dashboard.content import plots, timeline, tradeoff_plots
from dashboard.content.narrative import flow_notes
from dashboard.pages import heading
from dashboard.state import load_result, require_series, selected_results
from dashboard.teach import explain_run
from dashboard.widgets import figure, table_downloads
from eos_core.analysis import central
from eos_core.analysis.tradeoff import describe, tradeoff

st.title(heading("groups"))
s, metas, x, log_y = require_series()
explain_run("groups", metas)
st.caption(
    "Per-group loss ℓ_k for the EoS branch (solid) and the exit branch (dashed), and the intervention "
    "effect **Δℓ_k (equal time)** = ℓ_k(exit) − ℓ_k(EoS) from two-step (cycle) averages, positive when the "
    "EoS branch is ahead (the paper's Fig. 4). *Equal time*: the exit branch at step t is compared with "
    "the EoS branch where it had travelled the same effective time Σ η_s — unlike the Report's "
    "Δℓ_k (same step)."
)
averaged = st.toggle("two-step (cycle) averaged losses", value=st.query_params.get("avg", "1") == "1")
st.query_params["avg"] = "1" if averaged else "0"
column = "loss_avg2" if averaged else "loss"
losses = plots.group_figure(s, column, x, log_y, "Group losses ℓ_k")
shown = load_result(metas[0]["config_hash"])
start = timeline.origin(shown, s.aligned)


def at_time(t: float) -> None:
    clock.line_figure(losses, timeline.lines(shown.trace, t, x, start), "group-losses")
    st.caption(timeline.describe_groups(shown.groups, t, column))


clock.show(timeline.ticks(shown.trace), "groups", at_time)
figure(plots.delta_figure(s, x), "delta-loss")
if (s.delta.branch != "exit").any():
    st.caption(
        "Dotted: the **gradient flow** from t* (a vanishing step) against EoS at the same effective time, "
        "ℓ̄_k(flow) − ℓ̄_k(EoS). Where the exit branch's curve follows the flow's, the exit branch behaves like "
        "the flow and the gap to EoS is what EoS does; where they differ, the finite step c·η matters too."
    )
    for note in flow_notes(metas):
        st.caption(note)
if (s.trace.quantity == "branch_distance").any():
    st.subheader("How far the branches have moved apart")
    st.caption(
        "At equal effective time: the distance between the weights, and the RMS difference of the networks' "
        "outputs over the training set — overall, then per group (inliers, boundary points, outliers)."
    )
    figure(plots.distance_figure(s, x), "branch-distance")
    title = "Output distance to the EoS branch per group, RMS_k ‖f − f_EoS‖"
    figure(plots.group_figure(s, "output_rms", x, log_y, title), "group-output-distance")
if plots.has_central_flow(s):
    st.subheader("Central flow: the EoS branch predicted")
    st.caption(
        "The central flow (Cohen, Damian et al., 2025) integrated from t* predicts each group's time-averaged "
        "loss at EoS, ℓ̂_k = ℓ_k(w) + ½σ²·v1ᵀH_k v1, without running GD at η. Dotted: the prediction; solid: "
        "the EoS branch's measured two-step average ℓ̄_k. The table gives the median relative error over "
        "[t*, end] and the Δℓ_k the prediction implies (exit branch measured, EoS branch predicted)."
    )
    figure(plots.central_flow_figure(s, x, log_y), "central-flow")
    for result in selected_results(metas):
        if central.flow_status(result).get("status") == "diverged":
            st.warning(central.flow_status(result)["message"])
        table = central.summary(result)
        if len(table):
            st.dataframe(table.assign(seed=result.meta["config"]["seed"]), hide_index=True)
st.subheader("Trade-offs over time")
st.caption(
    "Δℓ_k at **every** exit-branch step u after the fork, exact from the per-step losses. A trade-off can "
    "live for a few hundred steps after t* and close before the end, which an end-of-run number hides. "
    "Shaded: the **peak window**, where T(u) = min(largest gain, largest loss) is at least half its "
    "maximum. Turn on *all seeds* in the sidebar for the mean, a ±1 sd band and how many seeds agree."
)
over_time = tradeoff(selected_results(metas))
figure(tradeoff_plots.tradeoff_figure(over_time), "tradeoff-over-time")
st.markdown(describe(over_time).replace("*", "\\*"))
with st.expander("Δℓ_k (equal time) table"):
    table = s.delta[s.delta.quantity == "delta_loss"].drop(columns=["quantity"])
    st.dataframe(table, hide_index=True)
    table_downloads(table, "delta_loss")

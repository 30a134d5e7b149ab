import streamlit as st

from dashboard import links
from dashboard.content import branch_plots
from dashboard.fork import fork_panel
from dashboard.pages import heading
from dashboard.state import default_run, get_queue, label, listed_metas, readable_results, remember_run
from dashboard.teach import explainer
from dashboard.widgets import figure, table_downloads
from eos_core.analysis import lineage

COLUMNS = {
    "branch": "branch",
    "kind": "kind",
    "fork_step": "fork step",
    "fork_t_eff": "t_eff at fork",
    "c": "c",
    "lr": "η",
    "exit_lr": "c·η",
    "loss": "loss",
    "optimizer": "optimiser",
    "status": "status",
    "t_star_star": "t**",
    "id": "id",
}

st.title(heading("branches"))
st.caption(
    "One baseline and every exit branch grown from it — the run's own fork at t* for each stored c, and "
    "forks made elsewhere or with other settings (the Fork panel below, or `eos fork`) — on shared axes "
    "of effective time. Baseline solid, branches dashed in their own colour; diamonds mark fork points."
)
metas = listed_metas()
if not metas:
    st.info("No finished runs yet — start one on the Experiment page.")
    st.stop()
families = lineage.families(metas)
by_hash = {m["config_hash"]: m for m in sorted(metas, key=lambda m: -(m.get("finished_at") or 0))}  # newest first
keys = list(families)
first = {key: members[0]["config_hash"] for key, members in families.items()}  # each family's origin run
wanted = default_run(by_hash)  # any member's link opens its family
chosen = st.selectbox(
    "Baseline",
    keys,
    index=keys.index(lineage.family_key(by_hash[wanted], by_hash)),
    format_func=lambda key: f"{label(by_hash[first[key]])} · {len(families[key])} stored branch(es)",
    help="Runs that share a baseline (they differ only in c) and every fork of them are one family.",
)
st.query_params["run"] = first[chosen]
if chosen != lineage.family_key(by_hash[wanted], by_hash):  # another baseline picked here: the user's choice
    remember_run(first[chosen])
results = readable_results([m["config_hash"] for m in families[chosen]])
if not results:
    st.stop()
origin = results[0].meta["config"]
table = lineage.branch_table([r.meta for r in results], get_queue().jobs())
labels = branch_plots.branch_labels(table, origin)
explainer("branches", branch_plots.describe(table))
trace, groups = lineage.family_curves(results)
figure(branch_plots.sharpness_figure(trace, table, labels, origin), "branches-sharpness")
averaged = st.toggle("two-step (cycle) averaged losses", value=links.flag("avg", True))
st.query_params["avg"] = "1" if averaged else "0"
figure(branch_plots.loss_figure(groups, table, labels, "loss_avg2" if averaged else "loss"), "branches-losses")
st.subheader("Branches")
shown = table.assign(branch=table.id.map(labels))[list(COLUMNS)].rename(columns=COLUMNS)
st.dataframe(shown, hide_index=True, column_config={"branch": st.column_config.TextColumn(width="large")})
table_downloads(table, "branches")
fork_panel(results[0])

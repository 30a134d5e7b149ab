import streamlit as st

from dashboard import links
from dashboard.content import narrative, plots
from dashboard.content.series import series
from dashboard.pages import heading
from dashboard.state import X_AXES, families, label, readable_results
from dashboard.teach import explainer
from dashboard.widgets import figure
from eos_core.groups import GROUPS
from eos_core.quantities import compare_choices

st.title(heading("compare"))
st.caption(
    f"Up to {plots.MAX_COMPARED} runs on the same axes — coherent vs random displacement, MSE vs CE, "
    "two α or two c. Colour = run, dash = branch (EoS solid, exit dashed); each run's t* is dotted."
)
metas = {m["config_hash"]: m for group in families().values() for m in group}
if len(metas) < 2:
    st.info("Compare needs at least two finished runs.")
    st.stop()
hashes = list(metas)
if "runs" in st.query_params or not {"a", "b"} & set(st.query_params):
    default = links.subset("runs", hashes[:2], hashes, plots.MAX_COMPARED)
else:  # links from before Compare took more than two runs: ?a=…&b=…
    default = [links.choice(key, fallback, hashes) for key, fallback in (("a", hashes[0]), ("b", hashes[1]))]
chosen = st.multiselect(
    "Runs",
    hashes,
    default=list(dict.fromkeys(default)),
    max_selections=plots.MAX_COMPARED,
    format_func=lambda h: label(metas[h]),
)
quantities = compare_choices()
left, middle, right = st.columns([3, 2, 2])
quantity = left.radio(
    "quantity",
    list(quantities),
    format_func=quantities.get,
    horizontal=True,
    index=links.position("q", "lambda1", quantities),
)
group = None
if quantity != "lambda1":
    group = middle.selectbox(
        "group",
        GROUPS,
        format_func=plots.GROUP_LABELS.get,
        index=links.position("group", GROUPS[0], GROUPS),
    )
x = right.radio(
    "x-axis",
    list(X_AXES),
    format_func=X_AXES.get,
    horizontal=True,
    index=links.position("x", "step", X_AXES),
)
log_y = st.toggle("log scale (y)", value=links.flag("log", quantity == "curvature_influence"))
for legacy in ("a", "b"):
    st.query_params.pop(legacy, None)
st.query_params.update(runs=",".join(chosen), q=quantity, x=x, log="1" if log_y else "0")
if group:
    st.query_params["group"] = group
if not chosen:
    st.info("Choose at least one run.")
    st.stop()
results = readable_results(chosen)
if not results:
    st.stop()
runs = [series([r]) for r in results]
if len(results) > 1:
    explainer("compare", narrative.compare(results[0], results[1], (label(results[0].meta), label(results[1].meta))))
figure(plots.compare_figure(runs, [label(r.meta) for r in results], quantity, group, x, log_y), "compare")

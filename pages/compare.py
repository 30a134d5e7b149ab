import streamlit as st

from dashboard.state import families, label, load_result
from dashboard.teach import explainer
from dashboard.widgets import figure
from eos_core import narrative
from eos_core import plots
from eos_core.config import GROUPS
from eos_core.views import series

st.title("Compare")
st.caption("Two configurations on the same axes — coherent vs random displacement, MSE vs CE, two α or two c.")
metas = {m["config_hash"]: m for group in families().values() for m in group}
if len(metas) < 2:
    st.info("Compare needs at least two finished runs.")
    st.stop()
hashes = list(metas)
a_default = st.query_params.get("a", hashes[0])
b_default = st.query_params.get("b", hashes[1])
left, right = st.columns(2)
a = left.selectbox("A (thick)", hashes, index=hashes.index(a_default) if a_default in hashes else 0,
                   format_func=lambda h: label(metas[h]))
b = right.selectbox("B (thin)", hashes, index=hashes.index(b_default) if b_default in hashes else 1,
                    format_func=lambda h: label(metas[h]))
quantities = {"lambda1": "λ1", "loss_avg2": "group loss ℓ̄_k", "delta_loss": "Δℓ_k", "cos2": "cos²θ_k",
              "curvature_influence": "curvature influence"}
quantity = st.radio("quantity", list(quantities), format_func=quantities.get, horizontal=True)
group = None
if quantity != "lambda1":
    group = st.selectbox("group", GROUPS, format_func=plots.GROUP_LABELS.get)
x = st.radio("x-axis", ["step", "time"], format_func={"step": "step", "time": "effective time"}.get, horizontal=True)
log_y = st.toggle("log scale (y)", value=quantity == "curvature_influence")
st.query_params.update(a=a, b=b)
sa, sb = series([load_result(a)]), series([load_result(b)])
explainer("compare", narrative.compare(load_result(a), load_result(b)))
figure(plots.compare_figure(sa, sb, quantity, group, ("A", "B"), x, log_y), "compare")

import streamlit as st

from dashboard.state import require_series
from dashboard.teach import explain_run
from dashboard.widgets import figure
from eos_core import plots

st.title("Alignment")
s, metas, x, log_y = require_series()
explain_run("alignment", metas)
st.caption("How strongly each group's gradient couples to the unstable direction v1: cos²θ_k (direction) "
           "and the curvature influence (∇ℓ_k·v1)² (direction × magnitude), per branch (Figs. 5–7). "
           "Q_k and R_k are the two terms of the branch decomposition (App. F).")
figure(plots.group_figure(s, "cos2", x, log_y, "Directional alignment cos²θ_k"), "cos2")
log_influence = st.toggle("log scale for curvature influence", value=st.query_params.get("logci", "1") == "1")
st.query_params["logci"] = "1" if log_influence else "0"
figure(plots.group_figure(s, "curvature_influence", x, log_influence, "Curvature influence (∇ℓ_k·v1)²"),
       "curvature-influence")
if st.toggle("show Q_k and R_k", value=st.query_params.get("qr") == "1"):
    st.query_params["qr"] = "1"
    figure(plots.group_figure(s, "Q", x, False, "Q_k = ⟨∇ℓ_k, ∇S⟩ (EoS selector)"), "Q")
    figure(plots.group_figure(s, "R", x, False, "R_k = ⟨∇ℓ_k, ∇L⟩ (learning-rate confounder)"), "R")
else:
    st.query_params["qr"] = "0"

import streamlit as st

from dashboard.state import load_result, require_series
from dashboard.teach import explain_run
from dashboard.widgets import figure
from eos_core import plots
from eos_core.views import checkpoint

st.title("Natural outliers")
s, metas, x, log_y = require_series()
explain_run("outliers", metas)
st.caption("Every training example: distance to its class centroid against the alignment of its own gradient "
           "with v1. The paper finds ρ ≈ −0.1 during sharpening and ≈ +0.4 at EoS (Figs. 8, 20, 21).")
result = load_result(metas[0]["config_hash"])
branches = [b for b in ("baseline", "exit") if len(result.per_example.get(f"{b}_steps", []))]
branch = st.radio("branch", branches, horizontal=True, format_func={"baseline": "EoS (η)", "exit": "exit (c·η)"}.get)
steps = [int(v) for v in result.per_example[f"{branch}_steps"]]
default = int(st.query_params.get("step", steps[0])) if st.query_params.get("step", "").isdigit() else steps[0]
step = st.select_slider("checkpoint (step)", steps, value=default if default in steps else steps[0])
st.query_params["step"] = str(step)
cos2, rho = checkpoint(result, branch, step)
figure(plots.scatter_figure(result.examples, cos2, step, rho), "natural-outliers")
figure(plots.rho_figure(s, x), "spearman-rho")

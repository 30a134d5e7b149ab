import streamlit as st

from dashboard import links
from dashboard.content import plots
from dashboard.content.series import checkpoint
from dashboard.pages import heading
from dashboard.state import load_result, require_series
from dashboard.teach import explain_run
from dashboard.widgets import figure

BRANCH_NAMES = {branch: name for branch, (_, name) in plots.BRANCH_STYLE.items()}

st.title(heading("outliers"))
s, metas, x, log_y = require_series()
explain_run("outliers", metas)
st.caption(
    "Every training example: distance to its class centroid against the alignment of its own gradient "
    "with v1. The paper finds ρ ≈ −0.1 during sharpening and ≈ +0.4 at EoS (Figs. 8, 20, 21)."
)
result = load_result(metas[0]["config_hash"])
branches = [b for b in BRANCH_NAMES if len(result.per_example.get(f"{b}_steps", []))]
branch = st.radio(
    "branch",
    branches,
    horizontal=True,
    format_func=BRANCH_NAMES.get,
    index=links.position("branch", branches[0], branches),
)
steps = [int(v) for v in result.per_example[f"{branch}_steps"]]
# a branch just switched by the user makes the link's step moot (it may not exist on the other branch)
switched = st.query_params.get("branch", branch) != branch
step = st.select_slider(
    "checkpoint (step)", steps, value=steps[0] if switched else links.member("step", steps[0], steps)
)
st.query_params.update(branch=branch, step=str(step))
left, middle, right = st.columns(3)
hide = left.toggle(
    "hide the tracked prototypes",
    value=links.flag("hide", False),
    help="Leave only the natural (untracked) examples, so they fill the axes.",
)
trend = middle.toggle(
    "binned-median trend",
    value=links.flag("trend", False),
    help="The median cos² in 20 bins of equal count along the distance.",
)
log_x = right.toggle("log scale (x)", value=links.flag("logx", False))
st.query_params.update(hide="1" if hide else "0", trend="1" if trend else "0", logx="1" if log_x else "0")
cos2, rho = checkpoint(result, branch, step)
figure(
    plots.scatter_figure(
        result.examples, cos2, step, rho, show_prototypes=not hide, trend_bins=20 if trend else 0, log_x=log_x
    ),
    "natural-outliers",
)
figure(plots.rho_figure(s, x), "spearman-rho")

import streamlit as st

from dashboard import clock, links
from dashboard.content import plots, timeline
from dashboard.content.series import checkpoint
from dashboard.pages import heading
from dashboard.state import load_result, require_series
from dashboard.teach import explain_run
from dashboard.widgets import checkpoint_branch, figure

st.title(heading("outliers"))
s, metas, x, log_y = require_series()
explain_run("outliers", metas)
st.caption(
    "Every training example: distance to its class centroid against the alignment of its own gradient "
    "with v1. The paper finds ρ ≈ −0.1 during sharpening and ≈ +0.4 at EoS (Figs. 8, 20, 21). The scatter "
    "follows the clock to the nearest stored checkpoint."
)
result = load_result(metas[0]["config_hash"])
branch = checkpoint_branch(result)
if branch is None:
    st.stop()
steps = [int(v) for v in result.per_example[f"{branch}_steps"]]
linked = None
if "t" not in st.query_params and "step" in st.query_params:  # a link from before the clock names a checkpoint
    linked = timeline.checkpoint_time(result, branch, links.member("step", steps[0], steps))
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


def at_time(t: float) -> None:
    point = timeline.nearest_checkpoint(result, branch, t)
    st.query_params["step"] = str(point.step)  # the checkpoint shown, as links made before the clock name it
    cos2, rho = checkpoint(result, branch, point.step)
    scatter = plots.scatter_figure(
        result.examples, cos2, point.step, rho, show_prototypes=not hide, trend_bins=20 if trend else 0, log_x=log_x
    )
    figure(scatter, "natural-outliers")
    st.caption(timeline.describe_checkpoint(point, t))


clock.show(timeline.ticks(result.trace), "outliers", at_time, linked)
figure(plots.rho_figure(s, x), "spearman-rho")

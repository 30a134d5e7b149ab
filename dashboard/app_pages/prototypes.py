import streamlit as st

from dashboard import clock, links
from dashboard.content import plots, timeline
from dashboard.pages import heading
from dashboard.state import load_result, require_series
from dashboard.teach import explain_run
from dashboard.widgets import checkpoint_branch, figure, prototype_gallery

st.title(heading("prototypes"))
s, metas, x, log_y = require_series()
explain_run("prototypes", metas)
result = load_result(metas[0]["config_hash"])
dataset = s.config["dataset"]
low, high = plots.display_range(dataset)
unit = "pixel values" if dataset != "synthetic" else "generator units (synthetic data has no pixels)"
st.caption(
    f"The tracked examples as the network sees them, shown on the range [{low:g}, {high:g}] of {unit}. "
    "Displaced input-outliers may leave it; they are shown as constructed, not clipped (Figs. 2, 15)."
)
left, right = st.columns(2)
per_row = left.slider("images per group", 4, 16, links.member("per_row", 8, list(range(4, 17))))
mark = right.toggle(
    f"paint values outside [{low:g}, {high:g}] magenta",
    value=links.flag("mark", True),
    help="Off: out-of-range values are clipped to the range's ends instead.",
)
st.query_params.update(per_row=str(per_row), mark="1" if mark else "0")
branch = checkpoint_branch(result) if "prototype_index" in result.per_example else None


if branch is not None:
    clock.show(timeline.ticks(result.trace), "prototypes", lambda t: clock.gallery_at(result, branch, t, per_row, mark))
elif not prototype_gallery(result, per_row, mark):
    st.info("This result has no stored prototype images.")
figure(plots.centroid_distance_figure(result.examples), "centroid-distance")

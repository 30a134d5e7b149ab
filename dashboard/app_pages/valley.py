import streamlit as st

from dashboard import clock, links
from dashboard.content import timeline, valley_plots
from dashboard.pages import heading
from dashboard.state import selected_results, sidebar_selection
from dashboard.teach import explain_run, plain
from dashboard.widgets import figure, table_downloads
from eos_core.analysis.valley import HOW_TO_GET, ValleyError, has_valley, valley_at


def linked_step(result, default: int) -> int:
    """The link's ?step=, when the baseline has a slice there; else a warning naming the steps that do."""
    asked = st.query_params.get("step")
    if asked is None:
        return default
    if asked.isascii() and asked.isdigit() and len(asked) <= 18:
        try:
            return valley_at(result, "baseline", int(asked)).step
        except ValleyError as error:
            st.warning(plain(f"{error}; showing step {default}."), icon=":material/link_off:")
            return default
    links.warn("step", asked, "a step with a valley slice", str(default))
    return default


st.title(heading("valley"))
metas, _, _ = sidebar_selection()
results = selected_results(metas[:1])
if not results:
    st.stop()
result = results[0]
explain_run("valley", metas[:1])
st.caption(
    "The loss along the top Hessian eigenvector v1 through the current weights: the EoS branch bounces "
    "across a valley whose curvature stays at 2/η, the exit branch slides down a gentler one. Both "
    "branches at the same effective time; ▶ Play steps through the checkpoints."
)
if not has_valley(result):
    st.info(f"This run stored no valley slices. To get them, {HOW_TO_GET}.", icon=":material/landscape:")
    st.stop()
pairs = valley_plots.checkpoints(result)
steps = [base.step for base, _ in pairs]
t_star = result.meta.get("t_star")
# One clock: the Valley opens at the checkpoint nearest the session's time, and a checkpoint picked here
# moves the clock (the other pages then show that time)
now = clock.time()
opening = steps[timeline.nearest([base.t_eff for base, _ in pairs], now)] if now is not None else None
step = st.selectbox(
    "checkpoint (baseline step)",
    steps,
    index=steps.index(linked_step(result, opening or (t_star if t_star in steps else steps[0]))),
    format_func=lambda s: f"{s} (t*)" if s == t_star else str(s),
    help="The figure opens at this checkpoint; the slider under it moves through all of them.",
)
st.query_params["step"] = str(step)
index = steps.index(step)
clock.set_time(pairs[index][0].t_eff)
figure(
    valley_plots.valley_figure(pairs, index, t_star), "valley", words=valley_plots.describe_pair(pairs[index], t_star)
)
show_surface = st.toggle("show the v1 × v2 surface at this checkpoint", value=links.flag("surface", False))
st.query_params["surface"] = "1" if show_surface else "0"
if show_surface:
    figure(
        valley_plots.surface_figure(pairs[index]), "valley-surface", words=valley_plots.describe_surface(pairs[index])
    )
table_downloads(result.valley, "valley")

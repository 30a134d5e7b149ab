"""EoS Explorer dashboard: `eos dashboard`. The UI process never imports torch; runs go to
the store and a separate worker process trains them."""

import streamlit as st

from dashboard import access, clock
from dashboard.form import keep_values
from dashboard.pages import sections
from dashboard.state import get_queue, get_store
from dashboard.teach import projector_toggle
from eos_core.runs import shipped
from eos_core.runs.queue import JobState
from eos_core.runs.store import StoreDamaged, cache_dir, is_damage
from eos_core.runs.worker import ensure_worker

st.set_page_config(page_title="EoS Explorer", page_icon=":material/insights:", layout="wide")


@st.cache_resource
def start_teaching_runs() -> None:
    """On an empty cache, store the shipped teaching runs, so the Story is complete at once; a shipped
    run that cannot be used is trained instead (its job says why)."""
    queue = get_queue()
    if not get_store().metas() and not queue.jobs():
        shipped.install(queue)
    if any(j["state"] in JobState.ACTIVE for j in queue.jobs()):
        ensure_worker(queue)


navigation = {
    section: [st.Page(p.file, title=p.title, icon=p.icon, default=p.default) for p in rows]
    for section, rows in sections().items()
}
viewable = access.gate()
projector_toggle()
# past twelve pages Streamlit would hide some behind "View more"
page = st.navigation(navigation, expanded=True, position="sidebar" if viewable else "hidden")
if not viewable:  # a private server: nothing but the token form until it is entered
    access.locked_page()
    st.stop()
clock.stop_elsewhere(page.url_path)  # Play stops when the user leaves its page
keep_values()  # the Experiment form as the user left it
# The one place a damaged cache surfaces: every page, and the first-launch check, read the store
# through here, so each shows the same message instead of an exception box.
try:
    start_teaching_runs()
    page.run()
except Exception as error:
    if not (isinstance(error, StoreDamaged) or is_damage(error)):
        raise
    st.cache_resource.clear()  # a repaired or replaced cache is picked up on the next rerun
    reason = error.reason if isinstance(error, StoreDamaged) else error
    st.error(
        f"The cache at `{cache_dir().resolve()}` is damaged ({reason}). Nothing was changed in it: move the "
        "folder away (or restore it from a backup) and reload this page, or run "
        "`python -m eos_core store --rebuild` to rebuild its index.",
        icon=":material/database:",
    )

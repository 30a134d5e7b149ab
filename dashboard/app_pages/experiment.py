import streamlit as st

from dashboard import access
from dashboard.form import experiment_form, preset_buttons
from dashboard.pages import heading
from dashboard.state import get_queue
from dashboard.status import watch
from dashboard.teach import explainer
from eos_core.runs.queue import JobState

st.title(heading("experiment"))
INTRO = (
    "Full-batch gradient descent at learning rate η trains until its sharpness λ1 reaches 2/η — the "
    "**edge of stability**. At that moment t* the run forks: the **EoS branch** keeps η, the **exit branch** "
    "continues from the same weights at c·η. Four prototype groups are tracked — inliers, boundary points, "
    "input-outliers (displaced by α along the class-centroid difference) and output-outliers (flipped labels)."
)

# The live runs come first: this session's and the unowned ones (a first launch's, the command line's).
# Other sessions' runs are only counted: in a class of thirty they would bury the student's own.
jobs = [j for j in get_queue().jobs() if j["state"] in JobState.ACTIVE]
mine = [j["id"] for j in jobs if j.get("owner") in (None, access.owner())]
watching = list(dict.fromkeys(st.session_state.get("watching", []) + mine))
if watching:
    st.subheader("Runs in progress")
    watch(watching)
others = len(jobs) - len(mine)
if others:
    st.caption(
        f"{others} run(s) of other sessions are queued or running; they take turns with yours (the Runs page lists them)."
    )
st.markdown(INTRO)
if not watching:
    explainer(
        "experiment",
        [
            "Nothing is running. Pick a preset (it fills the form) and press Run experiment; "
            "the run's sharpness then grows live at the top of this page."
        ],
    )

preset_buttons()
new_jobs = experiment_form()
if new_jobs:
    st.session_state["watching"] = list(dict.fromkeys(new_jobs + st.session_state.get("watching", [])))
    st.rerun()  # show the new jobs at the top

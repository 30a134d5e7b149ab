import streamlit as st

from dashboard.form import experiment_form, preset_buttons
from dashboard.state import get_store
from dashboard.status import watch

st.title("Edge of stability: who gains, who loses?")
st.markdown(
    "Full-batch gradient descent at learning rate η trains until its sharpness λ1 reaches 2/η — the "
    "**edge of stability**. At that moment t* the run forks: the **EoS branch** keeps η, the **exit branch** "
    "continues from the same weights at c·η. Four prototype groups are tracked — inliers, boundary points, "
    "input-outliers (displaced by α along the class-centroid difference) and output-outliers (flipped labels).")

preset_buttons()
new_jobs = experiment_form()
if new_jobs:
    st.session_state["watching"] = list(dict.fromkeys(new_jobs + st.session_state.get("watching", [])))

store = get_store()
active = [j["id"] for j in store.jobs() if j["state"] in ("queued", "running")]
watching = list(dict.fromkeys(st.session_state.get("watching", []) + active))
st.subheader("Runs in progress")
if watching:
    watch(watching)
else:
    st.caption("Nothing queued. Submit the form, or open a finished run from the sidebar.")

import numpy as np
import streamlit as st

from dashboard.state import load_result, require_series
from dashboard.teach import explain_run
from dashboard.widgets import figure
from eos_core import plots
from eos_core.config import GROUPS

st.title("Prototypes")
s, metas, x, log_y = require_series()
explain_run("prototypes", metas)
result = load_result(metas[0]["config_hash"])
st.caption("The tracked examples as the network sees them, in pixel space. Input-outliers are shown as "
           "constructed — not clipped: pixels outside [0, 1] are painted magenta (Figs. 2, 15).")
index = result.per_example.get("prototype_index")
pixels = result.per_example.get("prototype_pixels")
if index is None or pixels is None:
    st.info("This result has no stored prototype images.")
else:
    per_row = st.slider("images per group", 4, 16, 8)
    examples = result.examples.set_index("index")
    for group in GROUPS:
        members = [i for i, k in enumerate(index) if examples.group.get(int(k)) == group][:per_row]
        if not members:
            continue
        shown = [plots.display_image(pixels[i]) for i in members]
        outside = np.mean([f for _, f in shown])
        st.markdown(f"**{plots.GROUP_LABELS[group]}** — {outside:.0%} of pixel values outside [0, 1]")
        captions = [f"#{int(index[i])} y={int(examples.label[int(index[i])])}" for i in members]
        st.image([img for img, _ in shown], caption=captions, width=72)
figure(plots.centroid_distance_figure(result.examples), "centroid-distance")

"""Figures and tables with their downloads."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import links
from dashboard.content import handout, plots
from dashboard.content.figure_text import describe_figure
from dashboard.teach import plain, styled
from eos_core.groups import GROUPS

# Plotly's modebar downloads PNG in the browser (no server-side renderer needed).
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def figure(fig, key: str, selectable: bool = False, words: str | None = None):
    """Draw `fig` with its text alternative (`words`, else the figure's numbers told by
    content.figure_text) and its HTML download; with `selectable`, a click on a point reruns the
    page and the selection is returned."""
    fig = styled(fig)
    event = st.plotly_chart(
        fig,
        theme=None,
        key=key,
        config=PLOT_CONFIG,
        **({"on_select": "rerun", "selection_mode": "points"} if selectable else {}),
    )
    with st.expander("The figure in words", icon=":material/accessibility:"):
        st.caption(plain(words or describe_figure(fig)))
    # callables: the files are only built when someone clicks; plotly.js is embedded, so the
    # file opens offline (about 4 MB)
    st.download_button(
        "Download figure (HTML)",
        lambda: standalone_html(fig),
        file_name=f"{key}.html",
        mime="text/html",
        key=f"{key}-html",
        icon=":material/download:",
    )
    return event


def standalone_html(fig) -> str:
    return fig.to_html(include_plotlyjs=True, full_html=True)


def story_download(result, control, name: str, training: list) -> None:
    """The Story as one HTML file to hand out (content.handout), built only when clicked."""
    st.download_button(
        "Download the Story (HTML)",
        lambda: handout.story_html(result, control, name, training),
        file_name=handout.file_name(name),
        mime="text/html",
        key="story-handout",
        icon=":material/download:",
        help="One file with the text, every figure and the tracked images: it opens with no server and no internet.",
    )


def table_downloads(frame: pd.DataFrame, name: str) -> None:
    left, right = st.columns(2)
    left.download_button(
        f"{name}.csv", lambda: frame.to_csv(index=False), file_name=f"{name}.csv", mime="text/csv", key=f"{name}-csv"
    )
    right.download_button(
        f"{name}.parquet",
        lambda: _parquet(frame),
        file_name=f"{name}.parquet",
        mime="application/octet-stream",
        key=f"{name}-parquet",
    )


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def prototype_gallery(result, per_row: int, mark: bool = True, values: dict[int, str] | None = None) -> bool:
    """The tracked examples of each group as images on their dataset's display range (values outside
    it painted magenta with `mark`, else clipped), captioned with `values` (example index → text)
    where given; False if the result stored none."""
    index, pixels = result.per_example.get("prototype_index"), result.per_example.get("prototype_pixels")
    if index is None or pixels is None:
        return False
    low, high = plots.display_range(result.meta["config"]["dataset"])
    examples = result.examples.set_index("index")
    for group in GROUPS:
        members = [i for i, k in enumerate(index) if examples.group.get(int(k)) == group][:per_row]
        if not members:
            continue
        shown = [plots.display_image(pixels[i], (low, high), mark) for i in members]
        outside = np.mean([f for _, f in shown])
        st.markdown(f"**{plots.GROUP_LABELS[group]}** — {outside:.0%} of values outside [{low:g}, {high:g}]")
        captions = [f"#{int(index[i])} y={int(examples.label[int(index[i])])}" for i in members]
        if values:
            captions = [f"{c} · {values.get(int(index[i]), '')}" for c, i in zip(captions, members)]
        st.image([img for img, _ in shown], caption=captions, width=72)
    return True


BRANCH_NAMES = {branch: name for branch, (_, name) in plots.BRANCH_STYLE.items()}


def checkpoint_branch(result) -> str | None:
    """The branch radio (?branch=) over the branches with stored per-example checkpoints; None
    (and a message) when the result stored none."""
    branches = [b for b in BRANCH_NAMES if len(result.per_example.get(f"{b}_steps", []))]
    if not branches:
        st.info("This result stored no per-example checkpoints.")
        return None
    branch = st.radio(
        "branch",
        branches,
        horizontal=True,
        format_func=BRANCH_NAMES.get,
        index=links.position("branch", branches[0], branches),
    )
    st.query_params["branch"] = branch
    return branch

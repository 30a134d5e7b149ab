"""Teaching widgets: the "What am I looking at?" expander and projector mode. The sentences come
from `dashboard.content.narrative`, the styling from `dashboard.content.plots.projector_style`; this module only
places them on the page."""

from __future__ import annotations

import re

import streamlit as st

from dashboard import pages
from dashboard.content.glossary import CONTROL_HELP, explain
from dashboard.state import load_result

_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~$])")


def plain(text: str) -> str:
    """Text shown literally through Markdown (t*, ℓ_k and the like stay as written)."""
    return _MARKDOWN.sub(r"\\\1", text)


def explainer(page: str, sentences: list[str]) -> None:
    """The "What am I looking at?" expander: the run's own story, then the page's terms."""
    with st.expander("What am I looking at?", icon=":material/school:"):
        for sentence in sentences:
            st.markdown(plain(sentence))
        terms = pages.terms(page) if page in pages.BY_KEY else ()
        if terms:
            st.caption("  \n".join(plain(explain(key)) for key in terms))


def explain_run(page: str, metas: list[dict]) -> None:
    """The expander for a results page showing the first selected run."""
    result = load_result(metas[0]["config_hash"]) if metas else None
    if result is None:
        return
    sentences = pages.page(page).narrate(result)
    if len(metas) > 1:
        sentences = sentences + [
            f"(These numbers are seed {result.meta['config']['seed']}'s; the figures show "
            f"the median over {len(metas)} seeds.)"
        ]
    explainer(page, sentences)


# -- projector mode ----------------------------------------------------------------------------

_PROJECTOR_CSS = """<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 18px !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 19px; }
[data-testid="stWidgetLabel"] p { font-size: 18px; }
</style>"""


def projector_toggle() -> bool:
    """The sidebar switch, kept in the URL (?projector=1) so a copied link opens in the same mode."""
    if "projector" not in st.session_state:
        st.session_state["projector"] = st.query_params.get("projector") == "1"
    on = st.sidebar.toggle("Projector mode", key="projector", help=CONTROL_HELP["projector"])
    if on:
        st.query_params["projector"] = "1"
        st.html(_PROJECTOR_CSS)
    elif "projector" in st.query_params:
        del st.query_params["projector"]
    return on


def projector_on() -> bool:
    """The URL is the mode's source of truth: the toggle writes it before any page draws."""
    return st.query_params.get("projector") == "1"


def styled(fig):
    """`fig`, restyled for the projector when the mode is on."""
    if projector_on():
        from dashboard.content.plots import projector_style

        projector_style(fig)
    return fig

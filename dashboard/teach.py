"""Teaching widgets: the "What am I looking at?" expander and projector mode. The sentences come
from `dashboard.content.narrative`, the styling from `dashboard.content.plots.projector_style`; this module only
places them on the page."""
from __future__ import annotations

import re

import streamlit as st

from dashboard.content import narrative
from dashboard.content.glossary import CONTROL_HELP, explain

from dashboard.state import load_result

# The glossary terms each page's figures use, listed under its explanation.
PAGE_TERMS = {
    "experiment": ("lambda1", "threshold", "t_star", "onset_fraction", "eos", "exit_branch", "c"),
    "sharpness": ("lambda1", "threshold", "exit_threshold", "t_star", "t_star_star", "onset_fraction",
                  "oscillation", "lambda2"),
    "groups": ("groups", "two_step_average", "delta_equal_time", "effective_time", "selective_tradeoff",
               "peak_window", "paper_pattern"),
    "regime": ("delta_equal_time", "peak_window", "paper_pattern", "alpha_displacement", "coherent_random"),
    "alignment": ("v1", "cos2", "curvature_influence", "Q", "R"),
    "outliers": ("centroid_distance", "spearman_rho", "natural_outliers", "cos2"),
    "prototypes": ("groups", "alpha_displacement", "coherent_random", "centroid_distance", "knn_ambiguity"),
    "compare": ("delta_equal_time", "t_star", "t_star_star", "effective_time"),
    "report": ("delta_same_step", "proposition2", "a_S", "b_S", "single_mode", "pgd_eps", "alpha_test"),
    "runs": ("t_star", "t_star_star"),
}

_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~$])")


def plain(text: str) -> str:
    """Text shown literally through Markdown (t*, ℓ_k and the like stay as written)."""
    return _MARKDOWN.sub(r"\\\1", text)


def explainer(page: str, sentences: list[str]) -> None:
    """The "What am I looking at?" expander: the run's own story, then the page's terms."""
    with st.expander("What am I looking at?", icon=":material/school:"):
        for sentence in sentences:
            st.markdown(plain(sentence))
        terms = PAGE_TERMS.get(page, ())
        if terms:
            st.caption("  \n".join(plain(explain(key)) for key in terms))


def explain_run(page: str, metas: list[dict]) -> None:
    """The expander for a results page showing the first selected run."""
    result = load_result(metas[0]["config_hash"]) if metas else None
    if result is None:
        return
    sentences = narrative.PAGES[page](result)
    if len(metas) > 1:
        sentences = sentences + [f"(These numbers are seed {result.meta['config']['seed']}'s; the figures show "
                                 f"the median over {len(metas)} seeds.)"]
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

"""The one registry of the dashboard's pages: app.py builds the navigation from it, each page
takes its heading from it, the "What am I looking at?" expander its terms and sentences, and the
browser tests what to wait for. A new page is one file in app_pages/ plus one row here.

Never imports streamlit: tests and tools read it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dashboard.content import narrative
from eos_core.quantities import on_page


@dataclass(frozen=True)
class Page:
    key: str  # its file app_pages/<key>.py and its URL path
    title: str  # in the navigation
    heading: str  # the page's title on screen
    icon: str
    section: str  # the navigation group
    charts: int = 0  # Plotly charts it draws at least, for a finished forked run (browser tests)
    terms: tuple = ()  # glossary keys of its concepts (its quantities come from QUANTITIES)
    narrate: Callable | None = None  # result → the sentences of its explainer
    default: bool = False  # served at /

    @property
    def file(self) -> str:
        return f"app_pages/{self.key}.py"


# Chart counts are minimums, checked in Chromium on the tests' cached runs; conditional charts are
# left out (experiment: the live charts of runs in progress; alignment: Q_k and R_k with qr=1).
# Report's four (Q_k² vs C_k, decomposition, PGD, OOD) need a forked run with probe columns.
PAGES = (
    Page(
        "experiment",
        "Experiment",
        "Edge of stability: who gains, who loses?",
        ":material/science:",
        "Experiment",
        terms=("threshold", "t_star", "onset_fraction", "eos", "exit_branch", "c"),
        default=True,
    ),
    Page(
        "sharpness",
        "Sharpness",
        "Sharpness",
        ":material/show_chart:",
        "Results",
        1,
        ("threshold", "exit_threshold", "t_star", "t_star_star", "onset_fraction"),
        narrative.sharpness,
    ),
    Page(
        "groups",
        "Group losses & Δℓ",
        "Group losses & Δℓ",
        ":material/stacked_line_chart:",
        "Results",
        3,
        ("groups", "effective_time", "selective_tradeoff", "peak_window", "paper_pattern"),
        narrative.groups,
    ),
    Page("alignment", "Alignment", "Alignment", ":material/explore:", "Results", 3, ("v1",), narrative.alignment),
    Page(
        "outliers",
        "Natural outliers",
        "Natural outliers",
        ":material/scatter_plot:",
        "Results",
        2,
        ("centroid_distance", "natural_outliers"),
        narrative.outliers,
    ),
    Page(
        "prototypes",
        "Prototypes",
        "Prototypes",
        ":material/grid_view:",
        "Results",
        1,
        ("groups", "alpha_displacement", "coherent_random", "centroid_distance", "knn_ambiguity"),
        narrative.prototypes,
    ),
    Page(
        "compare",
        "Compare",
        "Compare",
        ":material/compare_arrows:",
        "Results",
        1,
        ("t_star", "t_star_star", "effective_time"),
    ),
    Page(
        "branches",
        "Branches",
        "Branches",
        ":material/account_tree:",
        "Results",
        2,
        ("t_star", "t_star_star", "exit_branch", "c", "exit_threshold", "effective_time", "group_loss"),
    ),
    Page(
        "valley",
        "Valley",
        "Valley along v1",
        ":material/landscape:",
        "Results",
        1,
        ("v1", "threshold", "exit_threshold", "t_star", "eos", "progressive_sharpening", "effective_time"),
        narrative.valley,
    ),
    Page(
        "regime",
        "Regime map",
        "Regime map",
        ":material/grid_on:",
        "Results",
        1,
        ("peak_window", "paper_pattern", "alpha_displacement", "coherent_random"),
    ),
    Page(
        "report",
        "Report",
        "Reproduction report",
        ":material/fact_check:",
        "Results",
        4,
        ("delta_same_step", "proposition2", "single_mode", "pgd_eps", "alpha_test"),
    ),
    Page("runs", "Runs", "Runs", ":material/storage:", "Manage", terms=("t_star", "t_star_star")),
    # the two toys' figures, then the step's
    Page("story", "Story", "Story: who gains at the edge of stability?", ":material/auto_stories:", "Learn", 3),
    Page("glossary", "Glossary", "Glossary", ":material/menu_book:", "Learn"),
)
BY_KEY = {p.key: p for p in PAGES}
DEFAULT = next(p.key for p in PAGES if p.default)
RESULT_PAGES = [p.key for p in PAGES if p.section in ("Results", "Manage")]


def page(key: str) -> Page:
    return BY_KEY[key]


def heading(key: str) -> str:
    return BY_KEY[key].heading


def terms(key: str) -> list[str]:
    """The glossary keys a page's explainer lists: the quantities it draws, then its concepts."""
    return list(dict.fromkeys(on_page(key) + list(BY_KEY[key].terms)))


def sections() -> dict[str, list[Page]]:
    """The navigation: section → its pages, in registry order."""
    out: dict[str, list[Page]] = {}
    for p in PAGES:
        out.setdefault(p.section, []).append(p)
    return out

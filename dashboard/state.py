"""Which run the pages show, and the page options, kept in the URL so a copied link reproduces
the view. Results come from the store, loaded once per process."""

from __future__ import annotations

import streamlit as st

from dashboard import links
from dashboard.content import story
from dashboard.content.naming import result_name
from dashboard.content.series import Series, series, smoothed
from eos_core.config import family_key
from eos_core.runs.notes import annotations
from eos_core.runs.queue import Queue
from eos_core.runs.store import CorruptEntry, ProblemCode, Store

X_AXES = {"step": "step", "time": "effective time"}


@st.cache_resource
def get_store() -> Store:
    return Store()


def get_queue() -> Queue:
    """The job queue in the store (cheap: it holds nothing but the store)."""
    return Queue(get_store())


@st.cache_resource(max_entries=32)
def load_result(config_hash: str):
    return get_store().result(config_hash)


@st.cache_data(ttl=2, show_spinner=False)
def notes() -> dict[str, dict]:
    """Names, tags and notes users gave runs (cleared whenever one is edited)."""
    return annotations(get_store())


def label(meta: dict) -> str:
    """A stored run's readable name: the one a user gave it, else its preset and differences."""
    return notes().get(meta.get("config_hash"), {}).get("name") or result_name(meta["config"], meta.get("fork"))


def listed_metas() -> list[dict]:
    """The metas of stored results that can be listed; the store skips one without its config, and
    the page says so."""
    store = get_store()
    unlisted = ProblemCode.UNLISTED
    store.problems[:] = [p for p in store.problems if p.code != unlisted]  # this call's only
    metas = store.metas()
    skipped = [p for p in store.problems if p.code == unlisted]
    if skipped:
        st.warning(
            f"{len(skipped)} stored result(s) have no readable configuration and are not listed; "
            "re-run them, or check the cache with `python -m eos_core store --check`.",
            icon=":material/warning:",
        )
    return metas


def families() -> dict[str, list[dict]]:
    """Stored results grouped by config-without-seed, newest first."""
    groups: dict[str, list[dict]] = {}
    for meta in sorted(listed_metas(), key=lambda m: -(m.get("finished_at") or 0)):
        groups.setdefault(family_key(meta["config"]), []).append(meta)
    return groups


# Session keys: the run last shown on a result page, and the run the Story last told about. A click in
# the sidebar's navigation starts the next page without the URL's ?run=, so the choice lives here too.
CHOSEN_RUN = "chosen_run"
STORY_RUN = "story_about"


def default_run(by_hash: dict[str, dict]) -> str:
    """The run a result page opens on, decided here for every page: the user's choice (the link's
    ?run=, else the run last shown in this session), else the run the Story is about, else the newest
    (`by_hash` lists the stored runs newest first)."""
    linked = st.query_params.get("run")
    if linked is not None and linked not in by_hash:
        st.warning("The link names a run that is not in this cache; showing the run named below instead.")
    opens = [m["config_hash"] for m in story.candidates(list(by_hash.values()))[:1]]  # the Story's first run
    for candidate in (linked, st.session_state.get(CHOSEN_RUN), st.session_state.get(STORY_RUN), *opens):
        if candidate in by_hash:
            return candidate
    return next(iter(by_hash))


def remember_run(config_hash: str) -> None:
    """The user's choice of run, kept for the next page they open."""
    st.session_state[CHOSEN_RUN] = config_hash


def remember_story_run(config_hash: str) -> None:
    """The run the Story tells about: the result pages open on it until the user chooses another."""
    st.session_state[STORY_RUN] = config_hash


def sidebar_selection() -> tuple[list[dict], str, bool]:
    """The run picker and view options in the sidebar: (metas of the selected seeds, x axis, log y)."""
    groups = families()
    by_hash = {m["config_hash"]: m for metas in groups.values() for m in metas}
    with st.sidebar:
        st.subheader("Run")
        if not by_hash:
            st.info("No finished runs yet — start one on the Experiment page.")
            return [], "step", False
        wanted = default_run(by_hash)
        hashes = list(by_hash)
        chosen = st.selectbox(
            "Result",
            hashes,
            index=hashes.index(wanted),
            format_func=lambda h: label(by_hash[h]),
            help="Stored runs, newest first. The full name of the one shown is below.",
        )
        st.caption(f"{label(by_hash[chosen])} · `{chosen[:8]}`")  # wraps: the name is never cut off
        family = groups[family_key(by_hash[chosen]["config"])]
        all_seeds = False
        if len(family) > 1:
            all_seeds = st.toggle(
                f"Median over all {len(family)} seeds (IQR band)",
                value=links.choice("seeds", "one", ("one", "all")) == "all",
            )
        x = st.radio(
            "x-axis",
            list(X_AXES),
            format_func=X_AXES.get,
            horizontal=True,
            index=links.position("x", "step", X_AXES),
        )
        log_y = st.toggle("log scale (y)", value=links.flag("log", False))
        smoothing = st.slider(
            "smoothing",
            0.0,
            0.99,
            links.number("smooth", 0.0, 0.0, 0.99),
            step=0.01,
            help="Exponential moving average of every curve, as in TensorBoard (0: off); "
            "the raw curve stays faintly behind.",
        )
    st.session_state["smoothing"] = smoothing
    remember_run(chosen)
    st.query_params.update(
        run=chosen, x=x, log="1" if log_y else "0", seeds="all" if all_seeds else "one", smooth=f"{smoothing:g}"
    )
    return (family if all_seeds else [by_hash[chosen]]), x, log_y


@st.cache_resource(max_entries=16)
def _series(hashes: tuple[str, ...]) -> Series | None:
    results = [r for r in (load_result(h) for h in hashes) if r is not None]
    return series(results) if results else None


def selected_series(metas: list[dict]) -> Series | None:
    try:
        return _series(tuple(m["config_hash"] for m in metas))
    except CorruptEntry as error:
        st.error(f"A stored result could not be read ({error}). Re-run it from the Runs page.")
        return None


def require_series() -> tuple[Series, list[dict], str, bool]:
    """Selection and its Series, or stop the page with a friendly message."""
    metas, x, log_y = sidebar_selection()
    if not metas:
        st.stop()
    s = selected_series(metas)
    if s is None:
        st.stop()
    return smoothed(s, st.session_state.get("smoothing", 0.0)), metas, x, log_y


def readable_results(hashes: list[str]) -> list:
    """The stored results of `hashes` that can be read; each unreadable one gets the message the
    other pages give, never an exception box."""
    results = []
    for h in hashes:
        try:
            result = load_result(h)
        except CorruptEntry as error:
            st.error(f"A stored result could not be read ({error}). Re-run it from the Runs page.")
            continue
        if result is not None:
            results.append(result)
    return results


def selected_results(metas: list[dict]) -> list:
    return readable_results([m["config_hash"] for m in metas])


@st.cache_resource(max_entries=4, show_spinner="Reading the stored runs…")
def regime_table(hashes: tuple[str, ...], at: str):
    """The regime table of these runs (computed once per set of runs and choice of `at`)."""
    from eos_core.analysis.regime import table

    return table([r for r in (load_result(h) for h in hashes) if r is not None], at)


def stored_spectra(config_hash: str) -> list:
    """The run's Hessian spectra in the store (one small JSON entry, read on every rerun so a
    newly computed one shows); an unreadable entry is reported on the page, not raised."""
    try:
        return get_store().spectra(config_hash)
    except CorruptEntry as error:
        st.warning(f"The stored spectra of this run cannot be read: {error}", icon=":material/warning:")
        return []

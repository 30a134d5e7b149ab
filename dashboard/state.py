"""Which run the pages show, and the page options, kept in the URL so a copied link reproduces
the view. Results come from the store, loaded once per process."""
from __future__ import annotations

import streamlit as st

from eos_core.config import family_key
from eos_core.store import CorruptEntry, Store
from eos_core.views import Series, series

X_AXES = {"step": "step", "time": "effective time"}


@st.cache_resource
def get_store() -> Store:
    return Store()


@st.cache_resource(max_entries=32)
def load_result(config_hash: str):
    return get_store().result(config_hash)


def label(meta: dict) -> str:
    c = meta["config"]
    return (f"{c['dataset']} {c['classes'][0]}/{c['classes'][1]} · α={c['alpha']:g} {c['displacement']} · "
            f"{c['loss']} · η={c['lr']:g} c={c['c']:g} · seed {c['seed']}")


def families() -> dict[str, list[dict]]:
    """Stored results grouped by config-without-seed, newest first."""
    groups: dict[str, list[dict]] = {}
    for meta in sorted(get_store().metas(), key=lambda m: -m.get("finished_at", 0)):
        groups.setdefault(family_key(meta["config"]), []).append(meta)
    return groups


def query(name: str, default: str, allowed=None) -> str:
    value = st.query_params.get(name, default)
    if allowed is not None and value not in allowed:
        st.warning(f"The link's {name}={value!r} is not one of {', '.join(allowed)}; showing {default!r}.")
        value = default
    return value


def sidebar_selection() -> tuple[list[dict], str, bool]:
    """The run picker and view options in the sidebar: (metas of the selected seeds, x axis, log y)."""
    groups = families()
    by_hash = {m["config_hash"]: m for metas in groups.values() for m in metas}
    with st.sidebar:
        st.subheader("Run")
        if not by_hash:
            st.info("No finished runs yet — start one on the Experiment page.")
            return [], "step", False
        wanted = query("run", next(iter(by_hash)))
        if wanted not in by_hash:
            st.warning("The link names a run that is not in this cache; showing the newest run instead.")
            wanted = next(iter(by_hash))
        hashes = list(by_hash)
        chosen = st.selectbox("Result", hashes, index=hashes.index(wanted), format_func=lambda h: label(by_hash[h]))
        family = groups[family_key(by_hash[chosen]["config"])]
        all_seeds = False
        if len(family) > 1:
            all_seeds = st.toggle(f"Median over all {len(family)} seeds (IQR band)",
                                  value=query("seeds", "one", ("one", "all")) == "all")
        x = st.radio("x-axis", list(X_AXES), format_func=X_AXES.get, horizontal=True,
                     index=list(X_AXES).index(query("x", "step", tuple(X_AXES))))
        log_y = st.toggle("log scale (y)", value=query("log", "0", ("0", "1")) == "1")
    st.query_params.update(run=chosen, x=x, log="1" if log_y else "0", seeds="all" if all_seeds else "one")
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
    return s, metas, x, log_y

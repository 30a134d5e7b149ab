import streamlit as st

from dashboard.content.glossary import CONTROL_HELP, FIELD_HELP, by_section
from dashboard.pages import heading
from dashboard.teach import plain

st.title(heading("glossary"))
st.caption("Every symbol and term the pages show, in plain words. The form's tooltips say the same.")
wanted = st.text_input("Find a term", placeholder="e.g. t**, curvature, Q_k", key="glossary_find").strip().lower()


def matches(*texts: str) -> bool:
    return not wanted or any(wanted in t.lower() for t in texts)


shown = 0
for section, entries in by_section().items():
    hits = [(key, t) for key, t in entries if matches(t.symbol, t.name, t.text)]
    if hits:
        st.subheader(section)
        for _, t in hits:
            head = f"**{plain(t.symbol)}** — {plain(t.name)}" if t.symbol != t.name else f"**{plain(t.name)}**"
            st.markdown(f"{head}: {plain(t.text)}")
        shown += len(hits)
fields = [(name, text) for name, text in {**FIELD_HELP, **CONTROL_HELP}.items() if matches(name, text)]
if fields:
    st.subheader("Experiment form fields")
    for name, text in fields:
        st.markdown(f"**{plain(name)}**: {plain(text)}")
    shown += len(fields)
if not shown:
    st.info("No term matches; try a shorter word.")

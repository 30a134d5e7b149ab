import pandas as pd
import streamlit as st

from dashboard.state import get_store, label, load_result
from dashboard.teach import explainer
from dashboard.widgets import table_downloads
from eos_core import narrative
from eos_core.config import RunConfig
from eos_core.store import CorruptEntry
from eos_core.worker import ensure_worker

st.title("Runs")
store = get_store()
jobs = store.jobs()
metas = {m["config_hash"]: m for m in store.metas()}
rows = [{"id": j["id"], "state": j["state"], "run": label({"config": j["config"]}),
         "t*": metas.get(j["id"], {}).get("t_star"), "t**": metas.get(j["id"], {}).get("t_star_star"),
         "wall time (s)": metas.get(j["id"], {}).get("wall_time_s"), "attempts": j["attempts"],
         "error": j.get("error") or ""} for j in jobs]
rows += [{"id": h, "state": "stored", "run": label(m), "t*": m.get("t_star"), "t**": m.get("t_star_star"),
          "wall time (s)": m.get("wall_time_s"), "attempts": None, "error": ""}
         for h, m in metas.items() if h not in {j["id"] for j in jobs}]
table = pd.DataFrame(rows)
if table.empty:
    st.info("The cache is empty.")
    st.stop()
explainer("runs", narrative.runs(jobs, list(metas.values())))
st.dataframe(table, hide_index=True)
table_downloads(table, "runs")

chosen = st.selectbox("Run", list(table.id), format_func=lambda h: f"{h} · {table.set_index('id').run[h]}")
left, middle, right = st.columns(3)
if middle.button("Re-run", icon=":material/replay:"):
    job = store.job(chosen)
    config = (job or {}).get("config") or metas[chosen]["config"]
    store.submit(RunConfig.from_dict(config), force=True)
    ensure_worker(store)
    st.rerun()
if right.button("Delete", icon=":material/delete:"):
    store.delete_result(chosen)
    st.cache_resource.clear()
    st.rerun()
if chosen in metas:
    try:
        blob = store.result_zip(chosen)
        left.download_button("Result folder (.zip)", blob, file_name=f"eos-{chosen}.zip", mime="application/zip")
        result = load_result(chosen)
    except CorruptEntry as error:
        st.error(f"This stored result is corrupt ({error}); re-run it.")
        st.stop()
    for name in ("trace", "groups", "examples"):
        with st.expander(f"{name} table"):
            frame = getattr(result, name)
            st.dataframe(frame.head(1000), hide_index=True)
            table_downloads(frame, f"{chosen}-{name}")

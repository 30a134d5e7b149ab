import pandas as pd
import streamlit as st

from dashboard import access, links
from dashboard.content import narrative
from dashboard.content.naming import result_name, run_name
from dashboard.fork import fork_panel
from dashboard.pages import heading
from dashboard.state import get_queue, get_store, listed_metas, load_result, notes
from dashboard.status import outcome
from dashboard.teach import explainer
from dashboard.widgets import table_downloads
from eos_core.analysis.lineage import task_of
from eos_core.config import RunConfig
from eos_core.runs.notes import annotate
from eos_core.runs.queue import JobState, NotYours, QueueFull
from eos_core.runs.store import CorruptEntry
from eos_core.runs.worker import ensure_worker

st.title(heading("runs"))
store, queue = get_store(), get_queue()
jobs = {j["id"]: j for j in queue.jobs()}
metas = {m["config_hash"]: m for m in listed_metas()}


def state_of(job: dict | None, meta: dict | None) -> str:
    if job is None:
        job = {"state": JobState.DONE}
    if job["state"] != JobState.DONE or meta is None:
        return str(job["state"])
    kind, _ = outcome(meta, job)
    return str(JobState.DONE) if kind == JobState.DONE else f"finished, {kind}"


given = notes()
rows = []
for h in list(jobs) + [h for h in metas if h not in jobs]:
    job, meta, note = jobs.get(h), metas.get(h, {}), given.get(h, {})
    config = (job or {}).get("config") or meta["config"]
    rows.append(
        {
            "id": h,
            "state": state_of(job, metas.get(h)),
            "run": note.get("name") or result_name(config, meta.get("fork") or (job or {}).get("task")),
            "tags": ", ".join(note.get("tags", [])),
            "t*": meta.get("t_star"),
            "t**": meta.get("t_star_star"),
            "wall time (s)": meta.get("wall_time_s"),
            "attempts": (job or {}).get("attempts"),
            "error": (job or {}).get("error") or "",
            "note": note.get("note", ""),
        }
    )
table = pd.DataFrame(rows)
if table.empty:
    st.info("The cache is empty.")
    st.stop()
all_tags = sorted({tag for note in given.values() for tag in note.get("tags", [])})
if all_tags:
    wanted = st.multiselect("Show runs tagged", all_tags, default=links.subset("tags", [], all_tags, what="tags"))
    st.query_params["tags"] = ",".join(wanted)
    if wanted:
        table = table[[any(tag in given.get(h, {}).get("tags", []) for tag in wanted) for h in table.id]]
        if table.empty:
            st.info("No run carries these tags.")
            st.stop()
explainer("runs", narrative.runs(list(jobs.values()), list(metas.values())))
st.dataframe(table, hide_index=True, column_config={"run": st.column_config.TextColumn(width="large")})
table_downloads(table, "runs")

failed = [j for j in jobs.values() if j.get("error")]
if failed:
    st.subheader("Failures")
    for job in failed:  # whole and verbatim: the table cell cuts them short
        st.markdown(f"**{run_name(job['config'])}** `{job['id'][:8]}` — {job['state']}")
        st.code(job["error"], language=None, wrap_lines=True)

chosen = st.selectbox("Run", list(table.id), format_func=lambda h: f"{h[:8]} · {table.set_index('id').run[h]}")
job = jobs.get(chosen)
refused = access.refusal(job)  # the same for every change: its own session's, and the token
left, middle, right, far = st.columns(4)
cancel = (
    job
    and job["state"] in JobState.ACTIVE
    and far.button("Cancel", icon=":material/cancel:", disabled=bool(refused), help=refused)
)
rerun = middle.button("Re-run", icon=":material/replay:", disabled=bool(refused), help=refused)
try:
    if cancel:
        queue.cancel(chosen, by=access.owner())
        st.toast(
            "Cancelled" if job["state"] == JobState.QUEUED else "Cancel requested: it stops at its next logged step"
        )
        st.rerun()
    if rerun:
        config = (job or {}).get("config") or metas[chosen]["config"]
        task = (job or {}).get("task") or task_of(metas.get(chosen, {}))  # a fork re-runs as the same fork
        queue.submit(RunConfig.from_dict(config), force=True, task=task, owner=access.owner())
        ensure_worker(queue)
        st.rerun()
except (QueueFull, NotYours) as error:
    st.error(str(error), icon=":material/block:")


@st.dialog("Delete this run?")
def confirm_delete(config_hash: str, name: str) -> None:
    st.write(
        f"This deletes the stored result, job record, live trace, name, tags and note of **{name}** (`{config_hash[:8]}`). "
        "Its reusable baseline stays, so a re-run is quicker."
    )
    if st.button("Delete", type="primary", icon=":material/delete:"):
        store.delete_result(config_hash)
        annotate(store, config_hash)  # no fields: its name, tags and note go too
        st.cache_resource.clear()
        st.session_state["deleted"] = name
        st.rerun()


if right.button("Delete…", icon=":material/delete:", disabled=bool(refused), help=refused):
    confirm_delete(chosen, table.set_index("id").run[chosen])
if st.session_state.get("deleted"):
    st.success(f"Deleted {st.session_state.pop('deleted')}: its result, job record, live trace, name, tags and note.")
with st.expander("Name, tags and note", icon=":material/edit_note:"):
    current = given.get(chosen, {})
    with st.form(f"annotate-{chosen}"):
        name = st.text_input(
            "name",
            value=current.get("name", ""),
            placeholder=table.set_index("id").run[chosen],
            help="Shown instead of the automatic name in the sidebar, legends and Compare.",
        )
        tags = st.text_input("tags (comma-separated)", value=", ".join(current.get("tags", [])))
        note = st.text_area("note", value=current.get("note", ""))
        if st.form_submit_button("Save", disabled=bool(refused), help=refused):
            annotate(store, chosen, name, tags.split(","), note)
            notes.clear()
            st.rerun()
if chosen in metas:
    try:
        blob = store.result_zip(chosen)
        left.download_button("Result folder (.zip)", blob, file_name=f"eos-{chosen}.zip", mime="application/zip")
        result = load_result(chosen)
    except CorruptEntry as error:
        st.error(f"This stored result is corrupt ({error}); re-run it.")
        st.stop()
    fork_panel(result)
    for name in ("trace", "groups", "examples"):
        with st.expander(f"{name} table"):
            frame = getattr(result, name)
            st.dataframe(frame.head(1000), hide_index=True)
            table_downloads(frame, f"{chosen}-{name}")

"""Live status of queued and running jobs: queue position, progress, time left, growing curves."""
from __future__ import annotations

import streamlit as st

from eos_core import eta, narrative, plots
from eos_core.config import RunConfig
from eos_core.views import live_result, series

from .state import get_store
from .teach import explainer, styled

PHASES = {"preparing": "preparing data and prototypes", "sharpening": "progressive sharpening",
          "eos": "at EoS", "exit": "exit branch"}


def progress_fraction(job: dict, cfg: RunConfig) -> float:
    """Baseline steps count once; the exit branch adds the steps after t*."""
    step, total = job.get("step") or 0, cfg.steps
    if job.get("branch") == "exit":
        return min(1.0, 0.5 + 0.5 * step / total)
    return min(1.0, 0.5 * step / total)


def job_panel(job_id: str) -> None:
    store = get_store()
    job = store.job(job_id)
    if job is None:
        st.warning(f"Job {job_id} is no longer in the store.")
        return
    cfg = RunConfig.from_dict(job["config"])
    title = f"`{job_id}` · {cfg.dataset} {cfg.classes[0]}/{cfg.classes[1]} · seed {cfg.seed}"
    state = job["state"]
    if state == "queued":
        st.info(f"{title} — queued, position {store.queue_position(job_id)}", icon=":material/schedule:")
    elif state == "running":
        fraction = progress_fraction(job, cfg)
        phase = PHASES.get(job.get("phase"), job.get("phase") or "")
        live = store.live(job_id) or {}
        st.progress(fraction, text=f"{title} — {phase}, step {job.get('step', 0)}/{cfg.steps} · "
                                   f"{eta.describe(eta.estimate(live.get('clock'), cfg.steps))}")
        if live.get("trace"):
            result = live_result(job, live)
            s = series([result])
            left, right = st.columns(2)
            left.plotly_chart(styled(plots.live_sharpness_figure(s, cfg.steps)), theme=None,
                              key=f"live-sharp-{job_id}")
            losses = plots.group_figure(s, "loss", title="Group losses so far").update_xaxes(range=[0, cfg.steps])
            right.plotly_chart(styled(losses), theme=None, key=f"live-loss-{job_id}")
            explainer("experiment", narrative.live(result))
    elif state == "done":
        mark = " (from cache)" if job.get("from_cache") else ""
        st.success(f"{title} — done{mark}. {job.get('message') or ''}", icon=":material/check_circle:")
        if st.button("Show this run", key=f"open-{job_id}"):
            st.query_params["run"] = job_id
            st.switch_page("pages/sharpness.py")
    else:   # diverged, failed or cancelled: say why, offer a retry
        reason = job.get("message") if state == "diverged" else job.get("error")
        st.error(f"{title} — {state}: {reason or ''}", icon=":material/error:")
        if st.button("Retry", key=f"retry-{job_id}"):
            from eos_core.worker import ensure_worker
            store.submit(cfg, force=True)
            ensure_worker(store)
            st.rerun()


@st.fragment(run_every="2s")
def watch(job_ids: list[str]) -> None:
    for job_id in job_ids:
        job_panel(job_id)

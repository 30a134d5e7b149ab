"""Live status of queued and running jobs: queue position, progress, time left, growing curves."""

from __future__ import annotations

import streamlit as st

from dashboard import access
from dashboard.content import handout, narrative, plots
from dashboard.content.naming import result_name
from dashboard.content.series import live_result, series
from dashboard.pages import page
from dashboard.state import get_queue, get_store
from dashboard.teach import explainer, styled
from eos_core.config import RunConfig
from eos_core.runs import eta
from eos_core.runs.queue import JobState, NotYours, QueueFull

PHASES = {
    "preparing": "preparing data and prototypes",
    "sharpening": "progressive sharpening",
    "eos": "at EoS",
    "exit": "exit branch",
}


def progress_fraction(job: dict, cfg: RunConfig) -> float:
    """Baseline steps count once; the exit branch adds the steps after t*."""
    step, total = job.get("step") or 0, cfg.steps
    if job.get("branch") not in (None, "baseline"):  # the exit branch, or a reference flow after it
        return min(1.0, 0.5 + 0.5 * step / total)
    return min(1.0, 0.5 * step / total)


def outcome(meta: dict | None, job: dict) -> tuple[str, str]:
    """(kind, words) of a finished run: done only when both t* and t** were found; a run without
    them finished, but short of what the experiment is about, and is said to be so."""
    status = (meta or {}).get("status") or job.get("status")
    message = (meta or {}).get("message") or job.get("message") or ""
    if job["state"] == JobState.DIVERGED or status == "diverged":  # a result's status, not a job state
        return JobState.DIVERGED, message
    if status == "no_onset" or (meta is not None and meta.get("t_star") is None):
        return "no t*", message or "no EoS onset: no fork was made"
    if meta is not None and meta.get("t_star_star") is None:
        return "no t**", message or "the exit branch did not reach its threshold (no t**)"
    return JobState.DONE, message


def still_training(jobs: dict[str, str]) -> list[handout.Training]:
    """Of the jobs `jobs` names by their role on a page ("run", "control") → job id, those queued or
    running, and where each stands."""
    queue, found = get_queue(), []
    for role, job_id in jobs.items():
        job = queue.job(job_id)
        if job is not None and job["state"] in JobState.ACTIVE:
            cfg = RunConfig.from_dict(job["config"])
            branch = job.get("branch") or "baseline"
            found.append(
                handout.Training(role, result_name(cfg, job.get("task")), job.get("step") or 0, cfg.steps, branch)
            )
    return found


def story_in_progress(meta: dict) -> list[handout.Training]:
    """The Story's run (its stored `meta`) and its random-displacement control, if either is training."""
    control = RunConfig.from_dict({**meta["config"], "displacement": "random"}).config_hash()
    return still_training({"run": meta["config_hash"], "control": control})


def job_panel(job_id: str, metas: dict[str, dict]) -> None:
    queue = get_queue()
    job = queue.job(job_id)
    if job is None:
        st.warning(f"Job {job_id} is no longer in the store.")
        return
    cfg = RunConfig.from_dict(job["config"])
    title = f"**{result_name(cfg, job.get('task'))}** `{job_id[:8]}`"
    state = job["state"]
    if state == JobState.QUEUED:
        st.info(f"{title} — queued, position {queue.queue_position(job_id)}", icon=":material/schedule:")
        cancel_button(job)
    elif state == JobState.RUNNING:
        fraction = progress_fraction(job, cfg)
        phase = PHASES.get(job.get("phase"), job.get("phase") or "")
        live = queue.live(job_id) or {}
        st.progress(
            fraction,
            text=f"{title} — {phase}, step {job.get('step', 0)}/{cfg.steps} · "
            f"{eta.describe(eta.estimate(live.get('clock'), cfg.steps))}",
        )
        cancel_button(job)
        if live.get("trace"):
            result = live_result(job, live)
            s = series([result])
            left, right = st.columns(2)
            left.plotly_chart(styled(plots.live_sharpness_figure(s, cfg.steps)), theme=None, key=f"live-sharp-{job_id}")
            losses = plots.group_figure(s, "loss", title="Group losses so far").update_xaxes(range=[0, cfg.steps])
            right.plotly_chart(styled(losses), theme=None, key=f"live-loss-{job_id}")
            explainer("experiment", narrative.live(result))
    elif state == JobState.DONE:
        kind, words = outcome(metas.get(job_id), job)
        mark = " (from cache)" if job.get("from_cache") else ""
        if kind == JobState.DONE:
            st.success(f"{title} — done{mark}. {words}", icon=":material/check_circle:")
        else:
            st.warning(f"{title} — finished{mark}, {kind}: {words}", icon=":material/warning:")
        if st.button("Show this run", key=f"open-{job_id}"):
            # switch_page starts the next page with these parameters (it drops the current ones); a
            # fork is seen best beside the baseline's other branches
            shown = "branches" if job.get("task") else "sharpness"
            st.switch_page(page(shown).file, query_params={"run": job_id})
    else:  # diverged, failed or cancelled: say why, offer a retry
        reason = job.get("message") if state == JobState.DIVERGED else job.get("error")
        st.error(f"{title} — {state}", icon=":material/error:")
        if reason:  # whole, verbatim (paths and names are not Markdown)
            st.code(reason, language=None, wrap_lines=True)
        refused = access.refusal(job)
        if st.button("Retry", key=f"retry-{job_id}", disabled=bool(refused), help=refused):
            from eos_core.runs.worker import ensure_worker

            try:
                queue.submit(cfg, force=True, task=job.get("task"), owner=access.owner())
            except (QueueFull, NotYours) as error:
                st.error(str(error), icon=":material/block:")
                return
            ensure_worker(queue)
            st.rerun()


def cancel_button(job: dict) -> None:
    refused = access.refusal(job)
    if st.button("Cancel", key=f"cancel-{job['id']}", icon=":material/cancel:", disabled=bool(refused), help=refused):
        try:
            get_queue().cancel(job["id"], by=access.owner())
        except NotYours as error:
            st.error(str(error), icon=":material/block:")
            return
        st.rerun()


@st.fragment(run_every="2s")
def watch(job_ids: list[str]) -> None:
    metas = {m["config_hash"]: m for m in get_store().metas() if isinstance(m, dict) and "config_hash" in m}
    for job_id in job_ids:
        job_panel(job_id, metas)

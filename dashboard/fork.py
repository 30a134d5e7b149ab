"""The Fork panel on a run: a new exit branch from the run's baseline at any logged step (or where λ1
first reaches F·threshold) with its own c, η, loss and optimiser, queued as a fork job and followed
like any run. The fields are the experiment form's own (dashboard.form), so ranges and help agree;
the checks are the queue's (analysis.lineage), so the dashboard refuses what `eos fork` refuses."""

from __future__ import annotations

import streamlit as st

from dashboard import access
from dashboard.form import BY_NAME, field_widget, fits_here
from dashboard.pages import page
from dashboard.state import get_queue
from eos_core.analysis.lineage import fork_step, fork_task
from eos_core.analysis.results import Result
from eos_core.config import KNOBS, ConfigError, ForkError, branch_thresholds
from eos_core.resources import ResourceError
from eos_core.runs.queue import JobState, QueueFull
from eos_core.runs.worker import ensure_worker

WHERE = {"step": "at a logged step", "sharpness": "where λ1 first reaches F·threshold"}
# What the panel offers to change; the optimiser's own setting only with that optimiser.
CHANGES = ("c", "lr", "loss", "optimizer")
OPTIMISER_FIELD = {"momentum": "momentum", "sgd": "batch_size"}
CASTS = {"number": float, "slider": float, "integer": int}


def baseline_steps(result: Result) -> list[int]:
    return sorted(int(s) for s in result.trace.step[result.trace.branch == "baseline"])


def fork_panel(result: Result) -> None:
    """The Fork expander for the stored run `result` (nothing when its baseline logged no step)."""
    steps = baseline_steps(result)
    if not steps:
        return
    lineage = result.meta.get("fork")
    if isinstance(lineage, dict):  # its config is its exit branch's: forks start from its parent
        st.caption(f"This run is a fork of `{str(lineage.get('parent'))[:8]}`: fork from that run for more branches.")
        return
    key = result.meta["config_hash"]
    s = st.session_state
    if s.get("fork_parent") != key:  # another run: its own settings as the starting point
        _fill(result)
    with st.expander("Fork from this run", icon=":material/call_split:", expanded=bool(s.get("fork_error"))):
        st.caption(
            "A new exit branch from this run's baseline: the baseline is replayed to the chosen logged step "
            "and continues from there with the settings below. It is queued like any run and appears "
            "on the Branches page beside this run's other branches."
        )
        where = st.radio("Fork", list(WHERE), format_func=WHERE.get, horizontal=True, key="fork_where")
        if where == "step":
            st.select_slider("fork step", steps, key="fork_step", help="A logged step of the baseline.")
        else:
            threshold = branch_thresholds(result.meta["config"])["baseline"]
            st.number_input(
                f"F (fraction of {threshold.symbol} = {threshold.value:.4g})",
                min_value=0.01,
                max_value=float(KNOBS["onset_fraction"].high),
                step=0.05,
                key="fork_fraction",
            )
        cols = st.columns(len(CHANGES))
        for col, name in zip(cols, CHANGES):
            with col:
                field_widget(st, BY_NAME[name], "fork")
        extra = OPTIMISER_FIELD.get(s["fork_optimizer"])
        if extra:
            s.setdefault(f"fork_{extra}", result.meta["config"][extra])  # a hidden widget's state goes
            field_widget(st, BY_NAME[extra], "fork")
        if s.get("fork_error"):
            st.error(f"Not forked — {s['fork_error']}", icon=":material/block:")
        refused = access.locked()
        if st.button(
            "Fork",
            type="primary",
            icon=":material/call_split:",
            key="fork_submit",
            disabled=bool(refused),
            help=refused,
        ):
            _submit(result, where, [*CHANGES, *([extra] if extra else [])])
    forked = s.pop("forked", None)
    if forked:
        _say_queued(forked)


def _fill(result: Result) -> None:
    s, config = st.session_state, result.meta["config"]
    steps = baseline_steps(result)
    t_star = result.meta.get("t_star")
    s["fork_parent"] = result.meta["config_hash"]
    s["fork_step"] = t_star if t_star in steps else steps[len(steps) // 2]
    s["fork_fraction"] = float(config["onset_fraction"])
    s["fork_error"] = None
    for name in (*CHANGES, *OPTIMISER_FIELD.values()):
        s[f"fork_{name}"] = config[name]


def _submit(result: Result, where: str, names: list[str]) -> None:
    """Check and queue the fork; a refusal is kept for the panel to show after the rerun."""
    s = st.session_state
    changes = {name: CASTS.get(BY_NAME[name].widget, str)(s[f"fork_{name}"]) for name in names}
    try:
        step = s["fork_step"] if where == "step" else fork_step(result, at_sharpness=s["fork_fraction"])
        cfg, task = fork_task(result, step, changes)
        fits_here(cfg)
    except (ForkError, ConfigError, ResourceError) as error:
        s["fork_error"] = str(error)
        st.rerun()
    queue = get_queue()
    try:
        job = queue.submit(cfg, task=task, owner=access.owner())
    except QueueFull as error:
        s["fork_error"] = str(error)
        st.rerun()
    s["fork_error"] = None
    ensure_worker(queue)
    s["watching"] = list(dict.fromkeys([job["id"], *s.get("watching", [])]))
    s["forked"] = job["id"]
    st.rerun()


def _say_queued(job_id: str) -> None:
    job = get_queue().job(job_id) or {}
    task = job.get("task")
    if task is None:
        st.success("That is this run's own exit branch: nothing new to train.", icon=":material/check_circle:")
    elif job.get("state") in JobState.RESULT:
        st.success(f"This fork is stored already: `{job_id[:8]}`.", icon=":material/check_circle:")
    else:
        st.success(f"Fork `{job_id[:8]}` at step {task['step']}: {job.get('state')}.", icon=":material/call_split:")
        label = "Follow it live on the Experiment page"
        st.page_link(page("experiment").file, label=label, icon=":material/monitoring:")

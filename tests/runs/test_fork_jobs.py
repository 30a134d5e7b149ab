"""Fork jobs: a new exit branch from a stored run goes through the queue and a worker like any run —
refused at submit with a clear message and nothing queued, submitted once, keyed by its lineage
before it trains, followed live, cancelled, and recovered when its worker dies."""

import os
import signal

import pytest
from harness import wait_for
from tiny import TINY

from eos_core.analysis.lineage import fork_hash, task_of
from eos_core.config import ConfigError, ForkError
from eos_core.runs.keys import Keys
from eos_core.runs.worker import worker_main

LONG = TINY.replace(steps=300)  # a fork that lasts long enough to be caught running


@pytest.fixture
def parent(store, tiny_run):
    """TINY's result, stored."""
    result = tiny_run(TINY)
    store.put_result(result)
    return result


def test_bad_forks_are_refused_at_submit_and_nothing_is_queued(store, queue, parent, tiny_run):
    key = parent.meta["config_hash"]
    child = tiny_run(TINY)  # stands in for a fork of the parent: its config is its exit branch's
    child.meta.update(config_hash="0123456789abcdef0125", fork={"parent": key, "step": 10})
    store.put_result(child)
    refusals = [
        ("0123456789abcdef0123", 5, {}, ForkError, "is not in this cache"),
        (key, 3, {}, ForkError, r"step 3 is not a logged baseline step: .* 0–60 every 5 steps"),
        (key, 10, {"dataset": "digits"}, ForkError, "a fork cannot change dataset"),
        (key, 10, {"c": 2.0}, ConfigError, "exit factor must lie in"),
        ("0123456789abcdef0125", 10, {}, ForkError, f"this run is itself a fork of {key}: fork from that run"),
    ]
    for parent_hash, step, changes, error, message in refusals:
        with pytest.raises(error, match=message):
            queue.submit_fork(parent_hash, step, changes)
    store.cache.set(Keys.result("0123456789abcdef0124"), b"not a zip")
    with pytest.raises(ForkError, match="cannot be read"):
        queue.submit_fork("0123456789abcdef0124", 5, {})
    assert queue.jobs() == []


def test_a_fork_is_keyed_by_its_lineage_before_it_runs_and_submitted_once(store, queue, parent):
    key = parent.meta["config_hash"]
    job = queue.submit_fork(key, 40, {"c": 0.25})
    cfg = TINY.replace(c=0.25)
    assert job["id"] == fork_hash(cfg.config_hash(), key, parent.meta["t_star"], 40, {"c": 0.25}) != key
    assert job["task"] == {"kind": "fork", "parent": key, "parent_t_star": 0, "step": 40, "changes": {"c": 0.25}}
    assert queue.submit_fork(key, 40, {"c": 0.25})["submitted"] == job["submitted"]
    assert [j["id"] for j in queue.jobs()] == [job["id"]]
    # at the parent's t*, changing nothing (c set to its own value) is the parent's run: done already
    same = queue.submit_fork(key, parent.meta["t_star"], {"c": TINY.c})
    assert same["id"] == key and same["state"] == "done" and same["from_cache"]


def test_a_job_record_without_a_task_is_a_run_and_an_unknown_kind_fails_at_once(store, queue, tiny_run):
    old = TINY.replace(seed=3)
    job = queue.submit(old)
    del job["task"]  # as every record written before tasks existed
    store.set_json(Keys.job(job["id"]), job)
    strange = queue.submit(TINY.replace(seed=4))
    store.set_json(Keys.job(strange["id"]), {**strange, "task": {"kind": "spectrum"}})
    assert worker_main(store.directory, once=True) == 2
    assert queue.job(job["id"])["state"] == "done" and store.has_result(job["id"])
    failed = queue.job(strange["id"])
    assert failed["state"] == "failed" and failed["failures"] == 1
    assert "cannot run a job of kind 'spectrum'" in failed["error"]


@pytest.mark.process
@pytest.mark.training
def test_a_fork_job_runs_on_a_worker_live_and_survives_its_workers_death(store, queue, workers, tiny_run):
    """Published live as it trains; its worker killed mid-way, a second worker takes it over and
    stores the fork under its lineage key, with the parent and fork point in its meta."""
    parent = tiny_run(LONG)
    store.put_result(parent)
    step = 100
    job = queue.submit_fork(parent.meta["config_hash"], step, {"c": 0.25, "loss": "ce"})
    lease = {"EOS_LEASE_S": 20, "EOS_HEARTBEAT_S": 0.5}
    first = workers(**lease)
    wait_for(lambda: (queue.live(job["id"]) or {}).get("trace"), what="the fork's live trace")
    assert queue.job(job["id"])["state"] == "running", "the fork finished before its worker was killed"
    os.kill(first.pid, signal.SIGKILL)
    workers(**lease)
    done = wait_for(lambda: (j := queue.job(job["id"]))["state"] == "done" and j, what="the fork to finish")
    assert done["lost"] == 1 and done["token"] == 2
    result = store.result(job["id"])
    assert result.meta["config_hash"] == job["id"]
    assert result.meta["fork"] == {
        "parent": parent.meta["config_hash"],
        "step": step,
        "t_eff": pytest.approx(step * LONG.lr),
        "parent_t_star": parent.meta["t_star"],
        "changes": {"c": 0.25, "loss": "ce"},
    }
    exit_ = result.trace[result.trace.branch == "exit"]
    assert exit_.step.iloc[0] == step and exit_.lr.iloc[0] == pytest.approx(0.25 * LONG.lr)
    assert task_of(result.meta) == job["task"]  # a re-run repeats the same fork
    assert store.count("fork_trainings") == 1


@pytest.mark.process
@pytest.mark.training
def test_a_running_fork_job_is_cancelled_at_its_next_logged_step(store, queue, workers, tiny_run):
    parent = tiny_run(LONG)
    store.put_result(parent)
    job = queue.submit_fork(parent.meta["config_hash"], 50, {"c": 0.25})
    workers()
    wait_for(lambda: queue.job(job["id"]).get("step", 0) >= 10, what="the fork to be running")
    queue.cancel(job["id"])
    wait_for(lambda: queue.job(job["id"])["state"] == "cancelled", what="the fork to stop")
    assert not store.has_result(job["id"])

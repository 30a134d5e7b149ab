"""Exactly once under faults: leases with a fencing token, re-queue by any live worker, resume from
checkpoints, attempts, idle exit and clean stops. Every worker process a test starts is killed in
its fixture; every wait is on the store's state, with a generous ceiling."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from harness import ROOT, wait_for
from tiny import TINY

from eos_core.runs.fence import process_state, process_stopped
from eos_core.runs.queue import LostLease
from eos_core.runs.repair import check
from eos_core.runs.worker import HOST, MAX_LOST, recover_stale_jobs, worker_main
from eos_core.science.experiment import run_experiment

LONG = TINY.replace(steps=120, log_every=5)
# long enough that a starved test process cannot miss it running (LONG can end between two polls)
LONGER = TINY.replace(steps=600, log_every=5)


def job_of(queue, cfg):
    return queue.job(cfg.config_hash()) or {}


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def assert_same_result(got, expected):
    for name in ("trace", "groups", "examples"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True)
    files, reference = got.to_files(), expected.to_files()
    assert files.keys() == reference.keys()
    for name in files:  # every table and array, including any a later version adds
        if name != "meta.json":
            assert files[name] == reference[name], name


@pytest.mark.process
@pytest.mark.training
def test_paused_worker_never_touches_a_job_given_to_another(store, queue, workers):
    """SIGSTOP past the lease, a second worker takes over and finishes; SIGCONT: the first one
    finds it lost the job and stops it — one training, the done record and result untouched."""
    lease = {"EOS_LEASE_S": 4, "EOS_HEARTBEAT_S": 0.5, "EOS_CHECKPOINT_EVERY": 2}
    key = LONGER.config_hash()
    queue.submit(LONGER)
    first = workers(**lease)
    wait_for(lambda: job_of(queue, LONGER).get("step", 0) >= 15 and job_of(queue, LONGER)["pid"] == first.pid)
    os.kill(first.pid, signal.SIGSTOP)
    assert job_of(queue, LONGER)["state"] == "running", "the job finished before the worker could be paused"
    second = workers(**lease)
    done = wait_for(lambda: job_of(queue, LONGER).get("state") == "done" and job_of(queue, LONGER))
    assert done["token"] == 2
    result_zip = store.result_zip(key)
    # stopped inside a store transaction, the first worker held the write lock and was fenced
    # (killed: see the next test); stopped anywhere else, it resumes and finds its lease lost
    if first.poll() is None:
        os.kill(first.pid, signal.SIGCONT)
        wait_for(
            lambda: any(key in w.get("lost_jobs", []) for w in queue.workers() if w["pid"] == first.pid),
            what="the resumed worker to notice its lost lease",
        )
        assert first.poll() is None
    assert queue.job(key) == done
    assert store.result_zip(key) == result_zip
    assert store.count("exit_trainings") == 1
    assert second.poll() is None


STOPPED_IN_A_TRANSACTION = """
import os, signal, sys, time
from eos_core.runs.queue import Queue
from eos_core.runs.worker import HOST
queue = Queue(sys.argv[1])
store = queue.store
queue.set_worker({"pid": os.getpid(), "host": HOST, "started": time.time(), "heartbeat": time.time(),
                  "current": None, "lost_jobs": []})
with store.cache.transact():
    store.cache.set("written-while-stopped", "x")
    os.kill(os.getpid(), signal.SIGSTOP)
"""


@pytest.mark.process
@pytest.mark.training
def test_a_worker_stopped_inside_a_transaction_is_fenced_and_the_queue_moves_on(store, queue, workers):
    """SIGSTOP inside a store transaction keeps SQLite's write lock, so every writer — even the
    re-queue of its job — would wait for as long as it stays stopped. A live worker kills it after a
    lease; its half-written transaction is rolled back and the queue moves on."""
    queue.submit(TINY)
    stuck = subprocess.Popen(
        [sys.executable, "-c", STOPPED_IN_A_TRANSACTION, str(store.directory)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for(lambda: process_stopped(stuck.pid), what="the writer to stop inside its transaction")
        workers(EOS_LEASE_S=2, EOS_HEARTBEAT_S=0.5)
        wait_for(lambda: stuck.poll() is not None, what="the stopped writer to be fenced")
        assert stuck.returncode == -signal.SIGKILL
        wait_for(lambda: job_of(queue, TINY).get("state") == "done", what="the queued job to finish")
        assert store.cache.get("written-while-stopped") is None
    finally:
        if stuck.poll() is None:
            os.kill(stuck.pid, signal.SIGCONT)
            stuck.kill()
        stuck.wait()


@pytest.mark.process
@pytest.mark.training
def test_a_dead_workers_job_is_requeued_by_a_live_worker(store, queue, workers):
    """No new worker starts: the surviving one notices the dead pid (long before any lease)."""
    slow_lease = {"EOS_LEASE_S": 1000, "EOS_HEARTBEAT_S": 0.5}
    queue.submit(LONGER)
    first = workers(**slow_lease)
    wait_for(lambda: job_of(queue, LONGER).get("pid") == first.pid)
    second = workers(**slow_lease)
    wait_for(
        lambda: any(w["pid"] == second.pid and w.get("started") for w in queue.workers()),
        what="the second worker to be up",
    )
    # LONGER, not LONG: on a loaded machine the first worker could finish a shorter job before the kill
    assert job_of(queue, LONGER)["state"] == "running", "the job finished before its worker was killed"
    first.kill()
    first.wait()
    job = wait_for(
        lambda: job_of(queue, LONGER).get("pid") == second.pid or job_of(queue, LONGER)["state"] == "done",
        timeout=120,
        what="the job to move to the live worker",
    )
    assert job
    job = wait_for(lambda: job_of(queue, LONGER).get("state") == "done" and job_of(queue, LONGER))
    assert job["lost"] == 1 and job["token"] == 2


@pytest.mark.process
@pytest.mark.training
def test_a_killed_worker_left_a_zombie_by_its_parent_loses_its_job_within_a_lease(store, queue, workers):
    """The fixture holds its workers' Popen objects and never polls them, like any parent that starts
    workers: killed, a worker stays a zombie, which os.kill(pid, 0) still finds. A zombie is dead —
    the live worker takes its job over within a lease, not after HUNG_LEASES of them."""
    lease = {"EOS_LEASE_S": 20, "EOS_HEARTBEAT_S": 0.5}
    queue.submit(LONGER)
    first = workers(**lease)
    wait_for(lambda: job_of(queue, LONGER).get("pid") == first.pid, what="the first worker to claim the job")
    second = workers(**lease)
    wait_for(
        lambda: any(w["pid"] == second.pid and w.get("started") for w in queue.workers()),
        what="the second worker to be up",
    )
    os.kill(first.pid, signal.SIGKILL)
    killed = time.time()
    wait_for(lambda: process_state(first.pid) == "Z", what="the killed worker to be a zombie")
    assert job_of(queue, LONGER)["state"] in ("running", "queued"), "the job finished before its worker was killed"
    wait_for(
        lambda: job_of(queue, LONGER).get("lost", 0) >= 1,
        timeout=2 * lease["EOS_LEASE_S"],
        what="the zombie's job to be re-queued",
    )
    recovered = time.time() - killed
    print(f"re-queued {recovered:.1f} s after the kill")
    assert recovered < lease["EOS_LEASE_S"]
    job = wait_for(
        lambda: job_of(queue, LONGER).get("state") == "done" and job_of(queue, LONGER),
        what="the job to finish on the live worker",
    )
    assert job["lost"] == 1 and job["token"] == 2 and second.poll() is None  # finished by the live worker
    assert first.poll() == -signal.SIGKILL  # a zombie until now: nothing had reaped it


def test_a_kill_after_the_commit_does_not_retrain(store, queue, tiny_run):
    """The result is stored but the job record still says running under a dead worker."""
    result = tiny_run(TINY)
    queue.submit(TINY)
    queue.claim_next(dead_pid(), HOST)
    store.put_result(result)
    assert worker_main(store.directory, once=True) == 0
    job = queue.job(TINY.config_hash())
    assert job["state"] == "done"
    assert store.count("baseline_trainings") == 0 and store.count("exit_trainings") == 0
    assert store.result(TINY.config_hash()).meta == result.meta


@pytest.mark.process
@pytest.mark.training
def test_a_kill_in_the_exit_branch_resumes_from_the_fork_and_ends_identical(store, queue, workers, monkeypatch):
    monkeypatch.setenv("EOS_CHECKPOINT_EVERY", "2")
    queue.submit(LONG)
    worker = workers(EOS_CHECKPOINT_EVERY=2)
    wait_for(lambda: job_of(queue, LONG).get("branch") == "exit" and job_of(queue, LONG)["step"] >= 30)
    worker.kill()
    worker.wait()
    baseline_steps = store.count("baseline_steps")
    assert store.count("baseline_trainings") == 1 and baseline_steps > 0  # stored before the exit began
    assert worker_main(store.directory, once=True) == 1
    assert store.count("baseline_trainings") == 1 and store.count("baseline_steps") == baseline_steps
    exit_steps = store.count("exit_steps")
    assert 0 < exit_steps <= LONG.steps - 30  # resumed at step 30 or later
    assert store.keys("ckpt/") == []  # checkpoints go with the commit
    assert_same_result(store.result(LONG.config_hash()), run_experiment(LONG))


def test_a_job_that_raises_fails_after_three_attempts_with_its_message(store, queue, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("the job's own error")

    monkeypatch.setattr("eos_core.runs.worker.execute", broken)
    queue.submit(TINY)
    worker_main(store.directory, once=True)
    job = queue.job(TINY.config_hash())
    assert len(calls) == 3
    assert job["state"] == "failed" and job["failures"] == 3 and job["lost"] == 0
    assert job["error"] == "RuntimeError: the job's own error"


def test_a_job_too_big_for_this_machine_fails_at_once_with_the_estimate(store, queue, monkeypatch):
    monkeypatch.setattr("eos_core.resources.available_bytes", lambda device: 10**6)  # 1 MB free
    queue.submit(TINY)
    worker_main(store.directory, once=True)
    job = queue.job(TINY.config_hash())
    assert job["state"] == "failed" and job["failures"] == 1, job
    assert job["error"].startswith("this run needs an estimated") and "cpu has 1 MB available" in job["error"]
    assert store.result(TINY.config_hash()) is None


def test_vanished_workers_requeue_up_to_a_cap(store, queue):
    queue.submit(TINY)
    for _lost in range(MAX_LOST):
        queue.claim_next(dead_pid(), HOST)
        assert recover_stale_jobs(queue) == [TINY.config_hash()]
    assert queue.job(TINY.config_hash())["lost"] == MAX_LOST
    queue.claim_next(dead_pid(), HOST)
    assert recover_stale_jobs(queue) == []
    job = queue.job(TINY.config_hash())
    assert job["state"] == "failed" and f"vanished {MAX_LOST + 1} times" in job["error"]


def test_expired_lease_elsewhere_is_requeued_and_its_writes_are_fenced(store, queue, tiny_run):
    queue.submit(TINY)
    _job, lease = queue.claim_next(12345, "another-host", lease_s=0.0)
    assert recover_stale_jobs(queue) == [TINY.config_hash()]
    with pytest.raises(LostLease):
        queue.progress(lease, {"trace": [], "groups": []}, 60.0, step=5)
    with pytest.raises(LostLease):
        queue.commit(lease, tiny_run(TINY))
    assert store.result_hashes() == [] and queue.job(TINY.config_hash())["state"] == "queued"


@pytest.mark.process
@pytest.mark.training
def test_sigterm_requeues_the_running_job_at_once(store, queue, workers):
    queue.submit(LONG)
    worker = workers(EOS_LEASE_S=1000)
    wait_for(lambda: job_of(queue, LONG).get("step", 0) >= 5)
    worker.terminate()
    assert worker.wait(timeout=120) == 0
    job = queue.job(LONG.config_hash())
    assert job["state"] == "queued" and job["lost"] == 0 and job["failures"] == 0
    assert queue.workers() == []


@pytest.mark.process
@pytest.mark.training
def test_an_on_demand_worker_exits_when_idle_and_a_manual_one_does_not(store, queue, workers):
    idle = workers("--idle-exit", "1")
    manual = workers()
    assert idle.wait(timeout=300) == 0
    wait_for(lambda: any(w["pid"] == manual.pid for w in queue.workers()), what="the manual worker")
    assert manual.poll() is None


def test_orphan_value_files_are_removed_at_start_up_and_by_check(store):
    store.cache.set("kept", b"x" * 100_000)  # a real value file
    old = store.directory / "ab" / "cd" / "orphan.val"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"half a write")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    young = store.directory / "ab" / "cd" / "young.val"
    young.write_bytes(b"a write about to commit")
    worker_main(store.directory, once=True)
    assert not old.exists() and young.exists() and store.cache.get("kept") == b"x" * 100_000
    assert any("young.val" in line for line in check(store, min_age_s=0))
    assert not young.exists()


def test_ownership_on_this_host_goes_by_the_pid_and_elsewhere_by_the_lease(store):
    from eos_core.runs.worker import abandoned, lease_s, pid_alive

    now = time.time()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        late = {"host": HOST, "pid": sleeper.pid, "lease_until": now - 1}
        assert not abandoned({**late, "lease_until": now + 10}, now)
        assert not abandoned(late, now)  # running, only late: a busy machine
        assert abandoned(late, now + 10 * lease_s())  # silent for many leases: hung
        sleeper.send_signal(signal.SIGSTOP)
        wait_for(lambda: process_state(sleeper.pid) == "T")
        assert abandoned(late, now) and not abandoned({**late, "lease_until": now + 10}, now)
        assert abandoned({"host": HOST, "pid": dead_pid(), "lease_until": now + 100}, now)
        zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exited, not reaped
        try:
            wait_for(lambda: process_state(zombie.pid) == "Z")
            assert not pid_alive(zombie.pid)
            assert abandoned({"host": HOST, "pid": zombie.pid, "lease_until": now + 100}, now)
        finally:
            zombie.wait()
        assert abandoned({"host": "elsewhere", "pid": sleeper.pid, "lease_until": now - 1}, now)
        assert not abandoned({"host": "elsewhere", "pid": 1, "lease_until": now + 10}, now)
    finally:
        sleeper.kill()
        sleeper.wait()

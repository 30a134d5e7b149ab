"""Jobs owned by browser sessions: a cap per owner, a fair order across owners, one running job per
owner however many workers claim, and changes (cancel, retry, delete) only by a job's own session."""

import json
import os
import threading

import pytest

from eos_core.presets import preset
from eos_core.runs.keys import Keys
from eos_core.runs.queue import OWNER_CAP, NotYours, Queue, QueueFull, owner_cap
from eos_core.runs.store import Store

BASE = preset("synthetic-mini")


def configs(n: int, first_seed: int = 0):
    return [BASE.replace(seed=first_seed + i) for i in range(n)]


def finish(queue: Queue, claimed) -> str:
    job, lease = claimed
    queue.finish(lease, state="done")
    return job["owner"]


def test_an_owner_past_its_cap_is_refused_and_nothing_is_queued(queue):
    for cfg in configs(OWNER_CAP):
        queue.submit(cfg, owner="alice")
    extra = BASE.replace(seed=99)
    with pytest.raises(QueueFull, match=f"already has {OWNER_CAP} runs"):
        queue.submit(extra, owner="alice")
    assert queue.job(extra.config_hash()) is None
    assert queue.room("alice") == 0
    assert queue.submit(extra, owner="bob")["owner"] == "bob"  # another session is not held back
    assert queue.submit(configs(1)[0], owner="alice")["state"] == "queued"  # its own, already queued: no new job
    assert queue.room(None) is None  # the operator (CLI) has no cap
    queue.submit(BASE.replace(seed=100))


def test_a_finished_job_frees_its_place_under_the_cap(queue):
    cfgs = configs(OWNER_CAP + 1)
    for cfg in cfgs[:OWNER_CAP]:
        queue.submit(cfg, owner="alice")
    queue.cancel(cfgs[0].config_hash(), by="alice")
    assert queue.room("alice") == 1
    assert queue.submit(cfgs[-1], owner="alice")["state"] == "queued"


def test_the_cap_is_overridable_for_a_lab(monkeypatch):
    assert owner_cap() == OWNER_CAP
    monkeypatch.setenv("EOS_JOBS_PER_SESSION", "5")
    assert owner_cap() == 5
    monkeypatch.setenv("EOS_JOBS_PER_SESSION", "nonsense")  # a bad value keeps the default
    assert owner_cap() == OWNER_CAP


def test_a_session_queuing_three_does_not_starve_one_queuing_one(queue):
    for cfg in configs(3):
        queue.submit(cfg, owner="alice")
    queue.submit(BASE.replace(seed=50), owner="bob")
    served = []
    while claimed := queue.claim_next(pid=os.getpid()):
        served.append(finish(queue, claimed))
    assert served == ["alice", "bob", "alice", "alice"]


def test_round_robin_goes_to_the_owner_served_least_recently(queue):
    """alice, bob and carol queue two each, in that order of owners but interleaved submissions:
    the claims take one from each in turn, whoever submitted first."""
    for i, cfg in enumerate(configs(6)):
        queue.submit(cfg, owner=("carol", "carol", "alice", "bob", "alice", "bob")[i])
    queue.submit(BASE.replace(seed=70))  # an unowned (CLI) job takes a turn like an owner
    served = []
    while claimed := queue.claim_next(pid=os.getpid()):
        served.append(finish(queue, claimed))
    assert served == ["carol", "alice", "bob", None, "carol", "alice", "bob"]


def test_an_owner_never_has_two_running_jobs_with_two_claimers(store):
    """Two claimers (each its own connection to the store, as two workers have) claim at once,
    repeatedly: alice's two jobs never run together; bob's one runs beside hers."""
    queue = Queue(store)
    for cfg in configs(2):
        queue.submit(cfg, owner="alice")
    queue.submit(BASE.replace(seed=40), owner="bob")
    claimers = [Queue(Store(store.directory)) for _ in range(2)]
    barrier = threading.Barrier(len(claimers))
    claims = []

    def claim(q):
        barrier.wait()
        claims.append(q.claim_next(pid=os.getpid()))

    threads = [threading.Thread(target=claim, args=(q,)) for q in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job["owner"] for job, _ in claims) == ["alice", "bob"]
    assert claimers[0].claim_next(pid=os.getpid()) is None  # alice's second waits for her first
    finish(queue, next(c for c in claims if c[0]["owner"] == "alice"))
    assert claimers[1].claim_next(pid=os.getpid())[0]["owner"] == "alice"
    for q in claimers:
        q.close()


def test_a_session_cannot_cancel_or_retry_another_sessions_job(queue):
    cfg = configs(1)[0]
    key = cfg.config_hash()
    queue.submit(cfg, owner="alice")
    with pytest.raises(NotYours, match="another browser session"):
        queue.cancel(key, by="bob")
    assert queue.job(key)["state"] == "queued"
    with pytest.raises(NotYours):
        queue.submit(cfg, force=True, owner="bob")
    assert queue.job(key)["owner"] == "alice"
    assert queue.cancel(key, by="alice")["state"] == "cancelled"
    assert queue.submit(cfg, force=True, owner="alice")["state"] == "queued"  # her retry


def test_unowned_jobs_can_be_changed_by_any_session_and_the_operator_changes_all(queue):
    unowned, owned = configs(2)
    queue.submit(unowned)
    queue.submit(owned, owner="alice")
    assert queue.cancel(unowned.config_hash(), by="bob")["state"] == "cancelled"
    assert queue.cancel(owned.config_hash())["state"] == "cancelled"  # by None: the CLI


def test_a_job_record_written_before_owners_reads_back_unowned(store, queue):
    cfg = configs(1)[0]
    record = queue.submit(cfg)
    del record["owner"]
    store.set_json(Keys.job(cfg.config_hash()), record)
    job = queue.job(cfg.config_hash())
    assert job is not None and job.get("owner") is None
    assert queue.cancel(cfg.config_hash(), by="bob")["state"] == "cancelled"
    assert store.problems == []


def test_a_record_with_a_malformed_owner_is_set_aside(store, queue):
    cfg = configs(1)[0]
    record = queue.submit(cfg)
    store.cache.set(Keys.job(cfg.config_hash()), json.dumps({**record, "owner": 7}))
    assert queue.job(cfg.config_hash()) is None
    assert "owner" in store.problems[0].message

"""The one key scheme (runs/keys.py), job records in the format older versions wrote, and the
store's structured problems. Fast: no training."""

import json
import pathlib
import re

import pytest
from tiny import TINY

from eos_core.runs.disk import ProblemCode
from eos_core.runs.keys import Keys
from eos_core.runs.queue import JobState, Queue
from eos_core.runs.store import Store

ROOT = pathlib.Path(__file__).resolve().parents[2]
H = "0123456789abcdef0123"
# a key built by hand: a kind's prefix followed by an identifier, a placeholder or the closing quote
SPELLED = re.compile(
    r"""["'](result|meta|baseline|job|live|note|ckpt|worker|count|spectra)/(\{|["']|baseline/|exit/)"""
)


@pytest.mark.parametrize(
    "build, kind, text",
    [
        (Keys.result, "result", f"result/{H}"),
        (Keys.meta, "meta", f"meta/{H}"),
        (Keys.baseline, "baseline", f"baseline/{H}"),
        (Keys.job, "job", f"job/{H}"),
        (Keys.live, "live", f"live/{H}"),
        (Keys.note, "note", f"note/{H}"),
        (Keys.ckpt_baseline, "ckpt/baseline", f"ckpt/baseline/{H}"),
        (Keys.ckpt_exit, "ckpt/exit", f"ckpt/exit/{H}"),
        (Keys.count, "count", "count/baseline_trainings"),
        (Keys.spectra, "spectra", f"spectra/{H}"),
    ],
)
def test_every_kind_of_key_round_trips(build, kind, text):
    ident = text.split("/")[-1]
    assert build(ident) == text == Keys.of(kind, ident)
    assert Keys.parse(text) == (kind, ident) and Keys.ident(text) == ident
    assert text.startswith(Keys.prefix(kind))


def test_worker_keys_round_trip_with_a_colon_in_the_host():
    key = Keys.worker("node-1:rack", 4242)
    assert key == "worker/node-1:rack:4242"
    assert Keys.parse(key) == ("worker", "node-1:rack:4242")
    assert Keys.worker_of(key) == ("node-1:rack", 4242)


def test_keys_outside_the_scheme_are_refused():
    for key in ("results/abc", "ckpt/other/abc", "", "job"):
        with pytest.raises(ValueError):
            Keys.parse(key)
    with pytest.raises(ValueError):
        Keys.of("ckpt", H)
    with pytest.raises(ValueError):
        Keys.worker_of(Keys.job(H))


def test_only_keys_and_disk_spell_the_scheme_or_query_the_table():
    """Every other module builds keys with Keys and reads raw rows through disk.py."""
    for path in (ROOT / "eos_core").rglob("*.py"):
        if path.name in ("keys.py", "disk.py"):
            continue
        text = path.read_text()
        assert not SPELLED.search(text), (path, SPELLED.search(text))
        assert "FROM Cache" not in text and "_sql(" not in text, path


def test_job_states_are_stored_as_their_plain_text(queue):
    job = queue.submit(TINY)
    raw = queue.store.cache.get(Keys.job(TINY.config_hash()))
    assert json.loads(raw)["state"] == "queued" and '"state": "queued"' in raw
    assert job["state"] == JobState.QUEUED == "queued" and f"{job['state']}" == "queued"
    assert set(JobState.ACTIVE) | set(JobState.FINISHED) == set(JobState)
    assert not set(JobState.ACTIVE) & set(JobState.FINISHED)


def test_a_job_record_in_the_old_format_is_read_back_and_claimed(queue):
    """A record exactly as versions before JobState wrote it: plain JSON, the state a plain string."""
    key = TINY.config_hash()
    old = {
        "id": key,
        "config": TINY.to_dict(),
        "state": "queued",
        "submitted": 1700000000.0,
        "attempts": 0,
        "token": 0,
        "failures": 0,
        "lost": 0,
        "pid": None,
        "heartbeat": None,
        "lease_until": None,
        "step": 0,
        "total": TINY.steps,
        "phase": None,
        "error": None,
        "cancel_requested": False,
        "from_cache": False,
        "started": None,
        "finished": None,
    }
    queue.store.cache.set(Keys.job(key), json.dumps(old))
    assert queue.job(key) == old and queue.queue_position(key) == 1
    assert queue.submit(TINY) == old  # queued already: not submitted twice
    job, lease = queue.claim_next(4242, "here")
    assert job["id"] == key and job["state"] == JobState.RUNNING and lease.token == 1
    assert json.loads(queue.store.cache.get(Keys.job(key)))["state"] == "running"
    assert queue.finish(lease, state=JobState.CANCELLED)["state"] == "cancelled"
    assert queue.store.problems == []


def test_problems_carry_a_code_and_the_key(queue):
    store = queue.store
    store.cache.set(Keys.meta("noconfig"), json.dumps({"config_hash": "noconfig", "status": "done"}))
    store.cache.set(Keys.meta("garbled"), "{not json")
    store.cache.set(Keys.job("partial"), json.dumps({"id": "partial", "state": "queued"}))
    assert store.metas() == [] and queue.jobs() == []
    codes = {p.key: p.code for p in store.problems}
    assert codes == {
        Keys.meta("noconfig"): ProblemCode.UNLISTED,
        Keys.meta("garbled"): ProblemCode.UNLISTED,
        Keys.job("partial"): ProblemCode.QUARANTINED,
    }
    assert all(str(p) == p.message for p in store.problems)
    store.metas()  # met again: reported once
    assert len(store.problems) == 3


def test_a_corrupt_stored_result_is_reported_as_recomputed(queue):
    key = TINY.config_hash()
    queue.store.cache.set(Keys.result(key), b"PK\x03\x04 not really a zip")
    assert queue.submit(TINY)["state"] == JobState.QUEUED
    [problem] = queue.store.problems
    assert problem.code == ProblemCode.RECOMPUTED and problem.key == Keys.result(key)
    assert "could not be read back" in problem.message


def test_the_store_alone_holds_no_job_methods(tmp_path):
    """Storage apart from queue semantics: jobs are reached through Queue only."""
    store = Store(tmp_path / "cache")
    try:
        for name in ("submit", "jobs", "claim_next", "commit", "cancel", "recover", "workers"):
            assert not hasattr(store, name), name
            assert hasattr(Queue, name), name
    finally:
        store.close()

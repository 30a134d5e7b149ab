"""The disk store: deduplicated submission, atomic results, corrupt and planted entries."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import diskcache
import pandas as pd
import pytest
from harness import ROOT, wait_for
from tiny import TINY

from eos_core.runs.store import CorruptEntry, Store
from eos_core.runs.worker import worker_main
from eos_core.science.experiment import run_experiment


def cli(store, *args):
    env = {**os.environ, "EOS_CACHE_DIR": str(store.directory)}
    return subprocess.Popen(
        [sys.executable, "-m", "eos_core", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tiny_args(cfg=TINY):
    def text(v):
        return ",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)

    return ["--preset", "teach-digits"] + [f"--set={k}={text(v)}" for k, v in cfg.to_dict().items()]


def test_cache_folder_is_private(store):
    assert (store.directory.stat().st_mode & 0o777) == 0o700


@pytest.mark.process
@pytest.mark.training
def test_two_processes_submitting_one_config_train_it_once(store, queue):
    submitters = [cli(store, "submit", *tiny_args()) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in submitters]
    assert all(p.returncode == 0 for p in submitters), outputs
    assert len(queue.jobs()) == 1
    assert worker_main(store.directory, once=True) == 1
    assert store.count("baseline_trainings") == 1 and store.count("exit_trainings") == 1
    assert queue.job(TINY.config_hash())["state"] == "done"
    assert queue.submit(TINY)["state"] == "done"  # a done config is not queued again
    assert store.count("baseline_trainings") == 1


def test_result_round_trips_through_the_store(store, tiny_run):
    result = tiny_run(TINY)
    store.put_result(result)
    loaded = store.result(TINY.config_hash())
    pd.testing.assert_frame_equal(loaded.trace, result.trace, check_exact=True)
    assert loaded.meta == result.meta


@pytest.mark.training
def test_corrupt_entry_is_reported_and_recomputed_on_request(store, queue, tiny_run):
    result = tiny_run(TINY)
    key = TINY.config_hash()
    store.cache.set(f"result/{key}", result.to_zip()[:1000])  # truncated bytes
    with pytest.raises(CorruptEntry, match=f"result/{key}: result is corrupt"):
        store.result(key)
    assert queue.submit(TINY, force=True)["state"] == "queued"
    assert store.result(key) is None
    worker_main(store.directory, once=True)
    pd.testing.assert_frame_equal(store.result(key).trace, result.trace, check_exact=True)


def test_truncated_value_file_is_reported(store, tiny_run):
    result = tiny_run(TINY)
    store.put_result(result)
    files = list(store.directory.rglob("*.val"))
    assert files, "large values live in files next to the SQLite index"
    for f in files:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CorruptEntry):
        store.result(TINY.config_hash())


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_pickle_is_never_executed(store, queue, tmp_path):
    marker = tmp_path / "pwned"
    planted = diskcache.Cache(str(store.directory))  # diskcache's default Disk pickles objects
    planted.set("result/abc", Exploit(str(marker)))
    planted.set("job/abc", Exploit(str(marker)))
    planted.set(("tuple", "key"), b"x")  # a pickled key
    planted.close()
    with pytest.raises(CorruptEntry, match="refusing to unpickle"):
        store.result("abc")
    assert queue.jobs() == []
    assert store.result_hashes() == ["abc"]
    assert not marker.exists()
    assert pickle.dumps(Exploit(str(marker)))  # the payload really is a pickle


def test_cancel_a_queued_job(store, queue):
    queue.submit(TINY)
    assert queue.cancel(TINY.config_hash())["state"] == "cancelled"
    assert worker_main(store.directory, once=True) == 0
    assert queue.submit(TINY)["state"] == "queued"  # a cancelled config can be queued again


LONG = TINY.replace(steps=3000, log_every=10, example_every=10)


@pytest.mark.process
@pytest.mark.training
def test_cancel_a_running_job_within_one_logged_step(store, queue, workers):
    queue.submit(LONG)
    worker = workers("--once")
    wait_for(lambda: (queue.job(LONG.config_hash()) or {}).get("step", 0) >= 20)
    queue.cancel(LONG.config_hash())
    job = wait_for(
        lambda: queue.job(LONG.config_hash())["state"] in ("cancelled", "done") and queue.job(LONG.config_hash()),
        timeout=30,
    )
    assert job["state"] == "cancelled" and job["step"] < LONG.steps
    assert store.result(LONG.config_hash()) is None
    assert worker.wait(timeout=30) == 0


@pytest.mark.process
@pytest.mark.training
def test_killed_worker_job_is_requeued_and_completes_identically(store, queue, workers):
    cfg = LONG.replace(steps=400)
    queue.submit(cfg)
    worker = workers()
    wait_for(lambda: (queue.job(cfg.config_hash()) or {}).get("step", 0) >= 30)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert queue.job(cfg.config_hash())["state"] == "running"  # its worker is dead
    live = queue.live(cfg.config_hash())
    assert live and len(live["trace"]) >= 3  # the partial trace is readable
    assert worker_main(store.directory, once=True) == 1  # re-queued at start-up, then run
    job = queue.job(cfg.config_hash())
    assert job["state"] == "done" and job["attempts"] == 2
    expected = run_experiment(cfg)
    got = store.result(cfg.config_hash())
    for name in ("trace", "groups", "examples"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=True)


@pytest.mark.process
def test_interrupted_write_leaves_no_half_result(store, tiny_run):
    result = tiny_run(TINY)
    blob = result.to_zip() * 300  # ~10 MB, so the write takes a while
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from eos_core.runs.store import Store; "
        f"s = Store({str(store.directory)!r}); data = open(sys.argv[1], 'rb').read()\n"
        "while True: s.cache.set('result/partial', data)"
    )
    payload = store.directory.parent / "payload.bin"
    payload.write_bytes(blob)
    for delay in (0.3, 0.5, 0.8):
        writer = subprocess.Popen([sys.executable, "-c", script, str(payload)])
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        seen = store.cache.get("result/partial")
        assert seen is None or seen == blob
    store.put_result(result)
    assert store.result(TINY.config_hash()).meta == result.meta


# -- a damaged store: one clear line, nothing silently recreated ------------------------------------
from eos_core.cli import main as cli_main  # noqa: E402
from eos_core.runs.store import StoreDamaged  # noqa: E402


def damage(directory, how):
    db = directory / "cache.db"
    if how == "empty":
        db.write_bytes(b"")
    elif how == "garbled":
        db.write_bytes(os.urandom(db.stat().st_size))
    else:  # truncated
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2 + 100])


@pytest.mark.parametrize("how", ["empty", "garbled", "truncated"])
def test_a_damaged_index_gives_one_line_on_every_verb(store, queue, how, monkeypatch, capsys):
    queue.submit(TINY)
    store.close()
    damage(store.directory, how)
    monkeypatch.setenv("EOS_CACHE_DIR", str(store.directory))
    size = (store.directory / "cache.db").stat().st_size
    for verb in (["status"], ["submit", *tiny_args()], ["worker", "--once"], ["cancel", "abc"], ["store", "--check"]):
        assert cli_main(verb) == 2, verb
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: the cache at {store.directory} is damaged: "), (verb, err)
        assert "store --rebuild" in err[0] and "Traceback" not in err[0]
    assert (store.directory / "cache.db").stat().st_size == size  # never silently recreated
    with pytest.raises(StoreDamaged):
        Store(store.directory)


def big_result(key: str):
    import numpy as np

    from eos_core.analysis.results import Result

    frame = pd.DataFrame({"step": [0, 1]})
    meta = {"config_hash": key, "config": TINY.to_dict(), "status": "done", "message": ""}
    return Result(meta, frame, frame, frame, {"noise": np.random.default_rng(0).random(20_000)})


def test_rebuild_moves_the_damaged_index_aside_and_reindexes_results(store, monkeypatch, capsys):
    store.put_result(big_result("abc"))
    store.close()
    damage(store.directory, "garbled")
    monkeypatch.setenv("EOS_CACHE_DIR", str(store.directory))
    assert cli_main(["store", "--rebuild"]) == 0
    assert "indexed the result abc" in capsys.readouterr().out
    assert list(store.directory.glob("cache.db.damaged-*"))
    fresh = Store(store.directory)
    assert fresh.result("abc").meta["config_hash"] == "abc"
    fresh.close()


def test_malformed_job_records_are_quarantined_and_never_block_the_queue(store, queue, monkeypatch, capsys):
    store.cache.set("job/list", json.dumps([1, 2]))
    store.cache.set("job/partial", json.dumps({"id": "partial", "state": "queued"}))
    planted = diskcache.Cache(str(store.directory))
    planted.set("job/pickled", {"id": "pickled"})
    planted.close()
    queue.submit(TINY)
    assert [j["id"] for j in queue.jobs()] == [TINY.config_hash()]
    assert len(store.problems) == 3 and all("moved aside" in p.message for p in store.problems)
    assert len(list((store.directory / "quarantine").iterdir())) == 3
    monkeypatch.setenv("EOS_CACHE_DIR", str(store.directory))
    store.cache.set("job/again", json.dumps("a string"))
    assert cli_main(["status"]) == 0
    out, err = capsys.readouterr()
    assert TINY.config_hash() in out and "job/again was malformed" in err
    job, _lease = queue.claim_next(os.getpid(), "here")
    assert job["id"] == TINY.config_hash()


def test_a_meta_without_config_is_skipped_with_a_warning(store):
    store.cache.set("meta/noconfig", json.dumps({"config_hash": "noconfig", "status": "done"}))
    assert store.metas() == []
    assert any("meta/noconfig" in p.message and "no config" in p.message for p in store.problems)


def test_submitting_a_config_whose_result_is_corrupt_recomputes_it(store, queue):
    key = TINY.config_hash()
    store.cache.set(f"result/{key}", b"PK\x03\x04 not really a zip")
    store.cache.set(f"meta/{key}", json.dumps({"config_hash": key, "config": TINY.to_dict()}))
    assert queue.submit(TINY)["state"] == "queued"
    assert store.result_hashes() == []


def test_an_existing_cache_folder_is_made_private(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    Store(folder).close()
    assert (folder.stat().st_mode & 0o777) == 0o700

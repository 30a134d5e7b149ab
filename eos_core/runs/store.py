"""The disk store: results, reusable baselines, checkpoints, job records and live traces in one
diskcache.

Everything is stored as bytes or JSON text and nothing is ever unpickled: `SafeDisk` refuses to
store anything else and refuses to read a pickled entry, so a file planted in the cache folder
cannot run code. SQLite underneath: keep the folder on a local disk, never on NFS.

Keys:  result/<config_hash>  meta/<config_hash>  baseline/<baseline_hash>  job/<config_hash>
       live/<config_hash>  ckpt/baseline/<baseline_hash>  ckpt/exit/<config_hash>
       worker/<host>:<pid> (each live worker's heartbeat)  count/<name> (training counters)

Jobs are leased, as in Celery's visibility timeout or Slurm's node leases: a claim writes a
fencing token (the claim's number) and a lease expiry; every write a worker makes for its job —
progress, checkpoints, the result — checks the token inside the same SQLite transaction and raises
`LostLease` if the job was given to someone else meanwhile. So a worker that was paused or cut off
can never write over a job another worker has taken or finished.

Torch-free: the dashboard process uses it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import re
import sqlite3
import sys
import time
from dataclasses import dataclass

import diskcache

from eos_core.config import RunConfig
from eos_core.analysis.results import Result, ResultError

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "diverged", "cancelled")
JOB_FIELDS = {"id": str, "config": dict, "state": str, "submitted": (int, float), "attempts": int,
              "step": int, "total": int}
INDEX = "cache.db"


class CorruptEntry(Exception):
    """A stored entry that cannot be read back (truncated, tampered with, or pickled)."""


class StoreDamaged(Exception):
    """The store's SQLite index itself is unreadable: nothing in the cache can be trusted."""

    def __init__(self, directory, reason):
        self.directory, self.reason = directory, reason
        super().__init__(f"the cache at {directory} is damaged: {reason}; move it away or run "
                         f"`python -m eos_core store --rebuild` to rebuild the index")


class LostLease(Exception):
    """The job this worker was running has been given to another worker (or finished)."""


@dataclass(frozen=True)
class Lease:
    job_id: str
    token: int     # the claim's number: a fencing token


class SafeDisk(diskcache.Disk):
    """diskcache's Disk with pickle removed from both directions."""

    def put(self, key):
        if not isinstance(key, str):
            raise TypeError(f"store keys are strings, not {type(key).__name__}")
        return super().put(key)

    UNREADABLE_KEY = "\x00unreadable pickled key"

    def get(self, key, raw):
        if not raw:   # a pickled key was planted: list it under a name that matches nothing
            return self.UNREADABLE_KEY
        return super().get(key, raw)

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if read or not isinstance(value, (bytes, str)):
            raise TypeError(f"store values are bytes or str, not {type(value).__name__}")
        return super().store(value, read, key)

    def fetch(self, mode, filename, value, read):
        if mode == diskcache.core.MODE_PICKLE:
            raise CorruptEntry("refusing to unpickle a stored value")
        return super().fetch(mode, filename, value, read)


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("EOS_CACHE_DIR", "cache"))


def is_damage(error: BaseException) -> bool:
    """SQLite's word for a broken file, as opposed to a busy one ("database is locked")."""
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError)


def make_private(directory: pathlib.Path) -> None:
    """Mode 0700 even for a folder that already existed with wider permissions (results and job
    records are nobody else's business); a clear warning where that is not possible."""
    try:
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
    except OSError as error:
        print(f"warning: could not make the cache folder {directory} private (mode 0700): {error}",
              file=sys.stderr)


def check_index(directory: pathlib.Path) -> None:
    """Refuse an index that SQLite would silently recreate (0 bytes) or cannot read."""
    db = directory / INDEX
    if not db.exists():
        return
    size = db.stat().st_size
    if size == 0:
        raise StoreDamaged(directory, f"{INDEX} is empty (0 bytes)")
    with open(db, "rb") as f:
        header = f.read(100)
    if not header.startswith(b"SQLite format 3\x00"):
        raise StoreDamaged(directory, f"{INDEX} is not an SQLite database")
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if len(header) < 100 or page < 512 or size % page:
        raise StoreDamaged(directory, f"{INDEX} is truncated ({size} bytes)")


class Store:
    def __init__(self, directory=None):
        self.directory = pathlib.Path(directory or cache_dir())
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private(self.directory)
        self.problems: list[str] = []   # malformed records met and set aside, for callers to show
        with open(self.directory / "cache.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # SQLite creates the index empty: never check one half-made
            check_index(self.directory)
            try:
                self.cache = diskcache.Cache(str(self.directory), disk=SafeDisk, eviction_policy="none",
                                             size_limit=2**62)
                verdict = self.cache._sql("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as error:
                if not is_damage(error):
                    raise
                raise StoreDamaged(self.directory, str(error)) from error
        if verdict != "ok":
            self.cache.close()
            raise StoreDamaged(self.directory, f"SQLite integrity check: {verdict}")

    def close(self):
        self.cache.close()

    def _problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)
            print(f"warning: {message}", file=sys.stderr)

    # -- raw entries ------------------------------------------------------------------------
    def _get(self, key: str):
        try:
            return self.cache.get(key)
        except CorruptEntry:
            raise
        except Exception as error:   # a damaged file or row: report it, never crash the reader
            if is_damage(error):
                raise StoreDamaged(self.directory, str(error)) from error
            raise CorruptEntry(f"{key}: {error}") from error

    def _read(self, key: str, parse, errors):
        """The entry at `key` decoded by `parse`, None if absent, CorruptEntry if undecodable."""
        raw = self._get(key)
        if raw is None:
            return None
        try:
            return parse(raw)
        except errors as error:
            raise CorruptEntry(f"{key}: {error}") from error

    def _get_json(self, key: str):
        return self._read(key, json.loads, ValueError)

    def _set_json(self, key: str, value) -> None:
        self.cache.set(key, json.dumps(value))

    def _keys(self, prefix: str) -> list[str]:
        return [k for k in list(self.cache.iterkeys()) if k.startswith(prefix)]

    def _records(self, prefix: str) -> list[dict]:
        """The JSON objects stored under `prefix`; unreadable or non-object entries are skipped."""
        out = []
        for key in self._keys(prefix):
            try:
                record = self._get_json(key)
            except CorruptEntry:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    # -- results ----------------------------------------------------------------------------
    def put_result(self, result: Result) -> None:
        """One zip per result, with its small meta beside it for listings, in one transaction:
        a reader sees the whole result or none of it."""
        key = result.meta["config_hash"]
        with self.cache.transact():
            self.cache.set(f"result/{key}", result.to_zip())
            self._set_json(f"meta/{key}", result.meta)

    def metas(self) -> list[dict]:
        """The meta of every stored result (cheap: no tables are read). A meta that cannot be
        read or lacks its config is skipped with a warning in `problems`."""
        out = []
        for key in self._keys("meta/"):
            try:
                meta = self._get_json(key)
            except CorruptEntry as error:
                self._problem(f"skipped the result listing {key}: {error}")
                continue
            if meta is None:
                continue
            if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict) \
                    or not isinstance(meta.get("config_hash"), str):
                self._problem(f"skipped the result listing {key}: it has no config")
                continue
            out.append(meta)
        return out

    def result(self, config_hash: str) -> Result | None:
        return self._read(f"result/{config_hash}", Result.from_zip, ResultError)

    def result_zip(self, config_hash: str) -> bytes | None:
        return self._get(f"result/{config_hash}")

    def result_readable(self, config_hash: str) -> bool:
        try:
            return self.result(config_hash) is not None
        except CorruptEntry:
            return False

    def delete_result(self, config_hash: str) -> None:
        for prefix in ("result", "meta", "job", "live", "ckpt/exit", "note"):
            self.cache.delete(f"{prefix}/{config_hash}")

    def result_hashes(self) -> list[str]:
        return sorted(k.split("/", 1)[1] for k in self._keys("result/"))

    # -- notes: a user's name, tags and note for a run, outside its config hash --------------
    def notes(self) -> list[dict]:
        """Every readable note (an unreadable one is skipped: a note never blocks a listing)."""
        return self._records("note/")

    def note(self, config_hash: str) -> dict | None:
        return self._get_json(f"note/{config_hash}")

    def put_note(self, config_hash: str, note: dict | None) -> None:
        """Store `note` for the run, or remove it when None."""
        if note is None:
            self.cache.delete(f"note/{config_hash}")
        else:
            self._set_json(f"note/{config_hash}", note)

    # -- baselines and checkpoints ----------------------------------------------------------
    def put_baseline(self, baseline_hash: str, blob: bytes, lease: Lease | None = None,
                     counts: dict | None = None) -> None:
        """A finished baseline; with a lease, only while the lease holds (and its counters)."""
        with self._fenced(lease):
            self.cache.set(f"baseline/{baseline_hash}", blob)
            self.cache.delete(f"ckpt/baseline/{baseline_hash}")
            for name, add in (counts or {}).items():
                self.count(name, add)

    def baseline(self, baseline_hash: str) -> bytes | None:
        return self._get(f"baseline/{baseline_hash}")

    def put_checkpoint(self, key: str, blob: bytes, lease: Lease | None = None) -> None:
        with self._fenced(lease):
            self.cache.set(f"ckpt/{key}", blob)

    def checkpoint(self, key: str) -> bytes | None:
        return self._get(f"ckpt/{key}")

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, cfg: RunConfig, force: bool = False) -> dict:
        """Queue `cfg` unless it is already queued, running or done; returns its job record.

        Runs in one SQLite transaction, so concurrent submitters of one config get one job.
        `force` discards a stored result and queues the config again; so does a stored result
        that cannot be read back.
        """
        key = cfg.config_hash()
        stored = f"result/{key}" in self.cache
        if stored and not force and not self.result_readable(key):
            self._problem(f"the stored result {key} could not be read back; it is computed again")
            force = True
        with self.cache.transact():
            job = self.job(key)
            has_result = f"result/{key}" in self.cache
            if force:
                self.cache.delete(f"result/{key}")
                self.cache.delete(f"meta/{key}")
            elif job and (job["state"] in ACTIVE or (job["state"] in ("done", "diverged") and has_result)):
                return job
            elif has_result:
                job = _new_job(cfg, state="done")
                job["from_cache"] = True
                self._set_json(f"job/{key}", job)
                return job
            job = _new_job(cfg, token=(job or {}).get("token", 0))
            self._set_json(f"job/{key}", job)
            return job

    def job(self, config_hash: str) -> dict | None:
        return self._job(f"job/{config_hash}")

    def _job(self, key: str) -> dict | None:
        """A job record, or None; a malformed one is quarantined (see `quarantine`)."""
        try:
            job = self._get_json(key)
        except CorruptEntry as error:
            self.quarantine(key, str(error))
            return None
        if job is None:
            return None
        problem = job_problem(job, key)
        if problem:
            self.quarantine(key, problem)
            return None
        return job

    def jobs(self) -> list[dict]:
        jobs = [job for key in self._keys("job/") if (job := self._job(key))]
        return sorted(jobs, key=lambda j: j["submitted"])

    def update_job(self, config_hash: str, **fields) -> dict | None:
        with self.cache.transact():
            job = self.job(config_hash)
            if job is None:
                return None
            job.update(fields)
            self._set_json(f"job/{config_hash}", job)
            return job

    def claim_next(self, pid: int, host: str = "", lease_s: float = 60.0) -> tuple[dict, Lease] | None:
        """Atomically move the oldest queued job to running, leased to `pid` on `host` for
        `lease_s` seconds under a new fencing token. A queued job whose result is already stored
        (its worker died right after the commit) is marked done instead: no work is repeated."""
        with self.cache.transact():
            for job in self.jobs():
                if job["state"] != "queued":
                    continue
                if f"result/{job['id']}" in self.cache:
                    job.update(state="done", pid=None, finished=time.time(), from_cache=True)
                    self._set_json(f"job/{job['id']}", job)
                    continue
                now = time.time()
                token = int(job.get("token", 0)) + 1
                job.update(state="running", pid=pid, host=host, heartbeat=now, lease_until=now + lease_s,
                           started=now, token=token, attempts=job["attempts"] + 1, step=0,
                           phase="preparing", error=None)
                self._set_json(f"job/{job['id']}", job)
                return job, Lease(job["id"], token)
            return None

    def _owned(self, lease: Lease) -> dict:
        """The job record if `lease` still holds it; LostLease otherwise. Call inside a transaction."""
        job = self.job(lease.job_id)
        if job is None or job["state"] != "running" or job.get("token") != lease.token:
            now = "gone" if job is None else f"{job['state']} under attempt {job.get('token')}"
            raise LostLease(f"job {lease.job_id}: attempt {lease.token} no longer holds it ({now})")
        return job

    @contextlib.contextmanager
    def _fenced(self, lease: Lease | None):
        """One transaction in which `lease` (if any) is checked first."""
        with self.cache.transact():
            yield None if lease is None else self._owned(lease)

    def _write_owned(self, lease: Lease, **fields) -> dict:
        with self._fenced(lease) as job:
            job.update(fields)
            self._set_json(f"job/{lease.job_id}", job)
            return job

    def renew(self, lease: Lease, lease_s: float) -> dict:
        now = time.time()
        return self._write_owned(lease, heartbeat=now, lease_until=now + lease_s)

    def progress(self, lease: Lease, live: dict | None, lease_s: float, **fields) -> dict:
        """A logged step: the trace so far and the job's step, phase and lease, fenced."""
        with self._fenced(lease) as job:
            if live is not None:
                self._set_json(f"live/{lease.job_id}", live)
            now = time.time()
            job.update(fields, heartbeat=now, lease_until=now + lease_s, writes=job.get("writes", 0) + 1)
            self._set_json(f"job/{lease.job_id}", job)
            return job

    def commit(self, lease: Lease, result: Result, counts: dict | None = None, **fields) -> dict:
        """Result, meta, counters and the finished job record in one fenced transaction: once a
        result is stored its job is done, and a worker that lost its lease stores nothing."""
        key = result.meta["config_hash"]
        with self._fenced(lease) as job:
            self.cache.set(f"result/{key}", result.to_zip())
            self._set_json(f"meta/{key}", result.meta)
            self.cache.delete(f"ckpt/exit/{key}")
            for name, add in (counts or {}).items():
                self.count(name, add)
            job.update(fields, finished=time.time(), pid=None, lease_until=None, commits=job.get("commits", 0) + 1)
            self._set_json(f"job/{key}", job)
            return job

    def finish(self, lease: Lease, **fields) -> dict:
        """End the leased job without a result (cancelled, failed, or back to the queue)."""
        final = fields.get("state") in FINISHED
        return self._write_owned(lease, pid=None, lease_until=None,
                                 **({"finished": time.time()} if final else {}), **fields)

    def recover(self, abandoned, max_lost: int) -> list[str]:
        """Re-queue every running job for which `abandoned(job)` holds (its worker died or its
        lease expired). Each such loss is counted; past `max_lost` the job fails instead."""
        recovered = []
        with self.cache.transact():
            for job in self.jobs():
                if job["state"] != "running" or not abandoned(job):
                    continue
                lost = job.get("lost", 0) + 1
                if lost > max_lost:
                    job.update(state="failed", finished=time.time(), lost=lost, pid=None,
                               error=f"the worker running this job vanished {lost} times")
                else:
                    job.update(state="queued", lost=lost, pid=None, phase=None, lease_until=None)
                    recovered.append(job["id"])
                self._set_json(f"job/{job['id']}", job)
        return recovered

    def cancel(self, config_hash: str) -> dict | None:
        """A queued job is cancelled at once; a running one at its next logged step."""
        with self.cache.transact():
            job = self.job(config_hash)
            if job is None or job["state"] in FINISHED:
                return job
            if job["state"] == "queued":
                job.update(state="cancelled", finished=time.time())
            else:
                job["cancel_requested"] = True
            self._set_json(f"job/{config_hash}", job)
            return job

    def queue_position(self, config_hash: str) -> int | None:
        queued = [j["id"] for j in self.jobs() if j["state"] == "queued"]
        return queued.index(config_hash) + 1 if config_hash in queued else None

    # -- live traces, workers, counters -------------------------------------------------------
    def put_live(self, config_hash: str, live: dict) -> None:
        self._set_json(f"live/{config_hash}", live)

    def live(self, config_hash: str) -> dict | None:
        return self._get_json(f"live/{config_hash}")

    def set_worker(self, record: dict, gone: bool = False) -> None:
        """A worker's heartbeat record (pid, host, ...); `gone` removes it."""
        key = f"worker/{record['host']}:{record['pid']}"
        if gone:
            self.cache.delete(key)
        else:
            self._set_json(key, record)

    def workers(self) -> list[dict]:
        records = [r for r in self._records("worker/") if "pid" in r]
        return sorted(records, key=lambda r: r.get("heartbeat") or 0, reverse=True)

    def worker(self) -> dict | None:
        """The worker that heartbeat most recently, if any."""
        workers = self.workers()
        return workers[0] if workers else None

    def count(self, name: str, add: int = 0) -> int:
        key = f"count/{name}"
        with self.cache.transact():
            value = int(self._get(key) or "0") + add
            if add:
                self.cache.set(key, str(value))
            return value

    # -- malformed entries ------------------------------------------------------------------
    def _raw(self, key: str) -> bytes:
        """An entry's stored bytes, undecoded (never unpickled): what quarantine keeps."""
        rows = self.cache._sql("SELECT filename, value FROM Cache WHERE key = ? AND raw = 1", (key,)).fetchall()
        if not rows:
            return b""
        filename, value = rows[0]
        if filename:
            try:
                return (self.directory / filename).read_bytes()
            except OSError:
                return b""
        return value if isinstance(value, bytes) else str(value).encode()

    def quarantine(self, key: str, reason: str) -> None:
        """Move a malformed entry out of the way (its bytes kept under quarantine/) so that it
        can never block the queue or crash a listing."""
        folder = self.directory / "quarantine"
        target = folder / f"{re.sub(r'[^A-Za-z0-9._-]', '_', key)}-{time.time_ns()}.bin"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            target.write_bytes(self._raw(key))
            self.cache.delete(key)
        except (OSError, diskcache.Timeout) as error:
            self._problem(f"{key} is malformed ({reason}) and could not be moved aside: {error}")
            return
        self._problem(f"{key} was malformed ({reason}); moved aside to {target}")


def job_problem(job, key: str) -> str | None:
    """Why a decoded job record cannot be used, or None."""
    if not isinstance(job, dict):
        return f"a job record is a JSON object, not {type(job).__name__}"
    for field, kind in JOB_FIELDS.items():
        if not isinstance(job.get(field), kind) or isinstance(job.get(field), bool):
            return f"field {field!r} is missing or not {getattr(kind, '__name__', 'a number')}"
    if job["state"] not in ACTIVE + FINISHED:
        return f"unknown state {job['state'][:40]!r}"
    if f"job/{job['id']}" != key:
        return "its id does not match its key"
    return None


def _new_job(cfg: RunConfig, state: str = "queued", token: int = 0) -> dict:
    return {"id": cfg.config_hash(), "config": cfg.to_dict(), "state": state, "submitted": time.time(),
            "attempts": 0, "token": token, "failures": 0, "lost": 0, "pid": None, "heartbeat": None,
            "lease_until": None, "step": 0, "total": cfg.steps, "phase": None, "error": None,
            "cancel_requested": False, "from_cache": False, "started": None, "finished": None}

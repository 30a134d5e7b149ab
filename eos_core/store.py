"""The disk store: results, reusable baselines, job records and live traces in one diskcache.

Everything is stored as bytes or JSON text and nothing is ever unpickled: `SafeDisk` refuses to
store anything else and refuses to read a pickled entry, so a file planted in the cache folder
cannot run code. SQLite underneath: keep the folder on a local disk, never on NFS.

Keys:  result/<config_hash>  meta/<config_hash>  baseline/<baseline_hash>  job/<config_hash>
       live/<config_hash>
       worker (the live worker's pid and heartbeat)  count/<name> (training counters)

Torch-free: the dashboard process uses it.
"""
from __future__ import annotations

import json
import os
import pathlib
import time

import diskcache

from .config import RunConfig
from .results import Result, ResultError

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "diverged", "cancelled")


class CorruptEntry(Exception):
    """A stored entry that cannot be read back (truncated, tampered with, or pickled)."""


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


class Store:
    def __init__(self, directory=None):
        self.directory = pathlib.Path(directory or cache_dir())
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.cache = diskcache.Cache(str(self.directory), disk=SafeDisk, eviction_policy="none",
                                     size_limit=2**62)

    def close(self):
        self.cache.close()

    # -- raw entries ------------------------------------------------------------------------
    def _get(self, key: str):
        try:
            return self.cache.get(key)
        except CorruptEntry:
            raise
        except Exception as error:   # a damaged file or row: report it, never crash the reader
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

    # -- results ----------------------------------------------------------------------------
    def put_result(self, result: Result) -> None:
        """One zip per result, with its small meta beside it for listings, in one transaction:
        a reader sees the whole result or none of it."""
        key = result.meta["config_hash"]
        with self.cache.transact():
            self.cache.set(f"result/{key}", result.to_zip())
            self._set_json(f"meta/{key}", result.meta)

    def metas(self) -> list[dict]:
        """The meta of every stored result (cheap: no tables are read)."""
        return self._json_entries("meta/")

    def _json_entries(self, prefix: str) -> list[dict]:
        """Every readable JSON entry under `prefix`; unreadable ones are skipped, never fatal."""
        out = []
        for key in list(self.cache.iterkeys()):
            if key.startswith(prefix):
                try:
                    value = self._get_json(key)
                except CorruptEntry:
                    continue
                if value:
                    out.append(value)
        return out

    def result(self, config_hash: str) -> Result | None:
        return self._read(f"result/{config_hash}", Result.from_zip, ResultError)

    def result_zip(self, config_hash: str) -> bytes | None:
        return self._get(f"result/{config_hash}")

    def delete_result(self, config_hash: str) -> None:
        for prefix in ("result", "meta", "job", "live"):
            self.cache.delete(f"{prefix}/{config_hash}")

    def result_hashes(self) -> list[str]:
        return sorted(k.split("/", 1)[1] for k in self.cache.iterkeys() if k.startswith("result/"))

    # -- baselines --------------------------------------------------------------------------
    def put_baseline(self, baseline_hash: str, blob: bytes) -> None:
        self.cache.set(f"baseline/{baseline_hash}", blob)

    def baseline(self, baseline_hash: str) -> bytes | None:
        return self._get(f"baseline/{baseline_hash}")

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, cfg: RunConfig, force: bool = False) -> dict:
        """Queue `cfg` unless it is already queued, running or done; returns its job record.

        Runs in one SQLite transaction, so concurrent submitters of one config get one job.
        `force` discards a stored result (e.g. a corrupt one) and queues the config again.
        """
        key = cfg.config_hash()
        with self.cache.transact():
            job = self._get_json(f"job/{key}")
            if force:
                self.cache.delete(f"result/{key}")
                self.cache.delete(f"meta/{key}")
            elif job and job["state"] in ACTIVE + ("done", "diverged"):
                return job
            elif f"result/{key}" in self.cache:
                job = _new_job(cfg, state="done")
                job["from_cache"] = True
                self._set_json(f"job/{key}", job)
                return job
            job = _new_job(cfg, attempts=(job or {}).get("attempts", 0) if not force else 0)
            self._set_json(f"job/{key}", job)
            return job

    def job(self, config_hash: str) -> dict | None:
        return self._get_json(f"job/{config_hash}")

    def jobs(self) -> list[dict]:
        return sorted(self._json_entries("job/"), key=lambda j: j["submitted"])

    def update_job(self, config_hash: str, **fields) -> dict | None:
        with self.cache.transact():
            job = self._get_json(f"job/{config_hash}")
            if job is None:
                return None
            job.update(fields)
            self._set_json(f"job/{config_hash}", job)
            return job

    def claim_next(self, pid: int, host: str = "") -> dict | None:
        """Atomically move the oldest queued job to running, owned by `pid` on `host`."""
        with self.cache.transact():
            queued = [j for j in self.jobs() if j["state"] == "queued"]
            if not queued:
                return None
            job = queued[0]
            now = time.time()
            job.update(state="running", pid=pid, host=host, heartbeat=now, started=now, attempts=job["attempts"] + 1,
                       step=0, phase="preparing", error=None)
            self._set_json(f"job/{job['id']}", job)
            return job

    def cancel(self, config_hash: str) -> dict | None:
        """A queued job is cancelled at once; a running one at its next logged step."""
        with self.cache.transact():
            job = self._get_json(f"job/{config_hash}")
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

    def set_worker(self, record: dict | None) -> None:
        if record is None:
            self.cache.delete("worker")
        else:
            self._set_json("worker", record)

    def worker(self) -> dict | None:
        return self._get_json("worker")

    def count(self, name: str, add: int = 0) -> int:
        key = f"count/{name}"
        with self.cache.transact():
            value = int(self._get(key) or "0") + add
            if add:
                self.cache.set(key, str(value))
            return value


def _new_job(cfg: RunConfig, state: str = "queued", attempts: int = 0) -> dict:
    return {"id": cfg.config_hash(), "config": cfg.to_dict(), "state": state, "submitted": time.time(),
            "attempts": attempts, "pid": None, "heartbeat": None, "step": 0, "total": cfg.steps,
            "phase": None, "error": None, "cancel_requested": False, "from_cache": False,
            "started": None, "finished": None}

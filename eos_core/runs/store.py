"""The disk store: results, reusable baselines, checkpoints, notes and counters in one diskcache
(the key scheme is `keys.Keys`; the storage primitives, pickle refused, are in `disk`).

This is storage only. Job records, leases, live traces and the worker registry are the queue's
(`queue.Queue`), which keeps them in this store; a write that must hold a job's lease goes through
the queue, which checks the lease inside the same transaction.

Torch-free: the dashboard process uses it.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
import time

import diskcache

from eos_core.analysis.results import Result, ResultError
from eos_core.analysis.spectrum import Spectrum, SpectrumError, dumps, loads, merged
from eos_core.runs.disk import (  # noqa: F401
    INDEX,
    CorruptEntry,
    Problem,
    ProblemCode,
    StoreDamaged,
    cache_dir,
    file_rows,
    is_damage,
    open_cache,
    raw_bytes,
)
from eos_core.runs.keys import Keys


class Store:
    def __init__(self, directory=None):
        self.directory = pathlib.Path(directory or cache_dir())
        self.problems: list[Problem] = []  # malformed records met and set aside, for callers to show
        self.cache = open_cache(self.directory)

    def close(self):
        self.cache.close()

    def transact(self):
        """One SQLite transaction (nested ones join it)."""
        return self.cache.transact()

    def problem(self, code: ProblemCode, key: str, message: str) -> None:
        problem = Problem(code, message, key)
        if problem not in self.problems:
            self.problems.append(problem)
            print(f"warning: {message}", file=sys.stderr)

    # -- raw entries ------------------------------------------------------------------------
    def get(self, key: str):
        try:
            return self.cache.get(key)
        except CorruptEntry:
            raise
        except Exception as error:  # a damaged file or row: report it, never crash the reader
            if is_damage(error):
                raise StoreDamaged(self.directory, str(error)) from error
            raise CorruptEntry(f"{key}: {error}") from error

    def read(self, key: str, parse, errors):
        """The entry at `key` decoded by `parse`, None if absent, CorruptEntry if undecodable."""
        raw = self.get(key)
        if raw is None:
            return None
        try:
            return parse(raw)
        except errors as error:
            raise CorruptEntry(f"{key}: {error}") from error

    def get_json(self, key: str):
        return self.read(key, json.loads, ValueError)

    def set_json(self, key: str, value) -> None:
        self.cache.set(key, json.dumps(value))

    def keys(self, prefix: str) -> list[str]:
        return [k for k in list(self.cache.iterkeys()) if k.startswith(prefix)]

    def records(self, prefix: str) -> list[dict]:
        """The JSON objects stored under `prefix`; unreadable or non-object entries are skipped."""
        out = []
        for key in self.keys(prefix):
            try:
                record = self.get_json(key)
            except CorruptEntry:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def quarantine(self, key: str, reason: str) -> None:
        """Move a malformed entry out of the way (its bytes kept under quarantine/) so that it
        can never block the queue or crash a listing."""
        folder = self.directory / "quarantine"
        target = folder / f"{re.sub(r'[^A-Za-z0-9._-]', '_', key)}-{time.time_ns()}.bin"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            target.write_bytes(raw_bytes(self.cache, self.directory, key))
            self.cache.delete(key)
        except (OSError, diskcache.Timeout) as error:
            self.problem(ProblemCode.STUCK, key, f"{key} is malformed ({reason}) and could not be moved aside: {error}")
            return
        self.problem(ProblemCode.QUARANTINED, key, f"{key} was malformed ({reason}); moved aside to {target}")

    def value_files(self) -> list[tuple[str, str]]:
        """(key, value file) of every entry kept in a file of its own."""
        return file_rows(self.cache)

    # -- results ----------------------------------------------------------------------------
    def put_result(self, result: Result) -> None:
        """One zip per result, with its small meta beside it for listings, in one transaction:
        a reader sees the whole result or none of it."""
        key = result.meta["config_hash"]
        with self.cache.transact():
            self.cache.set(Keys.result(key), result.to_zip())
            self.set_json(Keys.meta(key), result.meta)

    def metas(self) -> list[dict]:
        """The meta of every stored result (cheap: no tables are read). A meta that cannot be
        read or lacks its config is skipped with a warning in `problems` (code UNLISTED)."""
        out = []
        for key in self.keys(Keys.prefix("meta")):
            try:
                meta = self.get_json(key)
            except CorruptEntry as error:
                self.problem(ProblemCode.UNLISTED, key, f"skipped the result listing {key}: {error}")
                continue
            if meta is None:
                continue
            if (
                not isinstance(meta, dict)
                or not isinstance(meta.get("config"), dict)
                or not isinstance(meta.get("config_hash"), str)
            ):
                self.problem(ProblemCode.UNLISTED, key, f"skipped the result listing {key}: it has no config")
                continue
            out.append(meta)
        return out

    def result(self, config_hash: str) -> Result | None:
        return self.read(Keys.result(config_hash), Result.from_zip, ResultError)

    def result_zip(self, config_hash: str) -> bytes | None:
        return self.get(Keys.result(config_hash))

    def has_result(self, config_hash: str) -> bool:
        return Keys.result(config_hash) in self.cache

    def result_readable(self, config_hash: str) -> bool:
        try:
            return self.result(config_hash) is not None
        except CorruptEntry:
            return False

    def drop_result(self, config_hash: str) -> None:
        """The result and its meta only (a forced re-run)."""
        self.cache.delete(Keys.result(config_hash))
        self.cache.delete(Keys.meta(config_hash))

    def delete_result(self, config_hash: str) -> None:
        """Everything stored for a run: result, meta, job record, live trace, checkpoint, note, spectra."""
        for kind in Keys.RUN:
            self.cache.delete(Keys.of(kind, config_hash))

    def result_hashes(self) -> list[str]:
        return sorted(Keys.ident(k) for k in self.keys(Keys.prefix("result")))

    # -- notes: a user's name, tags and note for a run, outside its config hash --------------
    def notes(self) -> list[dict]:
        """Every readable note (an unreadable one is skipped: a note never blocks a listing)."""
        return self.records(Keys.prefix("note"))

    def note(self, config_hash: str) -> dict | None:
        return self.get_json(Keys.note(config_hash))

    def put_note(self, config_hash: str, note: dict | None) -> None:
        """Store `note` for the run, or remove it when None."""
        if note is None:
            self.cache.delete(Keys.note(config_hash))
        else:
            self.set_json(Keys.note(config_hash), note)

    # -- Hessian spectra: computed later than the result, kept beside it ----------------------
    def spectra(self, config_hash: str) -> list[Spectrum]:
        """The run's stored spectra (none stored: an empty list; unreadable: CorruptEntry)."""
        return self.read(Keys.spectra(config_hash), loads, SpectrumError) or []

    def put_spectrum(self, spectrum: Spectrum) -> None:
        """Add a spectrum to its run's, replacing one computed the same way (analysis.spectrum.merged),
        read and written in one transaction so two writers never lose each other's."""
        key = Keys.spectra(spectrum.config_hash)
        with self.cache.transact():
            try:
                kept = self.spectra(spectrum.config_hash)
            except CorruptEntry as error:  # moved aside, never blocking the new one
                self.quarantine(key, str(error))
                kept = []
            self.cache.set(key, dumps(merged(kept, spectrum)))

    # -- baselines, checkpoints, counters ---------------------------------------------------
    def put_baseline(self, baseline_hash: str, blob: bytes, counts: dict | None = None) -> None:
        """A finished baseline (its checkpoint goes) and the counters its training adds.
        A worker stores it through its queue, under its lease (Queue.put_baseline)."""
        with self.cache.transact():
            self.cache.set(Keys.baseline(baseline_hash), blob)
            self.cache.delete(Keys.ckpt_baseline(baseline_hash))
            for name, add in (counts or {}).items():
                self.count(name, add)

    def baseline(self, baseline_hash: str) -> bytes | None:
        return self.get(Keys.baseline(baseline_hash))

    def put_checkpoint(self, key: str, blob: bytes) -> None:
        """A branch's checkpoint at `key` (Keys.ckpt_baseline or Keys.ckpt_exit)."""
        self.cache.set(key, blob)

    def checkpoint(self, key: str) -> bytes | None:
        return self.get(key)

    def count(self, name: str, add: int = 0) -> int:
        key = Keys.count(name)
        with self.cache.transact():
            value = int(self.get(key) or "0") + add
            if add:
                self.cache.set(key, str(value))
            return value

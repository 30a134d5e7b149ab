"""The storage primitives under the store: diskcache with pickle removed, damage detection, and
the only raw SQL on diskcache's `Cache` table (repair and fence read it through here).

Everything is stored as bytes or JSON text and nothing is ever unpickled: `SafeDisk` refuses to
store anything else and refuses to read a pickled entry, so a file planted in the cache folder
cannot run code. SQLite underneath: keep the folder on a local disk, never on NFS.

Torch-free.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import pathlib
import sqlite3
import sys
from dataclasses import dataclass

import diskcache

INDEX = "cache.db"


class CorruptEntry(Exception):
    """A stored entry that cannot be read back (truncated, tampered with, or pickled)."""


class StoreDamaged(Exception):
    """The store's SQLite index itself is unreadable: nothing in the cache can be trusted."""

    def __init__(self, directory, reason):
        self.directory, self.reason = directory, reason
        super().__init__(
            f"the cache at {directory} is damaged: {reason}; move it away or run "
            f"`python -m eos_core store --rebuild` to rebuild the index"
        )


class ProblemCode(enum.StrEnum):
    """What kind of malformed entry the store met and set aside (callers filter on these)."""

    UNLISTED = "unlisted"  # a result's meta is unreadable or has no config: not listed
    QUARANTINED = "quarantined"  # a malformed entry was moved aside to quarantine/
    STUCK = "stuck"  # a malformed entry could not be moved aside
    RECOMPUTED = "recomputed"  # a stored result could not be read back: it is computed again


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str
    key: str

    def __str__(self):
        return self.message


class SafeDisk(diskcache.Disk):
    """diskcache's Disk with pickle removed from both directions."""

    def put(self, key):
        if not isinstance(key, str):
            raise TypeError(f"store keys are strings, not {type(key).__name__}")
        return super().put(key)

    UNREADABLE_KEY = "\x00unreadable pickled key"

    def get(self, key, raw):
        if not raw:  # a pickled key was planted: list it under a name that matches nothing
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
        print(f"warning: could not make the cache folder {directory} private (mode 0700): {error}", file=sys.stderr)


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


def open_cache(directory: pathlib.Path) -> diskcache.Cache:
    """The diskcache under `directory` (made private), with SafeDisk; StoreDamaged if its index is."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(directory)
    with open(directory / "cache.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # SQLite creates the index empty: never check one half-made
        check_index(directory)
        try:
            cache = diskcache.Cache(str(directory), disk=SafeDisk, eviction_policy="none", size_limit=2**62)
            verdict = cache._sql("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as error:
            if not is_damage(error):
                raise
            raise StoreDamaged(directory, str(error)) from error
    if verdict != "ok":
        cache.close()
        raise StoreDamaged(directory, f"SQLite integrity check: {verdict}")
    return cache


# -- raw rows of diskcache's Cache table: the only SQL on it ------------------------------------
def raw_bytes(cache: diskcache.Cache, directory: pathlib.Path, key: str) -> bytes:
    """An entry's stored bytes, undecoded (never unpickled): what quarantine keeps."""
    rows = cache._sql("SELECT filename, value FROM Cache WHERE key = ? AND raw = 1", (key,)).fetchall()
    if not rows:
        return b""
    filename, value = rows[0]
    if filename:
        try:
            return (directory / filename).read_bytes()
        except OSError:
            return b""
    return value if isinstance(value, bytes) else str(value).encode()


def file_rows(cache: diskcache.Cache) -> list[tuple[str, str]]:
    """(key, value file) of every entry kept in a file of its own."""
    return cache._sql("SELECT key, filename FROM Cache WHERE filename IS NOT NULL").fetchall()


def has_key(directory: pathlib.Path, key: str) -> bool:
    """Whether the index holds `key`, read with a connection of its own (a read never waits on the
    write lock in WAL mode, and SQLite keeps its locks across this connection's close)."""
    try:
        with contextlib.closing(sqlite3.connect(directory / INDEX, timeout=1.0)) as con:
            row = con.execute("SELECT 1 FROM Cache WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def salvage_rows(path: pathlib.Path, notes: list[str]) -> list[tuple]:
    """(key, mode, filename, value) of every string-keyed row a damaged index still yields."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            rows = con.execute("SELECT key, mode, filename, value FROM Cache WHERE raw = 1").fetchall()
    except sqlite3.DatabaseError as error:
        notes.append(f"no rows could be read from the damaged index ({error})")
        return []
    return [row for row in rows if isinstance(row[0], str)]


def row_value(directory: pathlib.Path, mode: int, filename, value):
    """A salvaged row's value as the store keeps it (bytes or str); None for pickles and losses."""
    if mode == diskcache.core.MODE_PICKLE:
        return None
    if filename:
        try:
            data = (directory / filename).read_bytes()
        except OSError:
            return None
        return data.decode("utf-8") if mode == diskcache.core.MODE_TEXT else data
    return value if isinstance(value, (bytes, str)) else None if value is None else str(value)

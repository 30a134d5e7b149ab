"""Fencing a worker that was stopped while it held the cache's write lock.

A worker stopped (SIGSTOP, a debugger, a frozen container) inside a store transaction keeps
SQLite's write lock, and every other writer — claims, heartbeats, the re-queue of its own job,
the dashboard's submits — waits for as long as it stays stopped: leases cannot help, since acting
on an expired one is itself a write. A cluster fences a node that stopped answering (STONITH);
here a worker that finds such a holder — a registered worker of this host, stopped, seen holding
the lock for a whole lease — kills it. The kernel drops its locks, SQLite rolls its half-written
transaction back, and its job is re-queued like any dead worker's; it had lost its lease anyway.

Linux only (/proc); elsewhere nothing is fenced and a stopped holder blocks writers until resumed.
The lock is read from /proc/locks, never by opening the database files: closing any descriptor of
a file drops every POSIX lock this process holds on it, SQLite's included.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys
import threading
import time

from eos_core.runs.disk import INDEX, has_key
from eos_core.runs.keys import Keys


def write_lock_holders(directory: pathlib.Path) -> set[int]:
    """Pids holding a POSIX write lock on the cache's SQLite files (the index, its WAL, its
    shared-memory file), other than this process."""
    files = set()
    for name in (INDEX, f"{INDEX}-wal", f"{INDEX}-shm"):
        with contextlib.suppress(OSError):
            st = os.stat(directory / name)
            files.add(f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}")
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    holders = set()
    for fields in (line.split() for line in lines):
        # "1: POSIX  ADVISORY  WRITE 7143 fe:00:2287937 120 120"; "1: -> POSIX ..." is a waiter
        if len(fields) >= 8 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[5] in files:
            holders.add(int(fields[4]))
    holders.discard(os.getpid())
    return holders


def process_state(pid) -> str | None:
    """A local process's state letter from /proc/<pid>/stat: R running, S or D asleep, T or t
    stopped, Z a zombie (exited, not yet reaped by its parent), X dead; None where /proc cannot
    tell (no such process, no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def process_stopped(pid, unknown: bool = False) -> bool:
    """Whether a local process is stopped (SIGSTOP, a debugger); `unknown` where /proc cannot
    tell. A zombie is not stopped but dead (worker.pid_alive)."""
    state = process_state(pid)
    return unknown if state is None else state in ("T", "t")


def registered_worker(directory: pathlib.Path, host: str, pid: int) -> bool:
    """Whether `pid` has a worker record in the store (read directly: a read never waits on the
    write lock in WAL mode, and SQLite keeps its locks across this connection's close)."""
    return has_key(directory, Keys.worker(host, pid))


class Fence(threading.Thread):
    """Every `interval` seconds, kill a registered worker of this host that has been seen stopped
    while holding the write lock for `grace` seconds or more."""

    def __init__(self, directory, host: str, grace: float, interval: float):
        super().__init__(daemon=True)
        self.directory, self.host, self.grace, self.interval = pathlib.Path(directory), host, grace, interval
        self.stop = threading.Event()
        self.stopped_since: dict[int, float] = {}
        self.warned: set[int] = set()

    def run(self):
        while not self.stop.wait(self.interval):
            self.check()

    def check(self, now: float | None = None) -> list[int]:
        """One look; returns the pids killed."""
        now = time.time() if now is None else now
        stuck = {pid for pid in write_lock_holders(self.directory) if process_stopped(pid)}
        self.stopped_since = {pid: self.stopped_since.get(pid, now) for pid in stuck}
        killed = []
        for pid, since in self.stopped_since.items():
            if now - since < self.grace:
                continue
            if not registered_worker(self.directory, self.host, pid):
                if pid not in self.warned:
                    self.warned.add(pid)
                    print(
                        f"warning: process {pid} is stopped while holding the cache's write lock; "
                        "every writer waits until it resumes",
                        file=sys.stderr,
                    )
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                print(
                    f"worker: fenced worker {pid}: stopped for {now - since:.0f} s while holding the "
                    "cache's write lock; its job goes back to the queue",
                    file=sys.stderr,
                )
        return killed

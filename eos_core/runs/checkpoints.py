"""Where a job's branches persist while they train, so a worker that dies loses little.

The baseline is checkpointed as soon as its fork state at t* exists and then every N logged steps
(`EOS_CHECKPOINT_EVERY`, default 25), and stored whole the moment it finishes — so a kill during
the exit branch never retrains it; the exit branch is checkpointed every N logged steps too. A
restart resumes from the last checkpoint and ends bit-identical to an uninterrupted run (the state
saved is all the training loop carries, see branching.InFlight). Every write is fenced by the
job's lease: a worker that lost its job cannot overwrite what its successor stored.
"""

from __future__ import annotations

import os
import sys

from eos_core.config import RunConfig
from eos_core.runs.disk import CorruptEntry
from eos_core.runs.keys import Keys
from eos_core.runs.queue import Lease, Queue

# The codec (science.snapshot) imports torch: it is imported where a worker uses it, so that runs/
# stays torch-free for the dashboard.


def checkpoint_every() -> int:
    return max(1, int(os.environ.get("EOS_CHECKPOINT_EVERY", "25")))


class Checkpoints:
    def __init__(self, queue: Queue, cfg: RunConfig, device: str, lease: Lease | None = None, every: int | None = None):
        self.queue, self.cfg, self.device, self.lease = queue, cfg, device, lease
        self.every = every or checkpoint_every()
        self.saved = {}  # branch name → (step, had its fork) of the last checkpoint written or read

    def key(self, name: str) -> str:
        if name == "baseline":
            return Keys.ckpt_baseline(self.cfg.baseline_hash())
        return Keys.ckpt_exit(self.cfg.config_hash())

    def resume(self, name: str):
        """The stored InFlight state of branch `name`, or None (start from its beginning)."""
        try:
            blob = self.queue.store.checkpoint(self.key(name))
            from eos_core.science.snapshot import unpack_branch

            flight = unpack_branch(blob, self.device)[1] if blob else None
        except (CorruptEntry, ValueError, KeyError, TypeError, OSError) as error:
            print(f"warning: ignoring the unreadable checkpoint {self.key(name)}: {error}", file=sys.stderr)
            return None
        if flight is not None:
            self.saved[name] = (flight.step, flight.branch.fork is not None)
        return flight

    def hook(self, name: str):
        return lambda flight: self._offer(name, flight)

    def _offer(self, name: str, flight) -> None:
        """Store `flight` when the fork state has just appeared or every `every` logged steps."""
        if not flight.branch.rows or self.saved.get(name, (None,))[0] == flight.step:
            return
        new_fork = flight.branch.fork is not None and not self.saved.get(name, (None, False))[1]
        if new_fork or (flight.step // self.cfg.log_every) % self.every == 0:
            from eos_core.science.snapshot import pack_in_flight

            self.queue.put_checkpoint(self.key(name), pack_in_flight(flight), self.lease)
            self.saved[name] = (flight.step, flight.branch.fork is not None)

    def baseline_done(self, branch, steps: int) -> None:
        counts = {"baseline_trainings": 1, "baseline_steps": steps} if steps else {}
        from eos_core.science.snapshot import pack_baseline

        self.queue.put_baseline(self.cfg.baseline_hash(), pack_baseline(branch), self.lease, counts)

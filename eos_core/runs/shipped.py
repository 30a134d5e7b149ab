"""The first-launch runs shipped with the package: finished results of the real-image teaching preset
and its random control (`eos_core/shipped/<preset>.zip`, each a result folder as the store keeps it).

A fresh dashboard puts them into its store, so the Story is complete within seconds with no worker. A
shipped file that is missing, unreadable or no longer what today's engine would compute (its config
hash is not the preset's) is rebuilt by training instead, and the job says why. `scripts/ship_runs.py`
writes the files; a slow test retrains each and checks it still matches. Torch-free.
"""

from __future__ import annotations

import pathlib

from eos_core.analysis.results import Result, ResultError
from eos_core.datasets import availability
from eos_core.presets import OFFLINE_LAUNCH, REAL_LAUNCH, preset
from eos_core.runs.queue import JobState, Queue

FOLDER = pathlib.Path(__file__).resolve().parent.parent / "shipped"
SHIPPED = REAL_LAUNCH  # real images tell the Story best, and a stored result needs no dataset to show


def path(name: str) -> pathlib.Path:
    return FOLDER / f"{name}.zip"


def read(name: str) -> Result:
    """The shipped result of preset `name`; ResultError saying what is wrong with it otherwise."""
    file = path(name)
    if not file.is_file():
        raise ResultError(f"the shipped file {file.name} is missing")
    result = Result.from_zip(file.read_bytes())
    if result.meta.get("config_hash") != preset(name).config_hash():
        raise ResultError(f"the shipped file {file.name} was computed by another version of the engine")
    return result


def install(queue: Queue, names: tuple[str, ...] = SHIPPED) -> list[str]:
    """Put each shipped run not yet stored (and not training) into the store; a broken one is queued
    for training with a notice on its job. Returns the notices."""
    store, notices = queue.store, []
    for name in names:
        key = preset(name).config_hash()
        job = queue.job(key)
        if store.has_result(key) or (job and job["state"] in JobState.ACTIVE):
            continue
        try:
            store.put_result(read(name))
        except ResultError as error:
            notices.append(rebuild(queue, name, str(error)))
    return notices


def rebuild(queue: Queue, name: str, reason: str) -> str:
    """Queue preset `name` for training because its shipped copy cannot be used; without its dataset,
    the offline teaching pair is queued instead."""
    dataset = preset(name).dataset
    if availability(dataset)[0]:
        notice = f"{reason}, so {name} is being trained again (a few minutes)"
        queue.submit(preset(name))
        queue.update_job(preset(name).config_hash(), notice=notice)
        return notice
    offline = OFFLINE_LAUNCH[REAL_LAUNCH.index(name)] if name in REAL_LAUNCH else OFFLINE_LAUNCH[0]
    notice = f"{reason}, and {dataset} is not on this machine, so {offline} (synthetic data) is trained instead"
    queue.submit(preset(offline))
    queue.update_job(preset(offline).config_hash(), notice=notice)
    return notice


def live(queue: Queue, names: tuple[str, ...], owner: str | None = None) -> list[str]:
    """ "Run it live": train fresh copies of `names`. Their stored results are dropped and the runs
    queued, so the pages show them growing from step 0 (the shipped files stay, for `install`). A run
    already training is left alone. ValueError, with nothing queued, where a dataset is missing; the
    queue's QueueFull or NotYours past `owner`'s cap or on another session's run. Returns the names
    queued."""
    for name in names:
        ok, why = availability(preset(name).dataset)
        if not ok:
            raise ValueError(f"{name} cannot be trained on this machine: {why}")
    queued = []
    for name in names:
        job = queue.job(preset(name).config_hash())
        if not (job and job["state"] in JobState.ACTIVE):
            queue.submit(preset(name), force=True, owner=owner)
            queued.append(name)
    return queued


PAIRS = (REAL_LAUNCH, OFFLINE_LAUNCH)  # the teaching pairs, coherent run first: the Story prefers them


def pair_of(config_hash: str) -> tuple[str, str] | None:
    """The teaching pair whose coherent run is `config_hash`."""
    for pair in PAIRS:
        if preset(pair[0]).config_hash() == config_hash:
            return pair
    return None


def training(queue: Queue) -> list[dict]:
    """The teaching runs' jobs still queued or running: what the Story waits for."""
    keys = {preset(name).config_hash() for pair in PAIRS for name in pair}
    return [job for job in queue.jobs() if job["id"] in keys and job["state"] in JobState.ACTIVE]

"""The first-launch runs shipped with the package: the real files are what today's presets compute
(by hash; tests/science/test_shipped_regenerates.py retrains them), and a fresh store gets them
without training, while a missing, corrupt or stale file is trained again with a notice."""

import pytest
from synthetic_result import synthetic_result

from eos_core.analysis.results import Result
from eos_core.presets import OFFLINE_LAUNCH, REAL_LAUNCH, preset
from eos_core.runs import shipped
from eos_core.runs.queue import JobState

MAX_BYTES = 3_000_000  # the package data's budget: a laptop install stays small


def test_the_shipped_files_are_todays_presets_and_fit_the_budget():
    sizes = [shipped.path(name).stat().st_size for name in shipped.SHIPPED]
    assert sum(sizes) < MAX_BYTES, sizes
    for name in shipped.SHIPPED:
        result = shipped.read(name)
        assert result.meta["config"] == preset(name).to_dict() and result.status == "done"
    assert shipped.read(REAL_LAUNCH[0]).meta["t_star"] is not None


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A shipped folder of our own holding hand-made results of the two shipped presets."""
    monkeypatch.setattr(shipped, "FOLDER", tmp_path / "shipped")
    shipped.FOLDER.mkdir()
    for name in shipped.SHIPPED:
        shipped.path(name).write_bytes(synthetic_result(name).to_zip())
    return shipped.FOLDER


def stored(store, name: str) -> Result | None:
    return store.result(preset(name).config_hash())


def test_install_stores_the_shipped_runs_as_shipped_and_queues_nothing(folder, queue):
    assert shipped.install(queue) == []
    for name in shipped.SHIPPED:
        got, want = stored(queue.store, name), Result.from_zip(shipped.path(name).read_bytes())
        assert got.meta == want.meta and got.trace.equals(want.trace) and got.groups.equals(want.groups)
    assert queue.jobs() == []
    assert shipped.install(queue) == []  # a second launch changes nothing


def notice_of(queue, name: str) -> str:
    (job,) = [j for j in queue.jobs() if j["id"] == preset(name).config_hash()]
    assert job["state"] == JobState.QUEUED
    return job["notice"]


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda path: path.unlink(), "teach-fashion-random.zip is missing"),
        (lambda path: path.write_bytes(b"PK\x03\x04 not a zip"), "corrupt"),
        (lambda path: path.write_bytes(synthetic_result("teach-selective").to_zip()), "another version"),
    ],
)
def test_a_broken_shipped_run_is_trained_again_with_a_notice(folder, queue, monkeypatch, damage, reason):
    damage(shipped.path(REAL_LAUNCH[1]))
    monkeypatch.setattr(shipped, "availability", lambda dataset: (True, ""))
    (notice,) = shipped.install(queue)
    assert reason in notice and f"{REAL_LAUNCH[1]} is being trained again" in notice
    assert notice_of(queue, REAL_LAUNCH[1]) == notice
    assert stored(queue.store, REAL_LAUNCH[0]) is not None  # the good one is stored all the same
    assert shipped.training(queue)[0]["id"] == preset(REAL_LAUNCH[1]).config_hash()


def test_without_the_dataset_a_broken_shipped_run_is_replaced_by_the_offline_one(folder, queue):
    shipped.path(REAL_LAUNCH[1]).write_bytes(b"garbage")  # the tests see no Fashion-MNIST on disk
    (notice,) = shipped.install(queue)
    assert f"so {OFFLINE_LAUNCH[1]} (synthetic data) is trained instead" in notice
    assert notice_of(queue, OFFLINE_LAUNCH[1]) == notice


def test_run_it_live_replaces_the_stored_runs_by_fresh_jobs_and_leaves_a_running_one(folder, queue, monkeypatch):
    shipped.install(queue)
    with pytest.raises(ValueError, match="teach-fashion cannot be trained on this machine"):
        shipped.live(queue, REAL_LAUNCH)
    assert queue.jobs() == [] and stored(queue.store, REAL_LAUNCH[0]) is not None  # nothing lost
    monkeypatch.setattr(shipped, "availability", lambda dataset: (True, ""))
    queue.update_job(queue.submit(preset(REAL_LAUNCH[1]), force=True)["id"], state=JobState.RUNNING)
    assert shipped.live(queue, REAL_LAUNCH) == [REAL_LAUNCH[0]]
    assert stored(queue.store, REAL_LAUNCH[0]) is None
    assert {j["id"]: j["state"] for j in queue.jobs()} == {
        preset(REAL_LAUNCH[0]).config_hash(): JobState.QUEUED,
        preset(REAL_LAUNCH[1]).config_hash(): JobState.RUNNING,
    }


def test_the_story_prefers_the_shipped_run_then_the_offline_one():
    from dashboard.content.story import candidates

    metas = [synthetic_result(name).meta for name in ("teach-digits", OFFLINE_LAUNCH[0], REAL_LAUNCH[0])]
    assert [m["config"]["dataset"] for m in candidates(metas)] == ["fashion_mnist", "synthetic", "digits"]
    assert shipped.pair_of(preset(OFFLINE_LAUNCH[0]).config_hash()) == OFFLINE_LAUNCH
    assert shipped.pair_of(preset("teach-digits").config_hash()) is None

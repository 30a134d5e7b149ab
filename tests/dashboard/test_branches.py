"""The Branches page (a baseline with every branch grown from it) and the Fork panel, under AppTest on
a cache holding a run, the same run at another c (same baseline) and a fork of it at a later step."""

import shutil

import pytest
import streamlit as st
from harness import app_test, charts, switch_to
from tiny import TINY

from eos_core.analysis import lineage
from eos_core.config import RunConfig
from eos_core.runs.queue import Queue

PAGE = "app_pages/branches.py"
OTHER_C = TINY.replace(c=0.25)
OTHER_SEED = TINY.replace(seed=5)  # another baseline: another family


@pytest.fixture(scope="module")
def fork_result(tiny_run):
    from eos_core.science.fork import fork

    return fork(tiny_run(TINY), 40, {"c": 0.1})


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run, fork_result):
    return make_cache(tiny_run(TINY), tiny_run(OTHER_C), tiny_run(OTHER_SEED), fork_result, name="branches")


@pytest.fixture
def own_cache(cache, tmp_path):
    """A copy of `cache` a test may queue jobs in."""
    folder = tmp_path / "cache"
    shutil.copytree(cache, folder)
    yield folder
    st.cache_resource.clear()


def test_a_family_is_every_run_sharing_the_baseline_and_every_fork_of_them(tiny_run, fork_result):
    metas = [tiny_run(cfg).meta for cfg in (TINY, OTHER_C, OTHER_SEED)] + [fork_result.meta]
    members = lineage.family(metas, fork_result.meta["config_hash"])
    assert [m["config_hash"] for m in members] == [
        TINY.config_hash(),
        OTHER_C.config_hash(),
        fork_result.meta["config_hash"],
    ]
    table = lineage.branch_table(members)
    assert list(table.kind) == ["run", "run", "fork"] and list(table.c) == [0.5, 0.25, 0.1]
    assert list(table.fork_step) == [0, 0, 40]
    assert table.fork_t_eff.iloc[2] == pytest.approx(40 * TINY.lr)
    trace, groups = lineage.family_curves([tiny_run(TINY), tiny_run(OTHER_C), fork_result])
    assert set(trace.branch[trace.member == TINY.config_hash()]) == {"baseline", "exit"}
    assert set(trace.branch[trace.member != TINY.config_hash()]) == {"exit"}  # the baseline once
    assert set(groups.member) == set(table.id)


def test_the_branches_page_draws_the_baseline_and_all_its_branches_on_shared_axes(cache, fork_result, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, fork_result.meta["config_hash"]), PAGE)
    sharpness, losses = charts(at)
    assert sorted(s["y0"] for s in sharpness["layout"]["shapes"]) == pytest.approx(
        [2 / TINY.lr, 2 / (0.5 * TINY.lr), 2 / (0.25 * TINY.lr), 2 / (0.1 * TINY.lr)]
    )
    names = [t["name"] for t in sharpness["data"]]
    assert sum(name.startswith("fork point") for name in names) == 3
    assert any("fork@40" in name and "c=0.1" in name for name in names)
    assert sharpness["layout"]["xaxis"]["title"]["text"].startswith("effective time")
    assert len({t.get("xaxis") for t in losses["data"]}) == 4  # one panel per group
    table = at.dataframe[0].value
    assert list(table["fork step"]) == [0, 0, 40] and list(table["c"]) == [0.5, 0.25, 0.1]
    assert at.query_params["run"] == TINY.config_hash()  # a fork's link opens its family, named by its origin


def test_the_fork_panel_queues_a_fork_job_the_page_then_lists(own_cache, monkeypatch):
    at = switch_to(app_test(own_cache, monkeypatch, TINY.config_hash()), PAGE)
    at.select_slider(key="fork_step").set_value(20)
    at.slider(key="fork_c").set_value(0.3)
    at.button(key="fork_submit").click().run()
    assert not at.exception and not at.error
    queue = Queue(own_cache)
    (job,) = [j for j in queue.jobs() if j.get("task")]
    queue.close()
    assert job["task"]["step"] == 20 and job["task"]["changes"] == {"c": 0.3}
    assert job["task"]["parent"] == TINY.config_hash() and job["state"] == "queued"
    assert any(job["id"][:8] in s.value for s in at.success)
    table = at.dataframe[0].value
    assert table.set_index("id").status[job["id"]] == "queued"
    at.button(key="fork_submit").click().run()  # the same fork again: the same job
    queue = Queue(own_cache)
    assert len([j for j in queue.jobs() if j.get("task")]) == 1
    queue.close()


def test_a_refused_fork_says_why_and_queues_nothing(own_cache, monkeypatch):
    at = switch_to(app_test(own_cache, monkeypatch, TINY.config_hash()), PAGE)
    at.select_slider(key="fork_step").set_value(20)
    at.selectbox(key="fork_optimizer").set_value("sgd").run()
    at.number_input(key="fork_batch_size").set_value(500)  # more than the n = 80 examples
    at.button(key="fork_submit").click().run()
    assert not at.exception
    assert any(e.value.startswith("Not forked — ") and "must be ≤ n = 80" in e.value for e in at.error)
    queue = Queue(own_cache)
    assert queue.jobs() == []
    queue.close()


def test_a_fork_where_lambda1_first_reaches_the_onset_is_the_runs_own_exit_branch(own_cache, monkeypatch):
    at = switch_to(app_test(own_cache, monkeypatch, TINY.config_hash()), PAGE)
    at.radio(key="fork_where").set_value("sharpness").run()
    at.number_input(key="fork_fraction").set_value(TINY.onset_fraction)
    at.button(key="fork_submit").click().run()
    assert any("own exit branch" in s.value for s in at.success)
    queue = Queue(own_cache)
    assert [j for j in queue.jobs() if j.get("task")] == []
    queue.close()


def test_the_runs_page_offers_the_fork_panel_on_a_run_and_sends_a_fork_to_its_parent(cache, fork_result, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch), "app_pages/runs.py")

    def choose(key):
        next(box for box in at.selectbox if box.label == "Run").set_value(key).run()

    choose(TINY.config_hash())
    assert any(e.label == "Fork from this run" for e in at.expander)
    choose(fork_result.meta["config_hash"])
    assert not any(e.label == "Fork from this run" for e in at.expander)
    assert any(f"a fork of `{TINY.config_hash()[:8]}`" in c.value for c in at.caption)


def test_show_this_run_opens_a_finished_fork_beside_its_branches(own_cache, fork_result, monkeypatch):
    queue = Queue(own_cache)
    cfg = RunConfig.from_dict(fork_result.meta["config"])
    job = queue.submit(cfg, task=lineage.task_of(fork_result.meta))  # stored already: done at once
    queue.close()
    assert job["id"] == fork_result.meta["config_hash"] and job["state"] == "done"
    at = app_test(own_cache, monkeypatch)
    at.session_state["watching"] = [job["id"]]
    at.run()
    at.button(key=f"open-{job['id']}").click().run()
    assert not at.exception
    assert at.title[0].value == "Branches" and at.query_params["run"] == TINY.config_hash()

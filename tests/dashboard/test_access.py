"""The access token and job ownership in the dashboard, under Streamlit's AppTest: what a session
may do without the token, with it, on a private server and on an image with no token set."""

import pytest
from harness import app_test, switch_to
from tiny import TINY

from dashboard import access
from eos_core.runs.queue import Queue

TOKEN = "s3cret-classroom-token"
RUNS = "app_pages/runs.py"


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    return make_cache(tiny_run(TINY))


def run_button(at):
    return next(b for b in at.button if b.label == "Run experiment")


def unlock(at, token):
    field = next(t for t in at.sidebar.text_input if t.label == "Access token")
    field.input(token)
    next(b for b in at.sidebar.button if b.label == "Unlock").click().run()
    return at


def everything_shown(at) -> str:
    """Every text the page shows, and every widget's value: where a leaked token would be."""
    texts = [
        str(getattr(e, "value", ""))
        for kind in ("markdown", "caption", "info", "error", "warning", "code")
        for e in at.get(kind)
    ]
    return " ".join(texts + [str(w.value) for w in at.text_input])


def test_without_a_token_set_everything_works_as_on_a_laptop(cache, monkeypatch):
    monkeypatch.delenv("EOS_ACCESS_TOKEN", raising=False)
    at = app_test(cache, monkeypatch)
    at.run()
    assert not at.exception
    assert not run_button(at).disabled
    assert not [t for t in at.sidebar.text_input if t.label == "Access token"]


def test_with_a_token_set_runs_wait_for_it_and_viewing_stays_open(cache, monkeypatch):
    monkeypatch.setenv("EOS_ACCESS_TOKEN", TOKEN)
    at = app_test(cache, monkeypatch)
    at.run()
    assert not at.exception
    assert run_button(at).disabled
    assert any(access.ENTER_TOKEN in i.value for i in at.info)
    unlock(at, "wrong")
    assert run_button(at).disabled
    assert [e.value for e in at.sidebar.error] == ["That is not this server's access token."]
    unlock(at, TOKEN)
    assert not run_button(at).disabled
    assert not [t for t in at.sidebar.text_input if t.label == "Access token"]  # the form is gone
    assert TOKEN not in everything_shown(at)
    switch_to(at, "app_pages/sharpness.py")  # viewing: a result page draws its charts
    assert at.get("plotly_chart")


def test_a_token_on_the_url_unlocks_and_leaves_the_url(cache, monkeypatch):
    monkeypatch.setenv("EOS_ACCESS_TOKEN", TOKEN)
    at = app_test(cache, monkeypatch, token=TOKEN)
    at.run()
    assert not at.exception
    assert "token" not in at.query_params
    assert not run_button(at).disabled


def test_a_private_server_shows_only_the_token_form(cache, monkeypatch):
    monkeypatch.setenv("EOS_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("EOS_PRIVATE", "1")
    at = app_test(cache, monkeypatch, run=TINY.config_hash())
    at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["EoS Explorer"]
    assert not at.get("plotly_chart") and not [b for b in at.button if b.label == "Run experiment"]
    field = next(t for t in at.text_input if t.label == "Access token")
    field.input(TOKEN)
    next(b for b in at.button if b.label == "Unlock").click().run()
    assert not run_button(at).disabled  # the whole app, unlocked


def test_an_image_without_a_token_says_how_to_set_one_and_runs_nothing(cache, monkeypatch):
    monkeypatch.delenv("EOS_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("EOS_REQUIRE_TOKEN", "1")
    at = app_test(cache, monkeypatch)
    at.run()
    assert not at.exception
    assert run_button(at).disabled
    assert any("EOS_ACCESS_TOKEN=" in w.value for w in at.sidebar.warning)


def test_the_token_is_matched_whole_and_only_when_set(monkeypatch):
    monkeypatch.setenv("EOS_ACCESS_TOKEN", TOKEN)
    assert access.matches(TOKEN) and access.matches(f" {TOKEN}\n")  # pasted with a space or newline
    assert not access.matches(TOKEN[:-1]) and not access.matches(TOKEN + "x") and not access.matches("")
    monkeypatch.setenv("EOS_ACCESS_TOKEN", "")
    assert not access.matches("")  # no token set: nothing matches, not even the empty one


def test_another_sessions_job_cannot_be_cancelled_from_the_runs_page(cache, monkeypatch):
    monkeypatch.delenv("EOS_ACCESS_TOKEN", raising=False)
    queue = Queue(cache)
    theirs = queue.submit(TINY.replace(seed=31), owner="another-session")["id"]
    unowned = queue.submit(TINY.replace(seed=32))["id"]
    queue.close()
    at = switch_to(app_test(cache, monkeypatch), RUNS)
    for job_id, refused in ((theirs, True), (unowned, False)):
        at.selectbox[0].select(job_id).run()
        cancel = next(b for b in at.button if b.label == "Cancel")
        assert cancel.disabled is refused, job_id
        assert next(b for b in at.button if b.label == "Delete…").disabled is refused
    at.selectbox[0].select(unowned).run()
    next(b for b in at.button if b.label == "Cancel").click().run()
    queue = Queue(cache)
    assert queue.job(unowned)["state"] == "cancelled" and queue.job(theirs)["state"] == "queued"
    queue.close()


def test_a_session_past_its_cap_is_told_so_on_the_form_and_nothing_is_queued(tmp_path, monkeypatch):
    monkeypatch.delenv("EOS_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("EOS_JOBS_PER_SESSION", "1")
    at = app_test(tmp_path / "cache", monkeypatch)
    at.run()
    before = len(Queue(tmp_path / "cache").jobs())  # the first launch's (unowned) teaching runs
    at.text_input(key="form_seeds").set_value("3")  # not the first launch's own config (that one is queued)
    run_button(at).click().run()
    at.text_input(key="form_seeds").set_value("5,6")  # two more: all or none
    run_button(at).click().run()
    assert not at.exception
    summary = [e.value for e in at.error if e.value.startswith("Not queued")]
    assert summary and "2 seeds asked for, but this session may queue only 0 more runs now" in summary[0]
    owned = [j for j in Queue(tmp_path / "cache").jobs() if j.get("owner")]
    assert len(Queue(tmp_path / "cache").jobs()) == before + 1 and len(owned) == 1


def test_the_experiment_page_watches_unowned_runs_and_counts_other_sessions(tmp_path, monkeypatch):
    at = app_test(tmp_path / "cache", monkeypatch)
    at.run()
    queue = Queue(tmp_path / "cache")
    queue.submit(TINY.replace(seed=41), owner="another-session")
    queue.submit(TINY.replace(seed=42), owner="a-third-session")
    queue.submit(TINY.replace(seed=43))  # unowned: the command line's
    queue.close()
    at.run()
    assert "Runs in progress" in [h.value for h in at.subheader]
    captions = " ".join(c.value for c in at.caption)
    assert "2 run(s) of other sessions are queued or running" in captions

"""A class on one server, in Chromium: a server with an access token (runs off until it is entered,
viewing open), a private one (nothing but the token form), the dashboard bound to localhost by
default, and the load script run by a small class."""

import json
import os
import pathlib
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from harness import CHROMIUM, ROOT, dashboard, free_port, healthy, open_page, wait_for
from tiny import TINY

from eos_core.runs.queue import Queue

TOKEN = "classroom-7f3c9a1e52"
QUEUED = TINY.replace(seed=41)  # queued, unowned, never run (no worker): a Cancel button to try
browser_only = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    folder = make_cache(*(tiny_run(cfg) for cfg in (TINY, TINY.replace(displacement="random"))))
    queue = Queue(folder)
    queue.submit(QUEUED)
    queue.close()
    return folder


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return tmp_path_factory.mktemp("log") / "streamlit.log"


@pytest.fixture(scope="module")
def server(cache, log):
    with dashboard(cache, log, autostart_worker=False, env={"EOS_ACCESS_TOKEN": TOKEN}) as (url, _):
        yield url
    assert TOKEN not in log.read_text()  # never logged, whatever the tests entered


def button(page, name):
    return page.get_by_role("button", name=name, exact=True).first


@browser_only
@pytest.mark.slow
@pytest.mark.browser
def test_without_the_token_viewing_works_and_runs_are_off(server, page):
    open_page(page, f"{server}/story")  # the Story's three charts, drawn
    open_page(page, f"{server}/?token=wrong")
    assert "token" not in urlparse(page.url).query
    button(page, "Cancel").wait_for()
    assert button(page, "Run experiment").is_disabled() and button(page, "Cancel").is_disabled()
    assert page.get_by_text("Enter this server's access token").first.is_visible()


@browser_only
@pytest.mark.slow
@pytest.mark.browser
def test_after_the_token_is_entered_a_run_is_queued_under_this_session(server, cache, page):
    open_page(page, server)
    page.get_by_label("Access token", exact=True).fill(TOKEN)
    button(page, "Unlock").click()
    page.get_by_label("Access token", exact=True).wait_for(state="detached")
    assert page.get_by_label("Access token", exact=True).count() == 0  # the form (and the token in it) is gone
    seeds = page.get_by_label("Seeds", exact=True)
    seeds.fill("97")
    seeds.press("Tab")
    button(page, "Run experiment").click()

    def queued():
        queue = Queue(cache)
        try:
            return [j for j in queue.jobs() if j["config"]["seed"] == 97 and j.get("owner")]
        finally:
            queue.close()

    job = wait_for(queued, timeout=120, what="the run queued from the browser")[0]
    assert job["state"] == "queued" and job["owner"] != ""


@browser_only
@pytest.mark.slow
@pytest.mark.browser
def test_a_token_on_the_url_unlocks_cancel_and_leaves_the_address_bar(server, cache, page):
    open_page(page, f"{server}/?token={TOKEN}")
    assert TOKEN not in page.url
    cancel = button(page, "Cancel")
    cancel.wait_for()
    wait_for(cancel.is_enabled, timeout=60, what="Cancel enabled")
    cancel.click()

    def cancelled():
        queue = Queue(cache)
        try:
            return queue.job(QUEUED.config_hash())["state"] == "cancelled"
        finally:
            queue.close()

    wait_for(cancelled, timeout=120, what="the unowned job cancelled with the token")


@browser_only
@pytest.mark.slow
@pytest.mark.browser
def test_a_private_server_shows_only_the_token_form(cache, tmp_path, page):
    env = {"EOS_ACCESS_TOKEN": TOKEN, "EOS_PRIVATE": "1"}
    with dashboard(cache, tmp_path / "streamlit.log", autostart_worker=False, env=env) as (url, _):
        for path in ("", "story", f"sharpness?run={TINY.config_hash()}"):
            page.goto(f"{url}/{path}")
            page.get_by_text("This server is private").wait_for()
            page.wait_for_function(
                "() => document.querySelector('[data-test-script-state]')"
                "?.getAttribute('data-test-script-state') === 'notRunning'"
            )
            assert page.locator(".js-plotly-plot").count() == 0, path
            assert page.locator("a[data-testid='stSidebarNavLink']").count() == 0, path
        page.get_by_label("Access token", exact=True).fill(TOKEN)
        button(page, "Unlock").click()
        page.locator("a[data-testid='stSidebarNavLink']").first.wait_for()  # the whole app, unlocked


def listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        for line in pathlib.Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1, as /proc writes them


@pytest.mark.process
@pytest.mark.slow
@pytest.mark.parametrize("passed, expected", [([], "loopback"), (["--server.address=0.0.0.0"], "every address")])
def test_eos_dashboard_listens_on_localhost_unless_told_otherwise(tmp_path, passed, expected):
    port = free_port()
    env = {**os.environ, "EOS_CACHE_DIR": str(tmp_path / "cache"), "EOS_AUTOSTART_WORKER": "0"}
    command = [sys.executable, "-m", "eos_core", "dashboard", f"--server.port={port}", *passed]
    with open(tmp_path / "log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}") or process.poll() is not None, timeout=120)
        assert process.poll() is None, (tmp_path / "log").read_text()
        addresses = listening(port)
        if expected == "loopback":
            assert addresses and addresses <= LOOPBACK, addresses
        else:
            assert "00000000" in addresses, addresses
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert 'exec .venv/bin/eos dashboard "$@"' in (ROOT / "scripts" / "dashboard.sh").read_text()


@browser_only
@pytest.mark.slow
@pytest.mark.browser
def test_a_small_class_loads_the_story_without_errors(cache):
    done = subprocess.run(
        [sys.executable, "scripts/classroom_load.py", "--cache", str(cache), "--students", "3", "--timeout", "240"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and figures["errors"] == 0, done.stdout + done.stderr
    assert figures["drawn"] == 3 and 0 < figures["median_s"] <= figures["worst_s"]
    assert figures["server_peak_rss_mb"] > 50  # read from the server it started, before stopping it

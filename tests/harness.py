"""Drive the real dashboard: `streamlit run dashboard/app.py` on a free port, Debian's Chromium through
Playwright (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import NamedTuple
from urllib.parse import urlparse

from dashboard import pages as registry

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the checkout: tests/ is one level down
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class Shows(NamedTuple):
    """What a page must show once it has finished: its st.title (the page's one h1, whole) and how
    many Plotly charts it draws at least (for a finished, forked run with default options)."""

    heading: str
    charts: int


# What open_page and navigate wait for, by URL path: read from the dashboard's page registry.
PAGES = {p.key: Shows(p.heading, p.charts) for p in registry.PAGES}
DEFAULT_PAGE = registry.DEFAULT  # served at /
RESULT_PAGES = registry.RESULT_PAGES


def eos(*args: str, **kw) -> subprocess.CompletedProcess:
    """`python -m eos_core ARGS` as a user runs it from the checkout, its output captured as text;
    keyword arguments go to subprocess.run (env, timeout, ...)."""
    return subprocess.run(
        [sys.executable, "-m", "eos_core", *args],
        **{"cwd": ROOT, "capture_output": True, "text": True, "timeout": 300, **kw},
    )


def python(code: str, **kw) -> subprocess.CompletedProcess:
    """`python -c CODE` in a fresh interpreter from the checkout (what a test of imports needs)."""
    return subprocess.run(
        [sys.executable, "-c", code], **{"cwd": ROOT, "capture_output": True, "text": True, "timeout": 300, **kw}
    )


def damaged_cache(folder) -> pathlib.Path:
    """`folder` made into a cache whose SQLite index is garbage behind a valid header (what a disk
    error or a half-copied folder leaves); returns it."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cache.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def dashboard(cache_dir, log_path, autostart_worker: bool = True, timeout: float = 60.0, env: dict | None = None):
    """Yields (base url, seconds from launch to a healthy server); `env` adds to the server's environment."""
    port = free_port()
    env = {
        **os.environ,
        "EOS_CACHE_DIR": str(cache_dir),
        "EOS_AUTOSTART_WORKER": "1" if autostart_worker else "0",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard/app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    started = time.perf_counter()
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            while not healthy(url):
                if server.poll() is not None or time.perf_counter() - started > timeout:
                    raise RuntimeError(f"the dashboard did not become healthy; see {log_path}")
                time.sleep(0.05)
            yield url, time.perf_counter() - started
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            stop_processes_of(cache_dir)


def processes_of(cache_dir) -> list[int]:
    """Pids of the processes working on `cache_dir` (the workers a test's dashboard started, which
    run in their own session): found by the EOS_CACHE_DIR in their environment."""
    wanted = f"EOS_CACHE_DIR={pathlib.Path(cache_dir)}".encode()
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:  # gone, or not ours to read
                continue
    return pids


def stop_processes_of(cache_dir, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what is left: nothing a test started outlives it, pass or fail."""
    pids = processes_of(cache_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if pathlib.Path(f"/proc/{pid}").exists() and not _zombie(pid)]
            time.sleep(0.05)
        if not pids:
            return


def _zombie(pid: int) -> bool:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@contextlib.contextmanager
def launch_chromium():
    """Debian's Chromium under Playwright, closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def browser():
    """One page in a freshly launched Chromium."""
    with launch_chromium() as chromium:
        yield chromium.new_page(viewport={"width": 1400, "height": 1000})


CHART = '[data-testid="stPlotlyChart"]'
# True once, at one and the same moment, the script has finished, the page's title is the heading and
# at least `charts` charts are there, every one of them drawn. Not "every chart present is drawn":
# before a fresh server's first run has started the page reads notRunning with no chart yet.
SHOWN = (
    """([heading, charts]) => {
  const state = document.querySelector('[data-test-script-state]');
  const all = [...document.querySelectorAll('%s')];
  return !!state && state.getAttribute('data-test-script-state') === 'notRunning'
    && [...document.querySelectorAll('h1')].some(h => h.textContent.trim() === heading)
    && all.length >= charts && all.every(c => c.querySelector('.main-svg'));
}"""
    % CHART
)
STATE = """() => ({script: (document.querySelector('[data-test-script-state]') || {getAttribute: () => null})
                              .getAttribute('data-test-script-state'),
               titles: [...document.querySelectorAll('h1')].map(h => h.textContent),
               charts: document.querySelectorAll('%s').length,
               drawn: document.querySelectorAll('%s .main-svg').length})""" % (CHART, CHART)


def expected(url_or_path: str, heading: str | None = None, charts: int | None = None) -> Shows:
    """What the page at `url_or_path` (a URL, or a page's path such as "sharpness") must show, from
    PAGES; `heading` and `charts` override the table's entries."""
    path = urlparse(url_or_path).path.strip("/").rsplit("/", 1)[-1] or DEFAULT_PAGE
    if path not in PAGES and (heading is None or charts is None):
        raise KeyError(f"no entry for page {path!r} in harness.PAGES: add one, or pass heading and charts")
    table = PAGES.get(path, Shows("", 0))
    return Shows(table.heading if heading is None else heading, table.charts if charts is None else charts)


def settle(page, heading: str | None = None, charts: int | None = None, timeout_ms: int = 60_000) -> Shows:
    """Wait until the page in the browser (by page.url) shows what it must: its title visible, the
    script not running, at least its number of charts and every chart drawn."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    shows = expected(page.url, heading, charts)
    try:
        page.get_by_role("heading", level=1, name=shows.heading, exact=True).first.wait_for(
            state="visible", timeout=timeout_ms
        )
        page.wait_for_function(SHOWN, arg=[shows.heading, shows.charts], timeout=timeout_ms)
    except PlaywrightTimeout as error:
        raise AssertionError(
            f"{page.url} did not show {shows} within {timeout_ms} ms; it shows {page.evaluate(STATE)}"
        ) from error
    return shows


def open_page(page, url: str, heading: str | None = None, charts: int | None = None, timeout_ms: int = 60_000) -> float:
    """Load a URL afresh (new session) and wait until it shows what its page must (see `settle`;
    by default from PAGES by the URL's path); returns seconds."""
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    settle(page, heading, charts, timeout_ms)
    return time.perf_counter() - start


def navigate(page, path: str, heading: str | None = None, charts: int | None = None, timeout_ms: int = 60_000) -> float:
    """Open a page from the sidebar, as a user does, and wait until it shows what it must (see
    `settle`; by default from PAGES by `path`); returns seconds."""
    shows = expected(path, heading, charts)
    start = time.perf_counter()
    page.locator(f"a[data-testid='stSidebarNavLink'][href$='/{path}']").click()
    settle(page, shows.heading, shows.charts, timeout_ms)
    return time.perf_counter() - start


def wait_for(predicate, timeout=300.0, what="state"):
    """Poll `predicate` until it returns something truthy (and return that): tests wait on state,
    never on a fixed sleep; the timeout only catches a hang."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def app_test(cache, monkeypatch, run: str | None = None, **params):
    """Streamlit's AppTest of app.py on the cache folder `cache` (opened at `run` and with the other
    query parameters `params`, if given); it starts no worker."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("EOS_CACHE_DIR", str(cache))
    monkeypatch.setenv("EOS_AUTOSTART_WORKER", "0")
    monkeypatch.chdir(ROOT)
    st.cache_resource.clear()
    at = AppTest.from_file(os.path.join(ROOT, "dashboard", "app.py"), default_timeout=60)
    if run is not None:
        at.query_params["run"] = run
    for key, value in params.items():
        at.query_params[key] = value
    return at


def switch_to(at, page: str):
    """Run the AppTest `at` (app.py), then open `page` (e.g. "app_pages/sharpness.py") as the sidebar
    does; neither run may raise. Returns `at`."""
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def charts(at) -> list[dict]:
    """The Plotly figures (as JSON specs) an AppTest run drew, in page order."""
    import json

    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def first_launch_of(cache, monkeypatch):
    """app.py run once on the empty cache folder `cache`: (the AppTest, the ids of the jobs it queued)."""
    from eos_core.runs.queue import Queue

    at = app_test(cache, monkeypatch)
    at.run()
    queue = Queue(cache)
    queued = [j["id"] for j in queue.jobs() if j["state"] == "queued"]
    queue.close()
    return at, queued


def from_sidebar(at, page: str):
    """Open `page` in the AppTest `at` as a click in the sidebar's navigation does in Chromium: the
    next page starts without the current page's query parameters (`?run=` included). Returns `at`."""
    at.query_params.clear()
    return _opened(at, page)


def follow(at, link):
    """Open the page that the `st.page_link` element `link` of `at` points to, with the link's query
    parameters and no others, as a click on it does. Returns `at`."""
    from urllib.parse import parse_qsl

    at.query_params.clear()
    at.query_params.update(parse_qsl(link.proto.query_string))
    return _opened(at, registry.page(link.proto.page.strip("/")).file)


def _opened(at, page: str):
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at

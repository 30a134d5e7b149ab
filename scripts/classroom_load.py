"""A class opening the dashboard at once: N headless students load the Story page together.

One Chromium, one browser context (a student: own cookies, own Streamlit session) each; every tab
is made first, then all navigate at the same moment (an asyncio.Barrier). Each
records the seconds until the Story's charts are drawn (PAGES' chart count of `.js-plotly-plot`
with a `.main-svg`) and what went wrong: console errors, uncaught page errors, exception boxes.

    python scripts/classroom_load.py --url http://host:8501 [--students 30] [--token T]
    python scripts/classroom_load.py --cache DIR         # starts `streamlit run` on DIR itself

Prints median, 90th percentile and worst seconds, the error count and, when it started the server,
the server's peak RSS (VmHWM) and CPU seconds; the last line is the same as one JSON object. Exit status 1 when a
student saw an error or timed out. The Story needs a cache with a finished coherent run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dashboard.pages import page as registry_page  # noqa: E402  (torch-free)

CHROMIUM = "/usr/bin/chromium"
DRAWN = (
    """n => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('.main-svg')).length >= n"""
)
EXCEPTION = "[data-testid='stException']"


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running dashboard")
    where.add_argument("--cache", type=pathlib.Path, help="start a dashboard on this cache folder")
    parser.add_argument("--students", type=int, default=30, help="concurrent sessions (default 30)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a student waits at most")
    parser.add_argument("--token", default=os.environ.get("EOS_ACCESS_TOKEN"), help="for a private server")
    return parser.parse_args(argv)


async def student(browser, url: str, start: asyncio.Barrier, charts: int, timeout_s: float) -> dict:
    """One student's load of the Story: seconds until its charts are drawn, and its errors."""
    from playwright.async_api import Error as PlaywrightError  # its TimeoutError too

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        tab = await context.new_page()
        tab.on("console", lambda m: errors.append(f"console: {m.text[:200]}") if _counts(m, url) else None)
        tab.on("pageerror", lambda e: errors.append(f"page error: {str(e)[:200]}"))
        await start.wait()  # the whole class is ready: everyone loads at once
        began = time.perf_counter()
        try:
            await tab.goto(url, timeout=timeout_s * 1000)
            await tab.wait_for_function(DRAWN, arg=charts, timeout=timeout_s * 1000)
            seconds = time.perf_counter() - began
        except PlaywrightError as error:  # a timeout or a lost connection: counted, never fatal to the class
            errors.append(f"not drawn: {str(error).splitlines()[0][:200]}")
            seconds = None
        shown = await tab.locator(EXCEPTION).count()
        errors += [f"exception box shown on the page ({shown})"] * bool(shown)
        return {"seconds": seconds, "errors": errors}
    finally:
        await context.close()


async def classroom(url: str, students: int, timeout_s: float) -> list[dict]:
    from playwright.async_api import async_playwright

    charts = registry_page("story").charts
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            start = asyncio.Barrier(students)
            return await asyncio.gather(*(student(browser, url, start, charts, timeout_s) for _ in range(students)))
        finally:
            await browser.close()


def _counts(message, url: str) -> bool:
    """Whether a console message is an error of this dashboard. Not counted: a resource of another
    host (the favicon's font on an offline machine) and Streamlit's own probes of
    `<page>/_stcore/health` and `host-config`, which 404 by design before it tries the root."""
    if message.type != "error":
        return False
    source = urlparse(message.location.get("url") or "")
    if "Failed to load resource" not in message.text or not source.netloc:
        return True
    probe = source.path.endswith(("/_stcore/health", "/_stcore/host-config")) and "404" in message.text
    return source.netloc == urlparse(url).netloc and not probe


def summary(records: list[dict], peak_rss_mb: float | None) -> dict:
    times = sorted(r["seconds"] for r in records if r["seconds"] is not None)
    q = statistics.quantiles(times, n=10, method="inclusive") if len(times) > 1 else times
    return {
        "students": len(records),
        "drawn": len(times),
        "median_s": round(statistics.median(times), 2) if times else None,
        "p90_s": round(q[-1], 2) if times else None,
        "worst_s": round(times[-1], 2) if times else None,
        "errors": sum(len(r["errors"]) for r in records),  # a student whose Story never drew counts one
        "error_samples": sorted({e for r in records for e in r["errors"]})[:5],
        "server_peak_rss_mb": peak_rss_mb,
    }


@contextlib.contextmanager
def server(cache: pathlib.Path, timeout_s: float = 120.0):
    """`streamlit run dashboard/app.py` on `cache` on a free local port (no worker); yields (url, pid)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "EOS_CACHE_DIR": str(cache), "EOS_AUTOSTART_WORKER": "0"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", f"--server.port={port}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), read before it is stopped."""
    with contextlib.suppress(OSError):
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def cpu_seconds(pid: int) -> float | None:
    """The process's user + system CPU seconds so far: the server's own share of a loaded machine."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)
    return None


def story_url(base: str, token: str | None) -> str:
    return f"{base.rstrip('/')}/story" + (f"?token={token}" if token else "")


def main(argv=None) -> int:
    args = parse(argv)
    if args.url:
        records = asyncio.run(classroom(story_url(args.url, args.token), args.students, args.timeout))
        rss = cpu = None
    else:
        with server(args.cache.resolve()) as (url, pid):
            records = asyncio.run(classroom(story_url(url, args.token), args.students, args.timeout))
            rss, cpu = peak_rss_mb(pid), cpu_seconds(pid)
    result = summary(records, rss) | {"server_cpu_s": cpu}
    print(
        f"{result['students']} students, {result['drawn']} drew the Story: median {result['median_s']} s, "
        f"90th percentile {result['p90_s']} s, worst {result['worst_s']} s; errors {result['errors']}"
        + (f"; server peak RSS {rss} MB, {cpu} CPU s" if rss is not None else "")
    )
    for sample in result["error_samples"]:
        print(f"  {sample}")
    print(json.dumps(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

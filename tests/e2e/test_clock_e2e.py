"""The clock's Play in Chromium: the fragment's timer moves the line on λ1 until Pause stops it."""

import os
from urllib.parse import parse_qs, urlparse

import pytest
from harness import CHROMIUM, browser, dashboard, open_page
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from synthetic_result import synthetic_result, with_checkpoints

from dashboard import clock
from dashboard.content import plots

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
RUN = synthetic_result().meta["config_hash"]
# The x of the clock's (first, solid) line on the page's first chart, the λ1 figure; null before it is drawn.
LINE_X = (
    """() => { const p = document.querySelector('.js-plotly-plot');
  const line = p && p.layout && (p.layout.shapes || []).find(s => s.line && s.line.color === '%s');
  return line ? line.x0 : null; }"""
    % plots.CLOCK_COLOR
)


@pytest.fixture(scope="module")
def server(make_cache, tmp_path_factory):
    cache = make_cache(with_checkpoints(synthetic_result()), name="clock-e2e")
    with dashboard(cache, tmp_path_factory.mktemp("log") / "streamlit.log", autostart_worker=False) as (url, _):
        yield url


def test_play_moves_the_line_and_pause_stops_it(server):
    with browser() as page:
        open_page(page, f"{server}/sharpness?run={RUN}")
        assert page.evaluate(LINE_X) == 0  # a fresh session starts at the first logged time
        page.get_by_role("button", name="Play").click()
        # each frame is 1/60 of the run (0.32 of effective time, 8 EoS steps): two frames, by state
        page.wait_for_function(f"() => ({LINE_X})() >= 16", timeout=60_000)
        page.get_by_role("button", name="Pause").click()
        page.get_by_role("button", name="Play").wait_for(timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('[data-test-script-state]').getAttribute('data-test-script-state')"
            " === 'notRunning'",
            timeout=60_000,
        )
        paused = page.evaluate(LINE_X)
        assert paused >= 16
        # Paused: no frame comes in the time of five (a bound on a negative, not a sleep before a check)
        with pytest.raises(PlaywrightTimeout):
            page.wait_for_function(f"() => ({LINE_X})() !== {paused}", timeout=5 * clock.TICK_S * 1000)
        t = float(parse_qs(urlparse(page.url).query)["t"][0])
        assert t == pytest.approx(0.04 * paused)  # the URL keeps the time the line shows (η = 0.04)

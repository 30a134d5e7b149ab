"""The Valley page in Chromium: both panels drawn, and ▶ Play moves the figure through the checkpoints."""

import os

import pytest
from harness import CHART, CHROMIUM, dashboard, launch_chromium, open_page
from tiny import TINY

from eos_core.analysis.valley import valley_steps

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
VALLEY = TINY.replace(valley_every=10)
# The animated figure's state: the slider's active checkpoint, the frame count, and both slices' lengths.
STATE = (
    """() => { const p = document.querySelector('%s .js-plotly-plot');
  return {active: p._fullLayout.sliders[0].active, frames: p._transitionData._frames.length,
          base: p._fullData[0].x.length, exit: p._fullData[4].x.length, first: p._fullData[0].y[0]}; }"""
    % CHART
)


def test_the_valley_page_draws_both_branches_and_play_advances_the_frame(make_cache, tiny_run, tmp_path):
    result = tiny_run(VALLEY)
    steps = valley_steps(result, "baseline")
    cache = make_cache(result)
    with (
        dashboard(cache, tmp_path / "streamlit.log", autostart_worker=False) as (url, _),
        launch_chromium() as chromium,
    ):
        page = chromium.new_page(viewport={"width": 1440, "height": 1000})
        open_page(page, f"{url}/valley?run={VALLEY.config_hash()}&step={steps[0]}")
        assert page.locator("[data-testid='stException']").count() == 0
        before = page.evaluate(STATE)
        assert before["frames"] == len(steps) and before["active"] == 0
        assert before["base"] > 0 and before["exit"] > 0  # t* = 0: both branches slice at the first checkpoint
        page.locator(CHART).get_by_text("▶ Play").click()
        # wait on the figure's own state: the slider moves on as the frames play
        page.wait_for_function(STATE.replace("return {", "return ({").replace("}; }", "}).active > 0; }"))
        after = page.evaluate(STATE)
        assert after["active"] > 0 and after["first"] != before["first"]
        page.close()

"""End to end in headless Chromium: every page, screenshots, and a run submitted from the form."""

import os
import pathlib

import pytest
from harness import PAGES, RESULT_PAGES, ROOT, browser, dashboard, open_page

from eos_core.presets import OFFLINE_LAUNCH, preset
from eos_core.runs.queue import Queue
from eos_core.science.experiment import run_experiment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists("/usr/bin/chromium"), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]
SCREENSHOTS = pathlib.Path(ROOT) / "docs" / "screenshots"


@pytest.fixture(scope="module")
def cache(make_cache):
    # the offline first-launch presets (what a new user without Fashion-MNIST sees), a coherent/random pair
    return make_cache(*(run_experiment(preset(name)) for name in OFFLINE_LAUNCH))


def test_every_page_renders_and_a_submitted_run_finishes(cache, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with dashboard(cache, tmp_path / "streamlit.log") as (url, startup_s), browser() as page:
        print(f"startup_to_healthy_s={startup_s:.2f}")
        for path in ["experiment", *RESULT_PAGES]:
            text = PAGES[path].heading
            run = preset(OFFLINE_LAUNCH[0]).config_hash()
            seconds = open_page(page, f"{url}/{'' if path == 'experiment' else path}?run={run}")
            assert page.locator("[data-testid='stException']").count() == 0, path
            assert page.get_by_text(text).first.is_visible(), path
            page.screenshot(path=str(SCREENSHOTS / f"{path}.png"), full_page=True)
            print(f"{path}: {seconds:.2f} s")
        # projector mode, as a class sees it from the back of the room
        open_page(page, f"{url}/sharpness?run={run}&projector=1")
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "sharpness-projector.png"), full_page=True)

        # a tiny run from the form, watched until it finishes
        open_page(page, url)
        page.get_by_text("Advanced").click()
        for label, value in (("steps", "48"), ("onset fraction f", "0.1"), ("log every (steps)", "16")):
            field = page.get_by_label(label, exact=True)
            field.fill(value)
            field.press("Tab")
        page.get_by_role("button", name="Run experiment").click()
        # wait on the job's state, however busy the machine is (the ceiling only catches a hang;
        # the dashboard context stops the worker it started, pass or fail)
        page.get_by_text(" — done").or_(page.get_by_text(" — finished")).first.wait_for(timeout=30 * 60_000)
        assert page.locator("[data-testid='stException']").count() == 0
    queue = Queue(cache)
    finished = [j for j in queue.jobs() if j["state"] == "done" and j["config"]["steps"] == 48]
    assert finished and queue.store.result(finished[0]["id"]).meta["t_star"] is not None


def test_a_fresh_clones_first_launch_tells_the_whole_story_within_seconds(tmp_path):
    """An empty cache: the shipped runs go into the store at launch, and the Story's first step is drawn
    with no run trained (nothing queued, no worker). The time is the teacher's wait, printed. Then the
    toy answers a student's η at once."""
    cache = tmp_path / "empty"
    with dashboard(cache, tmp_path / "streamlit.log") as (url, startup_s), browser() as page:
        seconds = open_page(page, f"{url}/story")
        page.get_by_role("heading", name="1. Progressive sharpening").wait_for()
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.get_by_role("button", name="Run it live").is_visible()
        print(f"first launch: healthy after {startup_s:.2f} s, the Story drawn {seconds:.2f} s later")
        # the bowl's toy in the browser: η from 0.15 (converges) up to 0.21 (diverges), by keyboard
        page.get_by_text("The iterates converge.").wait_for()
        bowl = page.get_by_role("slider").first
        bowl.focus()
        for _ in range(6):
            bowl.press("ArrowRight")
        page.get_by_text("The iterates diverge.").wait_for()
        assert page.locator("[data-testid='stException']").count() == 0
    queue = Queue(cache)
    assert queue.jobs() == [] and len(queue.store.result_hashes()) == 2
    queue.close()

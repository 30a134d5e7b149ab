"""The Story to hand out, in Chromium: the file opened from disk with the network blocked draws every
figure and image and asks for nothing beyond itself; the Story page offers it for download, and
what it hands over is the handout of the run on the page."""

import os
import re

import pytest
from harness import CHROMIUM, dashboard, open_page
from synthetic_result import synthetic_result, with_prototypes
from tiny import TINY

from dashboard.content import handout
from dashboard.content.naming import result_name
from eos_core.runs.store import Store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
# True once every figure has drawn (its SVG is there) and every image has decoded.
DRAWN = """(figures) => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const images = [...document.querySelectorAll('img')];
  return plots.length === figures && plots.every(p => p.querySelector('.main-svg') && p._fullData.length > 0)
    && images.every(i => i.complete && i.naturalWidth > 0);
}"""
FOOTER = re.compile(r"<footer>.*?</footer>", re.S)


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    try:
        yield context
    finally:
        context.close()


def test_the_file_draws_every_figure_offline_and_asks_for_nothing(context, tmp_path):
    result = with_prototypes(synthetic_result())
    path = tmp_path / "story.html"
    path.write_text(handout.story_html(result, synthetic_result("teach-selective-random"), "teach-selective"))
    url = path.as_uri()
    requests, errors = [], []
    # the network is blocked: everything but the file itself is aborted, and every request recorded
    context.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function(DRAWN, arg=7, timeout=60_000)
    assert [r for r in requests if r != url and not r.startswith("data:")] == []
    assert errors == []
    assert page.locator("img").count() == 20  # synthetic_result's 5 examples in each of the 4 groups
    assert page.locator("figcaption").count() == 7
    assert page.get_by_role("heading", level=2, name="5. The random control").is_visible()


@pytest.fixture(scope="module")
def story_cache(make_cache, tiny_run):
    return make_cache(tiny_run(TINY), tiny_run(TINY.replace(displacement="random")), name="handout")


@pytest.mark.slow
def test_the_story_page_hands_out_the_story_of_its_run(story_cache, context, tmp_path):
    store = Store(story_cache)
    try:
        coherent, random = (
            store.result(TINY.config_hash()),
            store.result(TINY.replace(displacement="random").config_hash()),
        )
        meta = next(m for m in store.metas() if m["config_hash"] == TINY.config_hash())
    finally:
        store.close()
    name = result_name(meta["config"], meta.get("fork"))  # the page names the run from its listed meta
    expected = handout.story_html(coherent, random, name)
    with dashboard(story_cache, tmp_path / "streamlit.log", autostart_worker=False) as (url, _):
        page = context.new_page()
        open_page(page, f"{url}/story")
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name="Download the Story (HTML)").click()
        saved = tmp_path / "downloaded.html"
        download.value.save_as(saved)
    assert download.value.suggested_filename == handout.file_name(name)
    assert FOOTER.sub("", saved.read_text()) == FOOTER.sub("", expected)  # all but the export's time

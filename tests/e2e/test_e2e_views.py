"""The views a user sees in Chromium: readable log axes, links that restore the whole view, link
text that never turns into links or images, and a damaged cache named on every page."""

import math
import os
from urllib.parse import parse_qs, urlparse

import pytest
from harness import (
    CHART,
    CHROMIUM,
    RESULT_PAGES,
    damaged_cache,
    dashboard,
    navigate,
    open_page,
    settle,
)
from tiny import TINY

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install chromium)"),
]
RUN = TINY.config_hash()
# What a page has drawn: every chart's title, axis types and ranges, and its curves' names and lengths.
DRAWN = """() => [...document.querySelectorAll('.js-plotly-plot')].map(p => JSON.stringify({
    title: p._fullLayout.title.text, y: [p._fullLayout.yaxis.type, p._fullLayout.yaxis.range.map(v => +(+v).toFixed(6))],
    x: p._fullLayout.xaxis.title.text, traces: p.data.map(t => [t.name, (t.y || []).length, t.line && t.line.dash])}))
  .concat([JSON.stringify({images: document.querySelectorAll('[data-testid="stImage"]').length,
           switches: [...document.querySelectorAll('input[type=checkbox]')].map(c => c.checked)})])"""


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    return make_cache(*(tiny_run(cfg) for cfg in (TINY, TINY.replace(displacement="random"), TINY.replace(c=0.25))))


@pytest.fixture(scope="module")
def server(cache, tmp_path_factory, chromium):
    with dashboard(cache, tmp_path_factory.mktemp("log") / "streamlit.log", autostart_worker=False) as (url, _):
        yield url


def test_a_deep_link_as_a_fresh_servers_first_request_runs_the_whole_app(cache, tmp_path, page):
    """With Streamlit's magic pages/ folder this session ran the page script alone: no app.py, so no
    navigation sections, no projector toggle, no damaged-cache guard."""
    with dashboard(cache, tmp_path / "streamlit.log", autostart_worker=False) as (url, _):
        open_page(page, f"{url}/sharpness?run={RUN}")
        links = page.locator("a[data-testid='stSidebarNavLink']")
        assert any("/glossary" in (links.nth(i).get_attribute("href") or "") for i in range(links.count()))
        assert page.get_by_text("Projector mode").count() >= 1
        assert page.locator(".js-plotly-plot").count() >= 1


def drawn(page) -> list[str]:
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    return page.evaluate(DRAWN)


def settle_after(page, action, url_has: str) -> None:
    """Do `action`, then wait until the app has written the new option into the URL and the page
    shows what it must again (harness.settle)."""
    before = page.url
    action()
    page.wait_for_url(lambda u: u != before and url_has in u, timeout=60_000)
    settle(page)


# -- §1.2 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["sharpness", "groups", "alignment"])
def test_log_axes_span_the_data_and_read_as_powers_of_ten(server, page, path):
    open_page(page, f"{server}/{path}?run={RUN}&log=1")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    layout = page.evaluate(
        "() => { const p = document.querySelector('.js-plotly-plot')._fullLayout;"
        " return {range: p.yaxis.range, type: p.yaxis.type,"
        " ticks: [...document.querySelectorAll('.js-plotly-plot .ytick text')].map(t => t.textContent)} }"
    )
    assert layout["type"] == "log"
    low, high = layout["range"]
    if path == "sharpness":  # the data run from λ1 at the start to the exit threshold 2/(c·η)
        assert high <= math.log10(2 / (TINY.c * TINY.lr)) + 1 and low >= -3, layout
    assert high - low < 12, layout
    assert not any("µ" in t or t.endswith("m") for t in layout["ticks"]), layout["ticks"]


# -- §1.6 ---------------------------------------------------------------------------------------


def _sharpness(page):
    settle_after(page, lambda: page.get_by_text("show λ2").click(), "l2=1")
    settle_after(page, lambda: page.get_by_text("log scale (y)").click(), "log=1")


def _groups(page):
    settle_after(page, lambda: page.get_by_text("two-step (cycle) averaged losses").click(), "avg=0")


def _alignment(page):
    settle_after(page, lambda: page.get_by_text("show Q_k and R_k").click(), "qr=1")


def _outliers(page):
    settle_after(page, lambda: page.get_by_text("exit (c·η)", exact=True).click(), "branch=exit")
    slider = page.get_by_role("slider").first
    settle_after(page, lambda: (slider.focus(), slider.press("End")), "step=")


def _prototypes(page):
    settle_after(page, lambda: page.get_by_text("paint values outside").click(), "mark=0")


def _compare(page):
    settle_after(page, lambda: page.get_by_text("cos²θ_k", exact=True).click(), "q=cos2")
    settle_after(page, lambda: page.get_by_text("effective time", exact=True).click(), "x=time")


def _report(page):
    box = page.get_by_role("combobox", name="Run", exact=True)
    box.scroll_into_view_if_needed()  # a click that scrolls the page first closes the dropdown again
    settle_after(page, lambda: (box.click(), page.get_by_role("option").nth(1).click()), "focus=")


@pytest.mark.parametrize(
    "path, change",
    [
        ("sharpness", _sharpness),
        ("groups", _groups),
        ("alignment", _alignment),
        ("outliers", _outliers),
        ("prototypes", _prototypes),
        ("compare", _compare),
        ("report", _report),
        ("branches", _groups),  # the same toggle: raw or two-step averaged group losses
    ],
)
def test_a_copied_link_restores_the_whole_view(server, chromium, page, path, change):
    open_page(page, f"{server}/{path}?run={RUN}")
    default = drawn(page)
    change(page)
    changed = drawn(page)
    assert changed != default, "the change drew nothing new"
    fresh = chromium.new_context(viewport={"width": 1440, "height": 900})
    try:
        other = fresh.new_page()
        open_page(other, page.url, charts=page.locator(CHART).count())  # the whole view: all its charts
        assert drawn(other) == changed
        assert other.locator("[data-testid='stAlert']").filter(has_text="The link's").count() == 0
    finally:
        fresh.close()


def shown_run(page) -> str:
    return parse_qs(urlparse(page.url).query)["run"][0]


def test_the_run_a_link_chose_survives_the_sidebars_links(server, page):
    """The sidebar's navigation starts the next page without the URL's parameters: the run the link
    chose must still be the one shown there (and in its URL), not the page's default run."""
    open_page(page, f"{server}/sharpness")
    default = shown_run(page)
    chosen = next(r.config_hash() for r in (TINY, TINY.replace(displacement="random")) if r.config_hash() != default)
    open_page(page, f"{server}/sharpness?run={chosen}")
    navigate(page, "groups")
    page.wait_for_url(lambda url: "run=" in url, timeout=60_000)
    assert shown_run(page) == chosen


def test_the_storys_link_opens_its_run(server, page):
    open_page(page, f"{server}/story")
    told = parse_qs(urlparse(page.url).query)["story_run"][0]
    page.get_by_role("link", name="This run on the Sharpness page").click()
    page.wait_for_url(lambda url: "/sharpness" in url, timeout=60_000)
    settle(page)
    assert shown_run(page) == told


# -- issue 10: link text is untrusted -------------------------------------------------------------


def test_link_text_never_becomes_a_link_or_an_image(server, page):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    for value in (
        "[Session expired](https://evil.example)",
        f"![b]({server}/track.png)",
        "<a href='https://evil.example'>x</a>",
    ):
        open_page(page, f"{server}/sharpness?run={RUN}&x={value}")
        assert page.get_by_text(value, exact=False).count() >= 1  # shown verbatim
        assert page.locator("a[href*='evil.example']").count() == 0
        assert page.locator("img[src*='track.png']").count() == 0
    assert not any(urlparse(u).path.endswith("/track.png") for u in requests)  # the page's own URL names it


@pytest.mark.parametrize("query", ["step=%C2%B2", "step=" + "9" * 5000, "step=-1", "branch=sideways"])
def test_malformed_outlier_options_warn_and_fall_back(server, page, query):
    open_page(page, f"{server}/outliers?run={RUN}&{query}")
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlert']").filter(has_text="The link's").count() == 1


def test_a_damaged_cache_is_named_on_every_page(tmp_path, chromium):
    folder = damaged_cache(tmp_path / "damaged")
    with dashboard(folder, tmp_path / "streamlit.log", autostart_worker=False) as (url, _):
        context = chromium.new_context()
        try:
            page = context.new_page()
            for path in ["", *RESULT_PAGES]:
                page.goto(f"{url}/{path}")
                page.get_by_text("is damaged").first.wait_for(timeout=60_000)
                assert page.locator("[data-testid='stException']").count() == 0, path
                assert page.get_by_text(str(folder.resolve())).count() >= 1, path
        finally:
            context.close()

"""Fixtures the browser tests share: one Chromium per test module (Debian's, see harness), and a fresh
browser context per test, so no state is carried over but what the URL says."""

import pytest
from harness import launch_chromium


@pytest.fixture(scope="module")
def chromium():
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()

"""The browser tests' Chromium (tests/book/test_browser*.py).

They share one headless Chromium for the whole session: ``browser`` and ``context`` live here,
once, because a session fixture imported into two test modules is set up twice, and Playwright
refuses a second sync_playwright() inside the first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (the system's, e.g. Debian's ``chromium``) for the whole session."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
    import bookcheck

    executable = bookcheck.find_chromium()
    if executable is None:
        pytest.fail(
            "no Chromium found: install Debian's `chromium` (.ci/run does) or set $CHROMIUM"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=bookcheck.CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def context(browser):
    """A browser context with a laptop-sized window; every page of the session opens in it."""
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, reduced_motion="reduce"
    )
    yield ctx
    ctx.close()

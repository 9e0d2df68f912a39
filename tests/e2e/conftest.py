"""Fixtures for end-to-end tests: a Streamlit server, Debian's Chromium, a page.

Without Chromium (or the playwright package) these tests skip, except under
CI (CI=true), where browser tests must run and their absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from contextlib import ExitStack
from pathlib import Path

import pytest

from .helpers import REPO_ROOT, start_streamlit, tracked_page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 1000}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (browser tests must run under CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path to Debian's Chromium; skips (fails under CI) when it is missing."""
    if not Path(CHROMIUM).is_file():
        _unavailable("no Chromium: apt-get install chromium")
    return CHROMIUM


@pytest.fixture
def streamlit_server():
    """Factory: `streamlit_server(script_path, env=None)` -> base URL.

    Each server started through it is stopped when the test ends. For a server
    shared by a module, use helpers.start_streamlit in a module-scoped fixture.
    """
    with ExitStack() as stack:
        def start(script_path, env=None, port=None) -> str:
            return stack.enter_context(start_streamlit(script_path, port=port, env=env))

        yield start


@pytest.fixture(scope="session")
def shipped_app_url(chromium_path, tmp_path_factory):
    """`streamlit run app.py` on a throwaway copy of the shipped models folder: one server for the files of the
    Draw page (the mouse's and the finger's) and Inside the network, which run on one test process
    (SHARED_BY_FILES in tests/conftest.py). Nothing a test does is written into the project's own models/."""
    store = tmp_path_factory.mktemp("shipped-store") / "models"
    shutil.copytree(REPO_ROOT / "models", store, ignore=shutil.ignore_patterns(".*", "*.sqlite3*"))
    with start_streamlit("app.py", env={"DIGIT_STUDIO_MODELS": str(store)}) as url:
        yield url


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless Chromium for the whole session (Playwright's sync API)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("no playwright: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    """A fresh desktop-sized page (see tracked_page)."""
    with tracked_page(browser, request, viewport=VIEWPORT) as page:
        yield page

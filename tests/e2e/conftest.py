"""Fixtures for end-to-end tests: a Streamlit server, Debian's Chromium, a page.

Without Chromium (or the playwright package) these tests skip, except under
CI (CI=true), where browser tests must run and their absence is a failure.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from .helpers import copy_of_shipped_models, start_streamlit, tracked_page, wait_for_app

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
JOIN_URL = "http://192.168.1.20:8501"  # the address thread_app_url tells visitors to join at


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


@contextmanager
def app_opened_at_its_root(browser, env: dict):
    """`streamlit run app.py` with `env`, opened once at its root before any test deep-links into it (a deep link
    as a server's first request is test_deep_link_as_first_request_uses_the_router's own case). Yields the URL."""
    with start_streamlit("app.py", env=env) as url:
        page = browser.new_page()
        page.goto(url)
        wait_for_app(page)
        page.close()
        yield url


@pytest.fixture(scope="session")
def shipped_store(tmp_path_factory) -> Path:
    """The models folder of `shipped_app_url`; its drawings database is `drawings.sqlite3` in it."""
    return copy_of_shipped_models(tmp_path_factory, "shipped-store")


@pytest.fixture(scope="session")
def shipped_app_url(browser, shipped_store):
    """The app on a copy of the shipped models: one server for the files of Draw (the mouse's and the finger's),
    Drawings and Inside the network, which run on one test process (SHARED_BY_FILES in tests/conftest.py)."""
    env = {"DIGIT_STUDIO_MODELS": str(shipped_store), "DIGIT_STUDIO_DRAWINGS": str(shipped_store / "drawings.sqlite3")}
    with app_opened_at_its_root(browser, env) as url:
        yield url


@pytest.fixture(scope="session")
def training_app_url(browser, tmp_path_factory):
    """The app on a copy of the shipped models, one run at a time: one server (and one forkserver for its runs) for
    the files that train through the browser, the live panel's and Train/Mistakes', which run on one test process
    (SHARED_BY_FILES in tests/conftest.py)."""
    env = {"DIGIT_STUDIO_MODELS": str(copy_of_shipped_models(tmp_path_factory, "training-store")),
           "DIGIT_STUDIO_MAX_JOBS": "1"}
    with app_opened_at_its_root(browser, env) as url:
        yield url


@pytest.fixture(scope="session")
def thread_app_url(browser, tmp_path_factory):
    """The app on a copy of the shipped models, its runs trained one at a time in the server's own thread, with a
    join address set: one server for the presenter view's file and the sweep's, which run on one test process
    (SHARED_BY_FILES in tests/conftest.py)."""
    store = copy_of_shipped_models(tmp_path_factory, "thread-store")
    env = {"DIGIT_STUDIO_MODELS": str(store), "DIGIT_STUDIO_MAX_JOBS": "1", "DIGIT_STUDIO_EXECUTOR": "thread",
           "DIGIT_STUDIO_JOIN_URL": JOIN_URL, "DIGIT_STUDIO_DRAWINGS": str(store / "drawings.sqlite3")}
    with app_opened_at_its_root(browser, env) as url:
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

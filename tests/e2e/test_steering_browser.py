"""Taking the wheel in a real browser (runs in a worker process, as the app runs them): Pause, Step twice,
a new learning rate, Resume, then Stop; once more in presenter view, for someone else's run. Screenshots go
to tests/artifacts/ (steering_paused_step.png: the step's batch and the change marked on the curves)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .helpers import (copy_of_shipped_models, screenshot, start_streamlit, wait_for_app, wait_for_main_text,
                      wait_until_rendered)

RUN_TIMEOUT_MS = 300_000
LINK = "/train?arch=mlp-128-64&epochs=60&batch-size=32&limit=3000"
# Someone else's run must outlast the presenter opening it on a loaded machine: minutes, not seconds.
LONG_LINK = "/train?arch=mlp-128-64&epochs=60&batch-size=32&limit=20000"


@pytest.fixture(scope="module")
def app_url(chromium_path, tmp_path_factory):
    store = copy_of_shipped_models(tmp_path_factory, "steer-store")
    env = {"DIGIT_STUDIO_MODELS": str(store), "DIGIT_STUDIO_MAX_JOBS": "2", "DIGIT_STUDIO_SPARE_WORKERS": "0",
           "DIGIT_STUDIO_DRAWINGS": str(store / "drawings.sqlite3")}
    with start_streamlit("app.py", env=env) as url:
        yield url


def click(page, name: str, then: str) -> None:
    """Click a button and wait for the text it should bring. Not for the app to rest: the page reruns every
    second by itself, and on a busy machine a rerun can take longer than that. A click that lands while the
    button is being drawn again can be lost there: if nothing came of it in 45 s and the same button is still
    shown, it is clicked once more. (Step uses `step`, which allows for the first click having counted too.)"""
    page.get_by_role("button", name=name).click()
    expected = page.get_by_text(re.compile(then)).first
    try:
        expected.wait_for(timeout=45_000)
    except PlaywrightTimeout:
        page.get_by_role("button", name=name).click()
        expected.wait_for(timeout=120_000)


def step(page, number: int, then: str = "") -> int:
    """Click Step one batch and wait for step `number`'s text (followed by `then`); the step actually shown is
    returned. On a loaded machine the first click's rerun can be slow enough for `click` to click again, and
    then both clicks count, each time it happens: the page may show a step or two after `number`."""
    click(page, "Step one batch", rf"Step ({number}|{number + 1}|{number + 2}): one batch of 32 images{then}")
    text = page.get_by_text(re.compile(r"Step \d+: one batch of 32 images")).first.inner_text()
    return int(re.search(r"Step (\d+):", text).group(1))


def start_run(page, app_url: str, query: str = "", link: str = LINK) -> str:
    page.goto(f"{app_url}{link}{query}")
    wait_for_app(page)
    page.get_by_role("button", name="Start training").click()
    wait_for_main_text(page, r"Epoch \d+ of 60 · batch [1-9]\d+ of", timeout=RUN_TIMEOUT_MS)  # 10 batches on
    return re.search(r"job=([\w-]+)", page.url).group(1)


def test_pause_step_twice_change_the_rate_resume_and_stop(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 1000})
    start_run(page, app_url)
    click(page, "Pause", r"Paused: the weights are held\. Step trains one batch")
    held = re.search(r"batch (\d+) of", page.locator('[data-testid="stProgress"]').inner_text()).group(1)
    page.wait_for_timeout(2000)
    assert re.search(r"batch (\d+) of", page.locator('[data-testid="stProgress"]').inner_text()).group(1) == held

    steps = step(page, 1)
    steps = step(page, steps + 1)
    assert page.get_by_label("the batch of this step").locator("img").count() == 32

    field = page.get_by_role("spinbutton", name="Learning rate from the next batch")
    field.fill("0.02")
    field.press("Enter")
    page.locator("svg[aria-label='Loss curve'] text", has_text="learning rate 0.001 → 0.02").wait_for(
        timeout=120_000)
    wait_until_rendered(page)  # the rate's rerun is over before Step is clicked
    step(page, steps + 1, r" · batch [\d,]+ of the run · learning rate 0\.02")
    wait_until_rendered(page, settle_ms=800)
    screenshot(page, "steering_paused_top", full_page=False)
    page.get_by_text(re.compile(r"Step \d+: one batch")).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    wait_until_rendered(page, settle_ms=500)
    screenshot(page, "steering_paused_step", full_page=False)

    click(page, "Resume", r"Epoch \d+ of 60 · batch")
    page.get_by_role("button", name="Pause").wait_for(timeout=60_000)
    wait_for_main_text(page, r"Epoch \d+ of 60 · batch")
    page.get_by_role("button", name="■ Stop").click()
    wait_for_main_text(page, r"Stopped in epoch \d+ of 60", timeout=RUN_TIMEOUT_MS)
    page.locator("text=learning rate 0.001 → 0.02").first.wait_for(timeout=30_000)  # on the final curves too
    wait_until_rendered(page, settle_ms=1500)
    screenshot(page, "steering_after_stop")


def test_the_presenter_pauses_and_steps_someone_else_s_run(page, browser, app_url):
    job_id = start_run(page, app_url, "&name=ada", link=LONG_LINK)
    page.goto("about:blank")  # ada's tab closed: one page polls the server, not two
    other = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        other.goto(f"{app_url}/train?job={job_id}&name=bob")
        wait_for_main_text(other, r"only they, or the presenter, can stop, pause or steer it")
        assert other.get_by_role("button", name="Pause").count() == 0
        other.goto(f"{app_url}/train?job={job_id}&name=bob&present=1")
        wait_for_app(other)
        click(other, "Pause", r"Paused: the weights are held\. Step trains one batch")
        step(other, 1)
        wait_until_rendered(other, settle_ms=800)
        screenshot(other, "steering_presenter_step", full_page=False)
        other.get_by_role("button", name="■ Stop").click()
        wait_for_main_text(other, r"Stopped in epoch \d+ of 60", timeout=RUN_TIMEOUT_MS)
    finally:
        other.close()

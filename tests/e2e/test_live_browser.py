"""Watch it learn in a real browser: a drawing made on Draw joins the Train page's live panel while a run
trains, the Draw page answers with the run in progress, and a stopped run can be replayed.
Screenshots go to tests/artifacts/ (live_panel.png is the one to look at: the live panel mid-run).
"""
from __future__ import annotations

import re

import pytest

from .helpers import (
    canvas_box,
    draw_stroke,
    expect_rerun,
    screenshot,
    wait_for_app,
    wait_for_main_text,
    wait_until_rendered,
)

RUN_TIMEOUT_MS = 300_000
PANEL = r"\d+ of 26 right"


@pytest.fixture
def app_url(training_app_url):
    return training_app_url


def go_by_sidebar(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    wait_for_app(page)


def set_number(page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input")
    with expect_rerun(page):
        field.fill(str(value))
        field.press("Enter")


def test_drawing_joins_the_live_panel_and_the_run_answers_on_draw(page, app_url):
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    box = canvas_box(page)
    draw_stroke(page, [(140, 45), (140, 140), (140, 235)], box=box)  # a 1
    wait_for_main_text(page, r"Predicted digit")

    go_by_sidebar(page, "Train")
    set_number(page, "train_cnn-basic_epochs", 20)
    set_number(page, "train_cnn-basic_limit", 20000)
    page.get_by_role("button", name="Start training").click()

    # The live panel: test images with ✓/✗, the drawing from Draw with its answer, filters.
    wait_for_main_text(page, PANEL, timeout=RUN_TIMEOUT_MS)
    wait_for_main_text(page, r"The network says", timeout=RUN_TIMEOUT_MS)
    wait_for_main_text(page, r"Confusion matrix after epoch 1", timeout=RUN_TIMEOUT_MS)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "✓" in text and "kernels of 3 x 3 pixels" in text
    panel = page.get_by_label("test images and what the network says they are")
    assert panel.locator("img").count() == 26
    panel.scroll_into_view_if_needed()
    wait_until_rendered(page)
    screenshot(page, "live_panel", full_page=False)
    page.get_by_text("What the first layer is learning").scroll_into_view_if_needed()
    screenshot(page, "live_panel_filters", full_page=False)
    job_id = re.search(r"[?&]job=(job-\d+-\d+)", page.url).group(1)

    # The Draw page answers with the run in progress.
    go_by_sidebar(page, "Draw")
    with expect_rerun(page):
        page.get_by_text("Use the run in progress").click()
    draw_stroke(page, [(140, 45), (140, 140), (140, 235)], box=canvas_box(page))
    match = wait_for_main_text(page, r"The run in progress says\s+(\d)\s+\d+% sure · as of batch [\d,]+")
    assert match.group(1) == "1", "a clear 1, after an epoch of training"
    screenshot(page, "live_draw", full_page=False)

    # Back, Stop: the stopped run keeps its snapshots and replays them.
    go_by_sidebar(page, "Train")  # the same session: the one that started the run may stop it
    wait_for_main_text(page, PANEL)
    assert f"job={job_id}" in page.url
    page.get_by_role("button", name="■ Stop").click()
    wait_for_main_text(page, r"Stopped in epoch", timeout=RUN_TIMEOUT_MS)
    wait_for_main_text(page, r"Replay: how it learned")
    assert page.get_by_label("test images and what the network says they are").count() == 1
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Snapshot")
    slider.scroll_into_view_if_needed()
    thumb = slider.get_by_role("slider")
    thumb.focus()
    with expect_rerun(page):
        page.keyboard.press("Home")  # back to the untrained network
    wait_for_main_text(page, r"before training")
    screenshot(page, "live_replay_start", full_page=False)

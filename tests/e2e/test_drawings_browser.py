"""Your drawings in a real browser: a digit drawn with the mouse, kept with a corrected label on Draw,
then found on the Drawings page (screenshots: tests/artifacts/draw_keep.png and drawings.png)."""
from __future__ import annotations

import re

import pytest

from core.drawings import DrawingStore

from .helpers import (
    canvas_box,
    draw_stroke,
    expect_rerun,
    screenshot,
    wait_for_app,
    wait_for_main_text,
    wait_until_rendered,
)

HINT = r"Draw a digit in the black box"
PREDICTED_ONE = r"Predicted digit\s+1\s"


@pytest.fixture
def app(shipped_app_url, shipped_store):
    """The app and its drawings database (tests/e2e/conftest.py): (base URL, the drawings store). No other test
    of its server keeps a drawing."""
    return shipped_app_url, DrawingStore(shipped_store / "drawings.sqlite3")


def tall_screenshot(page, name: str, height: int = 1500) -> None:
    """Streamlit scrolls inside its own container: a tall window shows the whole page."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    try:
        wait_until_rendered(page, settle_ms=800)
        screenshot(page, name, full_page=False)
    finally:
        page.set_viewport_size(size)


def test_a_drawing_kept_with_a_corrected_label_shows_on_the_drawings_page(page, app):
    url, store = app
    page.goto(f"{url}/draw")
    wait_for_app(page)
    box = canvas_box(page)
    wait_for_main_text(page, HINT)
    draw_stroke(page, [(140, 50), (140, 140), (140, 230)], box=box)
    wait_for_main_text(page, PREDICTED_ONE)

    keep_choice = page.locator("[class*='st-key-keep_label_']")
    assert keep_choice.count() == 1, "the label choice is offered under the answer"
    with expect_rerun(page):
        keep_choice.get_by_role("radio", name="7", exact=True).click()
    wait_for_main_text(page, r"The network said 1; you say it is a 7")
    with expect_rerun(page):
        page.get_by_role("button", name="Keep as a 7").click()
    wait_for_main_text(page, r"Kept as a 7 \(drawing #1\)\. 1 drawing kept so far")
    tall_screenshot(page, "draw_keep")

    kept = store.list()
    assert [(d.label, d.predicted, d.model) for d in kept] == [(7, 1, "default")]
    assert kept[0].has_canvas and kept[0].image.max() == 255, "the canvas and the network input are kept"

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Drawings").click()
    wait_for_main_text(page, r"Drawings kept\s+1\b")
    text = wait_for_main_text(page, r"#1 · no name · \d\d:\d\d").string
    assert re.search(r"default said 1 \(\d+%\)", text), text
    wait_until_rendered(page)
    assert page.locator(".st-key-drawing_label_1 input").input_value() == "7", "the card's label is the corrected one"
    tall_screenshot(page, "drawings")

"""Presenter view in a real browser: Draw, Train and Home at 1920x1080 and 1280x720, as a projector shows
them. Screenshots go to tests/artifacts/presenter_*.png, to be looked at as the back row would.

Checks what a screenshot cannot promise by itself: no sidebar, large type, the answer and the curves
taking a large share of the screen, and the presenter switch leaving and entering the view for real
(through app.py's router, which AppTest does not rerun).
"""
from __future__ import annotations

import re

import pytest

from .conftest import JOIN_URL
from .helpers import (
    canvas_box,
    draw_stroke,
    expect_rerun,
    screenshot,
    wait_for_app,
    wait_for_main_text,
    wait_until_rendered,
)

SIZES = [(1920, 1080), (1280, 720)]
# The predicted digit: the one-character block under "Predicted digit", its box on the screen.
ANSWER_BOX_JS = """() => {
    const blocks = [...document.querySelectorAll('[data-testid="stMarkdownContainer"] div')]
        .filter(d => /^\\d$/.test(d.textContent.trim()) && d.previousElementSibling
                     && d.previousElementSibling.textContent.trim() === 'Predicted digit');
    if (!blocks.length) return null;
    const r = blocks[0].getBoundingClientRect();
    return {height: r.height, width: r.width, fontSize: getComputedStyle(blocks[0]).fontSize};
}"""
RUN_TIMEOUT_MS = 300_000
FINISHED = r"Finished: \d+\.\d\d% of the 10,000 test images right"


@pytest.fixture
def app_url(thread_app_url):
    return thread_app_url


def px(page, selector: str, prop: str) -> float:
    value = page.locator(selector).first.evaluate(f"e => getComputedStyle(e).{prop}")
    return float(re.match(r"[\d.]+", value).group())


def sidebar_visible(page) -> bool:
    sidebar = page.locator('[data-testid="stSidebar"]')
    return sidebar.count() > 0 and sidebar.first.is_visible() and (sidebar.first.bounding_box() or {}).get("width", 0) > 50


def shoot(page, name: str, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    wait_until_rendered(page, settle_ms=800)
    screenshot(page, f"presenter_{name}_{width}x{height}", full_page=False)


def test_presenter_draw(page, app_url):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{app_url}/draw?present=1")
    wait_for_app(page)
    canvas_box(page)
    assert not sidebar_visible(page)
    assert px(page, '[data-testid="stMain"] h1', "fontSize") >= 48     # large type throughout
    with expect_rerun(page):
        draw_stroke(page, [(140, 40), (140, 140), (140, 240)])
    wait_for_main_text(page, r"Predicted digit\s+\d")
    for width, height in SIZES:
        shoot(page, "draw", width, height)
        box = page.evaluate(ANSWER_BOX_JS)
        assert box and box["height"] >= 180, (width, height, box)          # outside presenter view: 128 px


def test_presenter_train(page, app_url):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{app_url}/train?present=1&arch=linear&epochs=3&limit=3000&name=presenter")
    wait_for_app(page)
    assert not sidebar_visible(page)
    with expect_rerun(page):
        page.get_by_role("button", name=re.compile("Start training")).click()
    wait_for_main_text(page, FINISHED, timeout=RUN_TIMEOUT_MS)
    page.locator('[data-testid="stVegaLiteChart"]').first.scroll_into_view_if_needed()
    for width, height in SIZES:
        shoot(page, "train", width, height)
        chart = page.locator('[data-testid="stVegaLiteChart"]').first.bounding_box()
        assert chart and chart["height"] >= 450, chart                     # curves 1.6 x their usual height
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.locator('[data-testid="stMetricValue"]').first.scroll_into_view_if_needed()
    assert px(page, '[data-testid="stMetricValue"]', "fontSize") >= 50
    page.locator('[data-testid="stMain"] h1').first.scroll_into_view_if_needed()
    shoot(page, "train_top", 1920, 1080)                                    # the run's result and figures


def test_presenter_home_join_and_the_switch(page, app_url):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{app_url}/?present=1")
    wait_for_main_text(page, re.escape(JOIN_URL))
    qr = page.locator('[data-testid="stImage"] img').first
    qr.wait_for()
    assert qr.bounding_box()["width"] >= 400                             # a QR code the room can scan
    for width, height in SIZES:
        shoot(page, "home", width, height)
        box = qr.bounding_box()
        assert abs(box["width"] - box["height"]) <= 2 and box["y"] + box["height"] <= height, box   # square, on screen
    page.set_viewport_size({"width": 1920, "height": 1080})
    with expect_rerun(page):
        page.locator(".st-key-home_presenter").get_by_text("Presenter view").click()
    wait_for_app(page)
    assert px(page, '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p', "fontSize") <= 17   # back to normal
    assert "present=" not in page.url
    with expect_rerun(page):
        page.locator(".st-key-home_presenter").get_by_text("Presenter view").click()
    wait_for_app(page)
    assert px(page, '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p', "fontSize") >= 24
    assert "present=1" in page.url

"""The Draw page on a phone, driven by a finger: touch events sent through Chromium's DevTools protocol.

A 390 x 844 touch screen (device scale 3, a phone's User-Agent) draws a 1 on the canvas;
the page must not scroll while the finger draws, must still scroll when the finger
swipes beside the canvas, and Undo, Pen width and Clear must work by tap (no hover).
Saves tests/artifacts/phone_draw.png: what the phone shows once the answer is scrolled into view.
"""
from __future__ import annotations

import pytest

from .helpers import (
    canvas_box,
    screenshot,
    tracked_page,
    wait_for_app,
    wait_for_main_text,
    wait_until_rendered,
)

PHONE_WIDTH, PHONE_HEIGHT = 390, 844
PHONE = {
    "viewport": {"width": PHONE_WIDTH, "height": PHONE_HEIGHT},
    "device_scale_factor": 3,
    "has_touch": True,
    "is_mobile": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/130.0.0.0 Mobile Safari/537.36",
}
HINT = r"Draw a digit in the black box"
PREDICTED_ONE = r"Predicted digit\s+1\s"
# Streamlit scrolls its main area, not the window: read both.
CANVAS_UNDER_HEADER_JS = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const header = document.querySelector('[data-testid="stHeader"]').getBoundingClientRect();
    const canvas = document.querySelector('[data-testid="stBidiComponentIsolated"]').getBoundingClientRect();
    main.scrollTop += canvas.top - header.bottom - 8;
}"""
SCROLL_JS = "() => [window.scrollY, document.querySelector('[data-testid=\"stMain\"]').scrollTop]"


@pytest.fixture
def app_url(shipped_app_url):
    return shipped_app_url


@pytest.fixture
def phone(browser, request):
    """A page in a phone-sized touch context (see tracked_page)."""
    with tracked_page(browser, request, timeout_ms=60_000, **PHONE) as page:
        yield page


def finger(page, points: list[tuple[float, float]]) -> None:
    """One finger down at the first point, through the others, then up: viewport coordinates."""
    cdp = page.context.new_cdp_session(page)
    try:
        (x0, y0), rest = points[0], points[1:]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0, "id": 1}]})
        for (xa, ya), (xb, yb) in zip(points, rest):
            for step in range(1, 9):
                x, y = xa + (xb - xa) * step / 8, ya + (yb - ya) * step / 8
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y, "id": 1}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def draw_upward_one(page) -> None:
    """A vertical stroke drawn bottom to top: on a page that let it, this swipe would scroll."""
    box = canvas_box(page)
    x = box["x"] + box["width"] / 2
    finger(page, [(x, box["y"] + 0.85 * box["height"]), (x, box["y"] + 0.15 * box["height"])])


def scroll_position(page) -> list[float]:
    return page.evaluate(SCROLL_JS)


def settled_scroll(page) -> list[float]:
    """The scroll position once a fling has stopped moving it."""
    previous = scroll_position(page)
    for _ in range(20):
        page.wait_for_timeout(150)
        current = scroll_position(page)
        if current == previous:
            return current
        previous = current
    return previous


def tap_button(page, key: str) -> None:
    page.locator(f".st-key-{key}").get_by_role("button").tap()


def test_a_finger_draws_a_one_without_scrolling_and_taps_undo_and_clear(phone, app_url):
    page = phone
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    box = canvas_box(page)
    wait_for_main_text(page, HINT)
    assert box["width"] == box["height"] == 320, "a phone gets the larger canvas"
    assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE_WIDTH, f"the canvas fits the screen: {box}"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, "nothing scrolls sideways"

    before = settled_scroll(page)
    draw_upward_one(page)
    wait_for_main_text(page, PREDICTED_ONE)
    assert settled_scroll(page) == before, "drawing on the canvas must not scroll the page"

    # The same swipe beside the canvas scrolls: the check above could see a scroll, and a thumb
    # can still bring the answer into view.
    box = canvas_box(page)
    strip = (box["x"] + box["width"] + PHONE_WIDTH) / 2
    assert PHONE_WIDTH - (box["x"] + box["width"]) >= 40, "a strip beside the canvas to scroll by"
    finger(page, [(strip, box["y"] + box["height"] - 10), (strip, box["y"] + 20)])
    after = settled_scroll(page)
    assert after[1] > before[1] + 100, f"a swipe beside the canvas scrolls the page: {before} -> {after}"

    # Where a phone user draws from: the canvas just under the header. The answer is on the same screen.
    page.evaluate(CANVAS_UNDER_HEADER_JS)
    box = page.locator("canvas.upper-canvas").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE_HEIGHT, f"the whole canvas is on screen: {box}"
    answer = page.get_by_text("Predicted digit", exact=True).bounding_box()
    assert answer and answer["y"] + 120 <= PHONE_HEIGHT, f"the answer is on screen with the canvas: {answer}"
    wait_until_rendered(page)
    screenshot(page, "phone_draw", full_page=False)

    tap_button(page, "draw_undo")
    wait_for_main_text(page, HINT)
    assert "Predicted digit" not in page.locator('[data-testid="stMain"]').inner_text()

    draw_upward_one(page)  # the canvas reloaded by Undo still draws
    wait_for_main_text(page, PREDICTED_ONE)

    tap_button(page, "draw_pen")  # the pen width is a tap away too
    slider = page.locator('.st-key-stroke_width input[type="range"]')
    slider.wait_for(state="visible")
    page.keyboard.press("Escape")

    tap_button(page, "draw_clear")
    wait_for_main_text(page, HINT)
    assert "Predicted digit" not in page.locator('[data-testid="stMain"]').inner_text()

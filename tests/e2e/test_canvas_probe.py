"""The browser harness can draw on a drawable canvas and read the result in Python.

Drives tests/e2e/fixtures/canvas_probe.py, which prints the ink count of the
RGBA image st_canvas returns, through real mouse strokes and toolbar clicks.
"""

from __future__ import annotations

import re
import statistics
import time

import pytest

from .helpers import (
    TOOLBAR_LABELS,
    canvas_box,
    click_toolbar,
    draw_stroke,
    expect_rerun,
    main_text,
    screenshot,
    start_streamlit,
    toolbar_button,
    wait_for_app,
    wait_for_main_text,
)

PROBE = "tests/e2e/fixtures/canvas_probe.py"
INK = r"ink pixels: (\d+)"


@pytest.fixture(scope="module")
def probe_url(chromium_path):
    with start_streamlit(PROBE) as url:
        yield url


def open_probe(page, url: str) -> dict:
    page.goto(url)
    wait_for_app(page)
    box = canvas_box(page)
    wait_for_main_text(page, r"^blank$")
    return box


def vertical(x: float, top: float = 60, bottom: float = 220) -> list[tuple[float, float]]:
    return [(x, top), (x, (top + bottom) / 2), (x, bottom)]


def ink_after(page, previous: int | None) -> int:
    """Wait for an ink count other than `previous` and return it."""
    pattern = INK if previous is None else rf"ink pixels: (?!{previous}\b)(\d+)"
    return int(wait_for_main_text(page, pattern).group(1))


def test_page_is_blank_and_image_data_none_before_drawing(page, probe_url):
    box = open_probe(page, probe_url)

    assert (box["width"], box["height"]) == (280, 280)
    text = main_text(page)
    assert "image_data: none" in text
    assert "objects: 0" in text
    assert not re.search(INK, text)


def test_stroke_comes_back_as_ink(page, probe_url):
    open_probe(page, probe_url)

    draw_stroke(page, vertical(140))
    ink = ink_after(page, None)

    # A 160 px line, 18 px wide with round caps: about 3,100 pixels.
    assert 2000 < ink < 5000
    text = main_text(page)
    assert "image_data: shape (280, 280, 4) dtype uint8 alpha 255..255" in text
    assert "objects: 1" in text
    screenshot(page, "canvas_probe_stroke")


def test_mouse_up_to_text_latency(page, probe_url):
    """Each stroke raises the count; prints the median mouse-up-to-text time."""
    box = open_probe(page, probe_url)

    counts, latencies = [], []
    previous = None
    for x in (40, 90, 140, 190, 240):
        draw_stroke(page, vertical(x), box=box)
        start = time.perf_counter()
        previous = ink_after(page, previous)
        latencies.append(time.perf_counter() - start)
        counts.append(previous)

    assert counts == sorted(counts) and len(set(counts)) == len(counts), counts
    print(
        f"\nmouse-up -> text update: median {statistics.median(latencies) * 1000:.0f} ms "
        f"(each: {', '.join(f'{t * 1000:.0f}' for t in latencies)} ms; counts {counts})"
    )
    screenshot(page, "canvas_probe_five_strokes")


def test_toolbar_has_undo_redo_and_reset(page, probe_url):
    open_probe(page, probe_url)

    labels = page.locator(".dc-toolbar button").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label'))"
    )
    print(f"\ntoolbar buttons: {labels}")
    assert labels == list(TOOLBAR_LABELS.values())
    assert toolbar_button(page, "undo").is_disabled()
    assert toolbar_button(page, "redo").is_disabled()
    assert toolbar_button(page, "reset").is_enabled()


def test_reset_empties_canvas(page, probe_url):
    box = open_probe(page, probe_url)
    draw_stroke(page, vertical(100), box=box)
    draw_stroke(page, vertical(180), box=box)
    wait_for_main_text(page, r"^objects: 2$")
    ink_after(page, None)

    click_toolbar(page, "reset")

    wait_for_main_text(page, r"^blank$")
    text = main_text(page)
    assert "objects: 0" in text
    # Reset sends the empty canvas: an image, all background, not None.
    assert "alpha 255..255" in text
    assert toolbar_button(page, "undo").is_disabled()
    screenshot(page, "canvas_probe_after_reset")


def test_undo_and_redo_follow_strokes(page, probe_url):
    box = open_probe(page, probe_url)
    draw_stroke(page, vertical(100), box=box)
    one = ink_after(page, None)
    draw_stroke(page, vertical(180), box=box)
    two = ink_after(page, one)
    assert two > one

    click_toolbar(page, "undo")
    assert ink_after(page, two) == one
    wait_for_main_text(page, r"^objects: 1$")

    click_toolbar(page, "redo")
    assert ink_after(page, one) == two
    wait_for_main_text(page, r"^objects: 2$")

    click_toolbar(page, "undo")
    click_toolbar(page, "undo")
    wait_for_main_text(page, r"^blank$")
    assert toolbar_button(page, "undo").is_disabled()


def test_transparent_background_returns_alpha(page, probe_url):
    open_probe(page, probe_url + "/?bg=transparent")

    draw_stroke(page, vertical(140))

    assert ink_after(page, None) > 0
    assert "alpha 0..255" in main_text(page)


def test_new_key_clears_and_forgets_image(page, probe_url):
    box = open_probe(page, probe_url)
    draw_stroke(page, vertical(140), box=box)
    ink_after(page, None)

    with expect_rerun(page):
        page.get_by_role("button", name="Clear (new key)").click()

    # One run, and a remounted canvas reports nothing: back to the default.
    text = main_text(page)
    assert "image_data: none" in text
    assert re.search(r"^blank$", text, re.MULTILINE), text
    # The remounted canvas still draws.
    draw_stroke(page, vertical(60))
    assert ink_after(page, None) > 0


def test_new_initial_drawing_clears(page, probe_url):
    box = open_probe(page, probe_url)
    draw_stroke(page, vertical(140), box=box)
    ink_after(page, None)

    page.get_by_role("button", name="Clear (new initial_drawing)").click()

    wait_for_main_text(page, r"^blank$")
    text = main_text(page)
    assert "objects: 0" in text
    assert "alpha 255..255" in text
    draw_stroke(page, vertical(60), box=box)
    assert ink_after(page, None) > 0

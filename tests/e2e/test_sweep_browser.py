"""A sweep in a real browser: four tiny runs started from the Train page, followed to their end, then on Compare a
parallel-coordinates chart with four lines; dragging a box over the upper half of the validation-accuracy axis
leaves fewer runs in the table, and in the chart only those stay coloured, the others grey. Screenshots at
1400x1000 and in presenter view go to tests/artifacts/."""
from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from .helpers import expect_rerun, main_text, screenshot, wait_for_app, wait_for_main_text

SWEEP_TIMEOUT_MS = 300_000
CHART = '[data-testid="stVegaLiteChart"]'
COLOURED, GREY = "g.mark-line.runs_marks path", "g.mark-line.outside_marks path"   # sweep_charts' two line layers


@pytest.fixture
def app_url(thread_app_url):
    """The app over a throwaway model store; runs train in the server's own thread, one at a time."""
    return thread_app_url


def choose(page, key: str, option: str) -> None:
    """Pick `option` in the multiselect keyed `key`."""
    field = page.locator(f".st-key-{key} input")
    field.scroll_into_view_if_needed()
    with expect_rerun(page):
        field.click()
        field.press_sequentially(option)
        page.get_by_role("option", name=option, exact=True).wait_for()
        field.press("Enter")
    page.keyboard.press("Escape")


def type_values(page, key: str, text: str) -> None:
    field = page.locator(f".st-key-{key} input")
    with expect_rerun(page):
        field.fill(text)
        field.press("Enter")


def brush_upper_half(page, chart, axis: str) -> None:
    """Drag a box from the top of `axis` down to its middle."""
    label = chart.locator("g.role-axis-label text", has_text=axis).first.bounding_box()
    x = label["x"] + label["width"] / 2
    rules = [chart.locator("g.mark-rule line, g.mark-rule path").nth(i).bounding_box()
             for i in range(chart.locator("g.mark-rule line, g.mark-rule path").count())]
    rule = min(rules, key=lambda box: abs(box["x"] - x))
    top, bottom = rule["y"], rule["y"] + rule["height"]
    with expect_rerun(page):
        page.mouse.move(x - 20, top + 2)
        page.mouse.down()
        page.mouse.move(x + 20, (top + bottom) / 2, steps=8)
        page.mouse.up()


def test_a_sweep_from_train_shows_on_compare_and_brushing_filters_the_runs(page, app_url):
    page.goto(f"{app_url}/train?arch=linear&epochs=1&limit=300&name=ada")
    wait_for_app(page)
    page.get_by_text("Try several values (a sweep)").click()
    choose(page, "sweep_vary", "Learning rate")
    choose(page, "sweep_vary", "Batch size")
    type_values(page, "sweep_values_learning_rate", "0.0003, 0.1")
    type_values(page, "sweep_values_batch_size", "16, 128")
    assert re.search(r"4 runs, about \d+ s", main_text(page))
    with expect_rerun(page):
        page.locator(".st-key-sweep_start button").click()
    wait_for_main_text(page, r"Runs done\s+4 of 4[\s\S]*finished", timeout=SWEEP_TIMEOUT_MS)
    page.get_by_text(re.compile(r"^Sweep \d+ ·")).scroll_into_view_if_needed()
    screenshot(page, "sweep_view_train", full_page=False)

    page.get_by_role("link", name=re.compile("Compare the runs of sweep")).click()
    wait_for_app(page)
    chart = page.locator(CHART).first
    chart.wait_for()
    # Vega draws after the chart's frame is there: wait for the lines, then count them
    expect(chart.locator(COLOURED)).to_have_count(4, timeout=30_000)  # one line per run, all in colour
    expect(chart.locator(GREY)).to_have_count(4, timeout=30_000)      # (and grey beneath, seen once brushed)
    wait_for_main_text(page, re.escape("Runs (4 runs)"))  # the table below the chart may still be drawing
    screenshot(page, "sweep_compare", full_page=False)

    brush_upper_half(page, chart, "validation accuracy")
    match = wait_for_main_text(page, r"Runs \((\d) of 4 runs, inside the box\)")
    inside = int(match.group(1))
    assert 1 <= inside < 4
    chart = page.locator(CHART).first
    expect(chart.locator(COLOURED)).to_have_count(inside, timeout=30_000)  # the runs outside the box turned grey
    expect(chart.locator(GREY)).to_have_count(4, timeout=30_000)
    strokes = {chart.locator(COLOURED).nth(i).get_attribute("stroke") for i in range(inside)}
    assert "#d0d0d0" not in strokes and all(s and s.startswith(("#", "rgb")) for s in strokes)
    screenshot(page, "sweep_compare_brushed", full_page=False)
    with page.expect_download() as download:                         # the PNG for slides, as brushed
        page.locator(".st-key-compare_parallel_png button").click()
    picture = Image.open(download.value.path())
    assert picture.format == "PNG" and picture.width >= 1900

    page.goto(page.url + "&present=1")
    wait_for_app(page)
    page.locator(CHART).first.wait_for()
    screenshot(page, "sweep_compare_presenter", full_page=False)
    assert "What the results depend on" in main_text(page)
    chart = page.locator(CHART).first
    brush_upper_half(page, chart, "validation accuracy")
    wait_for_main_text(page, rf"Runs \({inside} of 4 runs, inside the box\)")
    expect(page.locator(CHART).first.locator(COLOURED)).to_have_count(inside, timeout=30_000)
    screenshot(page, "sweep_compare_presenter_brushed", full_page=False)

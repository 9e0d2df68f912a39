"""Train, Mistakes and Dataset in a real browser: a small run trained from the page, watched live,
found again after a page switch and a reload, then its mistakes browsed; a run that stays its starter's
after a reload, and no one else's. Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

import io
import re
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from pages.parts.charts import CORRECT

from .conftest import VIEWPORT
from .helpers import (
    copy_of_shipped_models,
    expect_rerun,
    main_text,
    screenshot,
    tracked_page,
    wait_for_app,
    wait_for_main_text,
    wait_until_rendered,
)

RUN_TIMEOUT_MS = 300_000    # a small run on two shared cores, with testing and saving
FINISHED = r"Finished: \d+\.\d\d% of the 10,000 test images right"
CHART = '[data-testid="stVegaLiteChart"]'
DIAGONAL_RGB = tuple(int(CORRECT[i:i + 2], 16) for i in (1, 3, 5))  # right answers in charts.confusion_chart


@pytest.fixture
def app_url(training_app_url):
    """The app, first opened at its root (tests/e2e/conftest.py): see test_deep_link_as_first_request_uses_the_router."""
    return training_app_url


def set_number(page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input")
    with expect_rerun(page):
        field.fill(str(value))
        field.press("Enter")


def go_by_sidebar(page, title: str) -> None:
    """Switch pages inside the same session (as a user does), unlike page.goto, which starts a new one."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()
    wait_for_app(page)


def tall_screenshot(page, name: str, height: int = 1700) -> None:
    """Streamlit scrolls inside its own container, so a full-page shot needs a tall window."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    try:
        page.wait_for_timeout(500)  # let the charts re-layout
        screenshot(page, name, full_page=False)
    finally:
        page.set_viewport_size(size)


def heat_map_cell(page, chart, true: int, predicted: int) -> tuple[float, float]:
    """Viewport centre of a confusion-matrix cell, found from where its pale-blue diagonal is drawn."""
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    shot = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
    diagonal = np.all(np.abs(np.asarray(shot, dtype=int) - DIAGONAL_RGB) <= 3, axis=-1)
    rows, cols = np.flatnonzero(diagonal.any(axis=1)), np.flatnonzero(diagonal.any(axis=0))
    assert rows.size and cols.size, "no diagonal cells found in the heat map"
    scale = box["width"] / shot.width
    cell_w, cell_h = (cols[-1] - cols[0] + 1) / 10, (rows[-1] - rows[0] + 1) / 10
    return (box["x"] + (cols[0] + (predicted + 0.5) * cell_w) * scale,
            box["y"] + (rows[0] + (true + 0.5) * cell_h) * scale)


def test_train_watch_use_then_browse_mistakes(page, app_url):
    page.goto(f"{app_url}/train")
    wait_for_app(page)
    wait_for_main_text(page, r"parameters to learn")
    set_number(page, "train_cnn-basic_epochs", 2)
    set_number(page, "train_cnn-basic_limit", 2000)

    page.get_by_role("button", name="Start training").click()
    # During training: progress bar and the live charts, both at once.
    page.locator('[data-testid="stProgress"]').wait_for(timeout=RUN_TIMEOUT_MS)
    page.locator(CHART).first.wait_for(timeout=RUN_TIMEOUT_MS)
    job_id = re.search(r"[?&]job=(job-\d+-\d+)", page.url).group(1)
    tall_screenshot(page, "train_during")

    wait_for_main_text(page, FINISHED, timeout=RUN_TIMEOUT_MS)
    wait_for_main_text(page, r"Confusion matrix")  # elements of one run may land a moment apart
    text = wait_for_main_text(page, r"Saved as model\s+cnn-basic-").string
    model = re.search(r"Saved as model\s+(cnn-basic-[\w.-]+)", text).group(1)
    assert "Test accuracy" in text
    page.locator(CHART).nth(2).wait_for()  # loss, accuracy, confusion matrix
    assert page.locator('[data-testid="stProgress"]').count() == 0
    with expect_rerun(page):
        page.get_by_role("button", name="Use for drawing").click()
    wait_for_main_text(page, r"In use on the Draw page")
    assert page.get_by_role("button", name="Use for drawing").count() == 0
    tall_screenshot(page, "train_after")

    # Away and back in the same session: the run is found again, and put back in the URL.
    go_by_sidebar(page, "Dataset")
    go_by_sidebar(page, "Train")
    wait_for_main_text(page, rf"Run {job_id}[\s\S]*{FINISHED}")
    assert f"job={job_id}" in page.url

    # The model just trained is the active one, so Mistakes opens on it.
    go_by_sidebar(page, "Mistakes")
    wait_for_main_text(page, r"\d+ mistakes match", timeout=RUN_TIMEOUT_MS)
    picker = page.locator(".st-key-mistakes_model")
    shown = picker.text_content() + " ".join(picker.locator("input").evaluate_all("els => els.map(e => e.value)"))
    assert model in shown, picker.inner_html()
    images = page.locator('[data-testid="stMain"] [data-testid="stImage"] img')
    images.nth(23).wait_for()  # the images arrive just after the text
    assert images.count() == 24
    assert images.first.evaluate("img => img.naturalWidth") == 140  # 28 px at 5x, nearest-neighbour
    captions = re.findall(r"true (\d) → predicted (\d) \(\d+%\)", main_text(page))
    assert len(captions) == 24 and all(t != p for t, p in captions)
    tall_screenshot(page, "mistakes", height=2200)

    # A click on a heat-map cell filters the grid to that pair (AppTest cannot click charts).
    t, p = map(int, re.search(r"Most common mistake\s+(\d) → (\d)", main_text(page)).groups())
    cell_x, cell_y = heat_map_cell(page, page.locator(f".st-key-mistakes_matrix {CHART}"), t, p)
    with expect_rerun(page):
        page.mouse.click(cell_x, cell_y)
    wait_for_main_text(page, r"\d+ mistakes match")
    captions = re.findall(r"true (\d) → predicted (\d) \(\d+%\)", main_text(page))
    assert captions and set(captions) == {(str(t), str(p))}, captions
    images.nth(0).wait_for()
    page.wait_for_timeout(1000)  # image sources update just after the captions
    screenshot(page, "mistakes_cell_click", full_page=False)

    page.get_by_role("button", name="Inspect").first.click()
    dialog = page.get_by_role("dialog")
    dialog.locator(CHART).wait_for()
    assert re.search(r"true \d → predicted \d", dialog.inner_text())
    page.wait_for_timeout(500)
    screenshot(page, "mistakes_inspect", full_page=False)

    # A reloaded tab (a new session with only the URL) re-attaches to the run.
    page.goto(f"{app_url}/train?job={job_id}")
    wait_for_app(page)
    wait_for_main_text(page, rf"Run {job_id}[\s\S]*{FINISHED}")


def test_a_run_stays_its_starters_after_a_reload_and_no_one_elses(page, app_url, browser, request):
    """Started without a name: the reloaded tab (a new session, only its address) still has Stop; another
    browser that opens the run's id sees the run but no Stop."""
    page.goto(f"{app_url}/train?arch=linear&epochs=100&limit=60000")  # long enough to outlast the checks
    wait_for_app(page)
    with expect_rerun(page):
        page.get_by_role("button", name="Start training").click()
    wait_for_main_text(page, r"Epoch \d+ of 100", timeout=RUN_TIMEOUT_MS)
    job_id = re.search(r"[?&]job=(job-\d+-\d+)", page.url).group(1)
    assert re.search(r"[?&]run_key=[0-9a-f]{32}(&|$)", page.url), page.url

    page.reload()
    wait_for_app(page)
    wait_for_main_text(page, rf"Run {job_id} · linear[\s\S]*Epoch \d+ of 100")
    assert page.get_by_role("button", name="■ Stop").count() == 1
    assert page.get_by_role("button", name="Pause").count() == 1, "the starter may still steer it"
    assert "Started by another visitor" not in main_text(page)
    wait_until_rendered(page)
    screenshot(page, "train_reloaded_owner", full_page=False)

    with tracked_page(browser, request, viewport=VIEWPORT) as other:      # another browser: cookies and all
        other.goto(f"{app_url}/train?job={job_id}")
        wait_for_app(other)
        wait_for_main_text(other, rf"Run {job_id} · linear[\s\S]*Started by another visitor: only they, "
                                  r"or the presenter, can stop, pause or steer it\.")
        assert other.get_by_role("button", name="■ Stop").count() == 0
        assert other.get_by_role("button", name="Pause").count() == 0
        assert "run_key" not in other.url
        wait_until_rendered(other)
        screenshot(other, "train_other_visitor", full_page=False)

    page.get_by_role("button", name="■ Stop").click()
    wait_for_main_text(page, r"Stopped in epoch \d+ of 100", timeout=RUN_TIMEOUT_MS)


def test_dataset_page_shows_grid_and_counts(page, app_url):
    page.goto(f"{app_url}/dataset")
    wait_for_app(page)
    text = wait_for_main_text(page, r"How many of each").string
    assert "Ten training examples of every digit" in text
    grid = page.locator('[data-testid="stImage"] img').first
    grid.wait_for()
    assert grid.evaluate("img => img.naturalHeight") == 10 * 84 + 11 * 4
    page.locator(CHART).first.wait_for()
    tall_screenshot(page, "dataset", height=1200)


def test_deep_link_as_first_request_uses_the_router(page, streamlit_server, tmp_path_factory):
    url = streamlit_server("app.py", env={"DIGIT_STUDIO_MODELS": str(copy_of_shipped_models(tmp_path_factory))})
    page.goto(f"{url}/train")
    wait_for_app(page)
    wait_for_main_text(page, r"parameters to learn")
    links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    import app

    assert [link.split("\n")[-1].strip() for link in links] == [page.title for page in app.PAGES]


def test_crafted_job_link_is_shown_as_text(page, app_url):
    """?job= is text from the URL: the page shows it as typed, and no link or markup comes of it."""
    crafted = "[click me](http://evil.example) <b>bold</b> www.evil.example"
    page.goto(f"{app_url}/train?job={quote(crafted)}")
    wait_for_app(page)
    wait_for_main_text(page, r"not known to this server")
    main = page.locator('[data-testid="stMain"]')
    assert crafted in main.inner_text()
    links = main.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert [link for link in links if not link.startswith(f"{app_url}/train#")] == [], links  # headings' anchors only
    assert main.locator("b").count() == 0
    screenshot(page, "train_crafted_job_link", full_page=False)


def test_models_curves_download_as_png(page, app_url):
    page.goto(f"{app_url}/models")
    wait_for_app(page)
    wait_for_main_text(page, "Learning curves")
    with page.expect_download() as download_info:
        page.locator(".st-key-models_curves_png button").click()
    download = download_info.value
    assert download.suggested_filename == "learning-curves.png"
    image = Image.open(download.path())
    assert image.format == "PNG" and image.width >= 1500

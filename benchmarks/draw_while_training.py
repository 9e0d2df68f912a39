"""Section 9: stroke to prediction on the Draw page while a cnn-bn run trains, in a server thread
(before) and in a worker process (after), measured in Debian's Chromium as a user sees it."""
from __future__ import annotations

import statistics
import tempfile
import time

from benchmarks.common import Report, fmt, percentile

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def stroke_latencies(executor: str, strokes: int) -> list[float]:
    """Milliseconds from mouse-up to the answer, for `strokes` strokes drawn while a cnn-bn run trains."""
    from playwright.sync_api import sync_playwright

    from benchmarks.load import start_cnn_bn_run
    from tests.e2e.helpers import start_streamlit, wait_for_main_text
    from tests.e2e.test_draw_browser import clear, open_draw, stroke_to_prediction_ms

    with tempfile.TemporaryDirectory() as store, \
            start_streamlit("app.py", env={"DIGIT_STUDIO_EXECUTOR": executor, "DIGIT_STUDIO_MODELS": store}) as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        trainer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        drawer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        for page in (trainer, drawer):
            page.set_default_timeout(60_000)
        start_cnn_bn_run(trainer, url)  # all samples: its 10 epochs outlast the measurement
        open_draw(drawer, url)
        stroke_to_prediction_ms(drawer)  # warm-up: loads the model
        latencies = []
        for _ in range(strokes):
            clear(drawer)
            latencies.append(stroke_to_prediction_ms(drawer))
        wait_for_main_text(trainer, r"Epoch \d+ of 10")  # the run was still training throughout
        trainer.get_by_role("button", name="■ Stop").click()
        time.sleep(1)
        browser.close()
    return latencies


def draw_while_training(report: Report) -> None:
    """Section 9."""
    strokes = 5 if report.settings.quick else 15
    rows = []
    for executor, label in (("thread", "thread in the server (before)"), ("process", "worker process (after)")):
        print(f"[9] strokes while cnn-bn trains in a {executor} ...", flush=True)
        times = stroke_latencies(executor, strokes)
        rows.append(f"| {label} | {len(times)} | {fmt(statistics.median(times), 0)} | {fmt(percentile(times, 95), 0)} |")
    report.add("9. Drawing while a run trains: thread against worker process", "\n".join([
        "Stroke to prediction on the Draw page (mouse-up in Chromium to the answer on screen, the canvas's own "
        "200 ms send delay included) while a `cnn-bn` run (10 epochs, all samples) trains, started from the Train "
        "page in a second browser tab; the server trains it in a thread of its own process (`DIGIT_STUDIO_EXECUTOR="
        "thread`, before) or in a spawned worker process (the default, after).", "",
        "| where the run trains | strokes | median ms | p95 ms |", "|---|---|---|---|", *rows]))

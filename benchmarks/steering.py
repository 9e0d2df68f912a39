"""Taking the wheel (Pause, Step, the richer snapshots): what each costs and how quickly it answers.

`steering_section(report, title)` is a section for `python -m benchmarks`; `python -m benchmarks.steering [--quick]`
prints it on its own.

1. The snapshots' share of training time, with each layer's gradient and weight figures (core.fit.layer_stats)
   and without them, for `cnn-bn` and `mlp-128-64`: the snapshot callback through `fit` in this process
   (benchmarks.live.snapshot_cost, runs alternating), the snapshots' own seconds over the training's.
2. Pause: runs in a warm worker process (the app's executor); seconds and batches from `job.pause()` to the run
   holding (Progress.paused).
3. Step: from `job.step()` to its report in the job's Progress (worker process); and in Chromium, from a click on
   "Step one batch" to the step's report on the Train page (which polls every second).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Report, Settings, median, percentile

TITLE = "Taking the wheel: the richer snapshots, Pause and Step"


def _spread(values) -> str:
    return f"{median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def snapshot_shares(settings: Settings) -> list[dict]:
    """Per architecture: the snapshots' share of training time with and without the layer figures."""
    from benchmarks.live import snapshot_cost
    from core.fit.config import TrainConfig

    rows = []
    runs = 1 if settings.quick else 3
    # mlp-128-64 trains 20,000 digits in a third of a second: too short to say anything about a share of its time,
    # so it trains all of them for 5 epochs (about as long as cnn-bn's one epoch of 20,000)
    for arch, limit, epochs in (("cnn-bn", 2000 if settings.quick else 20000, 1),
                                ("mlp-128-64", 2000 if settings.quick else None, 1 if settings.quick else 5)):
        config = TrainConfig.for_preset(arch, epochs=epochs, limit=limit)
        figures = {}
        for label, layers in (("with", True), ("without", False)):
            print(f"[steering] snapshot share: {arch}, {label} layer figures", flush=True)
            cost = snapshot_cost(config, runs, labels=("watched",), layer_figures=layers)
            figures[label] = cost
        rows.append({"arch": arch, "limit": limit, "epochs": epochs, "runs": runs, **figures})
    return rows


def _wait(condition, timeout: float = 120.0, every: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def pause_and_step(settings: Settings) -> list[dict]:
    """Per architecture, in a warm worker process: Pause's seconds and batches to hold, Step's seconds to report."""
    from core.fit.config import TrainConfig
    from core.runs.queue import JobRegistry
    from core.runs.workers import WorkerPool
    from core.store import ModelStore

    rows = []
    rounds, steps = (2, 3) if settings.quick else (5, 8)
    with tempfile.TemporaryDirectory() as folder:
        pool = WorkerPool(grace=30.0, cores=2)
        try:
            registry = JobRegistry(1, ModelStore(folder), pool, cores=2)
            for arch in ("mlp-128-64", "cnn-bn"):
                print(f"[steering] pause and step: {arch}", flush=True)
                job = registry.submit(TrainConfig.for_preset(arch, epochs=100, limit=6000, batch_size=64))
                if not _wait(lambda: job.progress().steps >= 20, timeout=300):
                    raise RuntimeError(f"{arch}: the run never got going ({job.progress().error})")
                pause_seconds, pause_batches, first, later, batch = [], [], [], [], []
                for _ in range(rounds):
                    before, started = job.progress().steps, time.perf_counter()
                    job.pause()
                    if not _wait(lambda: job.progress().paused, timeout=60):
                        raise RuntimeError(f"{arch}: the run never held")
                    pause_seconds.append(time.perf_counter() - started)
                    pause_batches.append(job.progress().steps - before)
                    for k in range(steps):
                        number = (job.progress().last_step.number if job.progress().last_step else 0) + 1
                        started = time.perf_counter()
                        job.step()
                        if not _wait(lambda: (job.progress().last_step or None) is not None
                                     and job.progress().last_step.number == number, timeout=60):
                            raise RuntimeError(f"{arch}: a Step never reported")
                        (first if number == 1 else later).append(time.perf_counter() - started)
                    job.resume()
                    speed = job.progress().samples_per_second
                    _wait(lambda: job.progress().steps > before + 30, timeout=120)
                    speed = job.progress().samples_per_second or speed
                    if speed:
                        batch.append(64 / speed)
                job.stop()
                job.wait(180)
                rows.append({"arch": arch, "pause_seconds": pause_seconds, "pause_batches": pause_batches,
                             "first_step": first, "steps": later, "batch_seconds": median(batch) if batch else None})
        finally:
            pool.close()
    return rows


def step_on_screen(settings: Settings) -> list[float]:
    """Seconds from a click on Step to its report on the Train page, in headless Chromium (worker process run)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.helpers import start_streamlit, wait_for_app, wait_for_main_text

    clicks = 3 if settings.quick else 10
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "models"
        shutil.copytree(ROOT / "models", store, ignore=shutil.ignore_patterns(".*", "drawings.sqlite3*"))
        env = {"DIGIT_STUDIO_MODELS": str(store), "DIGIT_STUDIO_MAX_JOBS": "1", "DIGIT_STUDIO_SPARE_WORKERS": "0",
               "DIGIT_STUDIO_DRAWINGS": str(store / "drawings.sqlite3")}
        with start_streamlit("app.py", env=env, timeout=120) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/train?arch=mlp-128-64&epochs=60&batch-size=32&limit=3000")
                wait_for_app(page)
                page.get_by_role("button", name="Start training").click()
                wait_for_main_text(page, r"Epoch \d+ of 60 · batch [1-9]\d+ of", timeout=300_000)
                page.get_by_role("button", name="Pause").click()
                page.get_by_text(re.compile(r"Step trains one batch")).first.wait_for(timeout=120_000)
                for number in range(1, clicks + 1):
                    print(f"[steering] step on screen {number}/{clicks}", flush=True)
                    time.sleep(1.5)
                    started = time.perf_counter()
                    page.get_by_role("button", name="Step one batch").click()
                    page.get_by_text(f"Step {number}: one batch").first.wait_for(timeout=120_000)
                    seconds.append(time.perf_counter() - started)
                page.get_by_role("button", name="■ Stop").click()
                page.get_by_text(re.compile(r"Stopped in epoch")).first.wait_for(timeout=300_000)
            finally:
                browser.close()
    return seconds


def steering_section(report: Report, title: str = TITLE) -> None:
    s = report.settings
    shares = snapshot_shares(s)
    latency = pause_and_step(s)
    screen = step_on_screen(s)
    share_rows = []
    for row in shares:
        for label in ("with", "without"):
            cost = row[label]
            each = [p["each"] for p in cost["pairs"]]
            per_run = " · ".join(f"{100 * p['share']:.2f}%" for p in cost["pairs"])
            data = f"{row['limit'] or 54000:,} digits × {row['epochs']}"
            share_rows.append(f"| `{row['arch']}`, {data} | {label} | {per_run} "
                              f"| **{100 * cost['share']:.2f}%** | {1000 * median(each):.1f} | "
                              f"{median([p['count'] for p in cost['pairs']]):.0f} |")
    worst = max(row["with"]["share"] for row in shares)
    pause_rows = [f"| `{r['arch']}` | {_spread(r['pause_seconds'])} | {median(r['pause_batches']):.0f} "
                  f"(max {max(r['pause_batches'])}) | {1000 * r['batch_seconds']:.0f} ms |" if r["batch_seconds"] else
                  f"| `{r['arch']}` | {_spread(r['pause_seconds'])} | {median(r['pause_batches']):.0f} | – |"
                  for r in latency]
    step_rows = [f"| `{r['arch']}` | {_spread(r['first_step'])} | {_spread(r['steps'])} | "
                 f"{percentile(r['steps'], 90):.3f} s |" for r in latency]
    report.add(title, "\n".join([
        "**Snapshots with each layer's figures.** Each snapshot now also measures, per layer with weights, the "
        "gradient on a fixed batch of 32 training images, the weights' mean, spread and 30-bin histogram, the "
        "last step's update-to-weight ratio and the dead ReLU units on the panel digits. The share of training "
        "time the snapshot callback takes (its own seconds over the training's, first batch left out; the "
        "snapshots adapt their interval to stay near 2%, the layer figures theirs to add at most 1%), in this process, "
        f"{shares[0]['runs']} run(s) each, alternating:", "",
        "| network | layer figures | share per run | median | ms per snapshot | snapshots |",
        "|---|---|---|---|---|---|", *share_rows, "",
        f"**The richer snapshots took at most {100 * worst:.2f}% of the training time** (median, worst network; "
        f"aim: at most 3%: {'met' if worst <= 0.03 else 'not met'}).", "",
        "**Pause.** A run in a warm worker process; from `job.pause()` to the run holding between two batches "
        "(the server's shared memory read after each batch):", "",
        "| network | seconds to hold | batches trained meanwhile | one batch |", "|---|---|---|---|", *pause_rows, "",
        "Aim: within one batch (the batch under way when Pause comes finishes, then the run holds).", "",
        "**Step.** From `job.step()` to the step's report in the run's Progress (the batch trained, its loss before "
        "and after, each layer's move, the panel re-predicted and a snapshot taken). The run's first Step pays "
        "for TensorFlow's eager functions once:", "",
        "| network | first Step | later Steps | 90th percentile |", "|---|---|---|---|", *step_rows, "",
        f"**On screen:** from a click on \"Step one batch\" to its report on the Train page in headless Chromium "
        f"(`mlp-128-64`, worker process; the page polls the run every second): {_spread(screen)}; aim: under 1 s "
        f"({'met' if median(screen) < 1 else 'not met'} by the median)."]))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.steering", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report = Report(Settings.for_mode(args.quick))
    report.write = lambda finished=False: None
    steering_section(report)
    print(f"\n## {TITLE}\n\n{report.sections[TITLE]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

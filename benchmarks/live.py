"""Watching a run: what the snapshots cost the training, and what an open Train page costs it.

`live_overhead(report)` is a section for `python -m benchmarks`; `python -m benchmarks.live [--quick]`
prints it on its own.

1. Snapshot cost, in this process: the same `cnn-bn` run through `fit` with the progress callback alone and
   with the snapshot callback too (pairs, alternating); the snapshots' own seconds; the replay's file size.
2. What watching costs the training: CPU per batch trained with no page, the Train page with the live panel
   off and on, and while drawing beside it, in interleaved windows of one long run (benchmarks/watch_cost.py),
   measured twice.
3. What each part of the live view costs the server and the browser on its own (benchmarks/live_parts_app.py).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks import watch_cost
from benchmarks.common import Report, Settings, median
from benchmarks.proc_cpu import Tally, cmdline

TITLE = "Watching a run: snapshot cost and the Train page's overhead"


# --- 1. snapshot cost (in this process) ---------------------------------------------------------------

def snapshot_cost(config, runs: int, labels: tuple[str, ...] = ("bare", "watched"), **watch_options) -> dict:
    """Training seconds of `config` without and with snapshots (pairs), and what the snapshots took.
    `labels` ("watched" alone: no bare runs) and `watch_options` (core.fit.watching.watch_callback's) for other
    sections that measure the snapshots only."""
    import keras

    from core.fit.progress import ProgressRecorder
    from core.fit.recipe import plan_fit
    from core.fit.training import ProgressCallback
    from core.fit.watching import watch_callback

    class Clock(keras.callbacks.Callback):
        """Seconds from the end of the first batch (tracing) to the end of the last."""

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.first = getattr(self, "first", now)
            self.last, self.batches = now, getattr(self, "batches", 0) + 1

    pairs = []
    for i in range(runs):
        figures = {}
        for label in (labels if i % 2 == 0 else labels[::-1]):
            print(f"[live] snapshot cost {i + 1}/{runs}: {label}", flush=True)
            plan = plan_fit(config)
            recorder = ProgressRecorder("bench", config)
            recorder.planned(plan.batches_per_epoch, plan.train_samples)
            clock = Clock()
            callbacks = [ProgressCallback(recorder, lambda: False)]
            watch = None
            if label == "watched":
                watch = watch_callback(plan, config, recorder, **watch_options)
                callbacks.append(watch)
            plan.model.fit(callbacks=[*callbacks, clock], **plan.fit_args)
            speed = (clock.batches - 1) / (clock.last - clock.first)
            figures[label] = speed
            if watch is not None:
                figures["count"] = len(watch.taken)
                figures["each"] = median(watch.snapshot_seconds)
                spent = sum(watch.snapshot_seconds) + sum(watch.confusion_seconds)
                figures["share"] = spent / (clock.last - clock.first + sum(watch.confusion_seconds))
                figures["confusion"] = median(watch.confusion_seconds)
                figures["bytes"] = len(recorder.replay().to_bytes())
        pairs.append(figures)
    return {"pairs": pairs, "slowdown": median([1 - p["watched"] / p["bare"] for p in pairs if "bare" in p]),
            "share": median([p["share"] for p in pairs])}


def replay_size(config) -> tuple[int, int]:
    """(snapshots, bytes of the saved replay) of a short run with an MLP's large filters."""
    from core.runs.queue import JobRegistry
    from core.runs.thread import TrainingJob
    from core.store import ModelStore

    with tempfile.TemporaryDirectory() as folder:
        store = ModelStore(folder)
        job = JobRegistry(1, store, TrainingJob).submit(config)
        job.wait()
        p = job.progress()
        if p.error or p.result is None:
            raise RuntimeError(p.error or "no result")
        return p.snapshot_count, store.replay_path(p.result.model_name).stat().st_size


# --- 2. the Train page in a browser: benchmarks/watch_cost.py ----------------------------------------


PARTS = {
    "empty": "a fragment redrawing one caption (the floor)",
    "altair-curves": "loss and accuracy as two Altair charts (the Train page's live curves before)",
    "svg-curves": "the same curves as two SVG images, thinned to 240 points (now)",
    "progress": "st.progress, gliding to each new value (before)",
    "still-progress": "st.progress without the glide (now)",
    "metrics": "six st.metric figures",
    "panel": "the live panel: 26 test images, filters, confusion matrix (HTML)",
}


def part_costs(seconds: float) -> dict[str, dict[str, float]]:
    """Server and browser CPU of each part of the live view on its own (benchmarks/live_parts_app.py),
    redrawn every second in headless Chromium for `seconds`."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.helpers import start_streamlit, wait_for_app

    def kind_of(pid: int, name: str) -> str:
        return "browser" if "chrom" in name else "server" if "streamlit run" in cmdline(pid) else "ours"

    costs = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for part in PARTS:
                print(f"[live] part: {part}", flush=True)
                with start_streamlit(Path(__file__).with_name("live_parts_app.py"), env={"LIVE_PART": part}) as url:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(url)
                    wait_for_app(page)
                    time.sleep(3)
                    cpu = Tally(kind_of).start()
                    time.sleep(seconds)
                    cpu.stop()
                    page.close()
                costs[part] = {"server": cpu.share("server"), "browser": cpu.share("browser"),
                               "others": cpu.share("others")}
        finally:
            browser.close()
    return costs


def live_overhead(report: Report, title: str = TITLE) -> None:
    """The section: snapshot cost, replay sizes, what watching costs the training (twice), the parts' costs."""
    from core.fit.config import TrainConfig

    s = report.settings
    cost_config = TrainConfig.for_preset("cnn-bn", epochs=1, limit=2000 if s.quick else 20000)
    cost = snapshot_cost(cost_config, 1 if s.quick else 4)
    mlp_count, mlp_bytes = replay_size(TrainConfig.for_preset("mlp-128-64", epochs=1 if s.quick else 5,
                                                              limit=2000 if s.quick else 20000))
    rounds, window = (1, 6.0) if s.quick else (4, 20.0)
    watched = [watch_cost.measure(rounds, window) for _ in range(2)]  # twice: does the figure hold still?
    parts = part_costs(5 if s.quick else 20)
    part_rows = [f"| {PARTS[k]} | {v['server']:.1%} | {v['browser']:.1%} | {v['others']:.0%} |"
                 for k, v in parts.items()]
    cost_rows = [f"| {i + 1} | {p['bare']:.1f} | {p['watched']:.1f} | {100 * (1 - p['watched'] / p['bare']):+.1f}% | "
                 f"{p['count']} | {1000 * p['each']:.1f} | {1000 * p['confusion']:.0f} | {100 * p['share']:.1f}% | "
                 f"{p['bytes'] / 1000:.0f} |"
                 for i, p in enumerate(cost["pairs"])]
    costs = [watch_cost.summary(w) for w in watched]
    agreement = [f"| {name} | " + " | ".join(f"{100 * c[key]['cost'][0]:+.1f}%" for c in costs) + " |"
                 for key, name in watch_cost.CONDITIONS.items() if key != "none"]
    worst = max(max(c[key]["cost"][0] for key in ("page", "panel")) for c in costs)
    report.add(title, "\n".join([
        f"**Snapshot cost.** `{cost_config.arch}`, {cost_config.limit:,} samples, 1 epoch, in this process: "
        "batches per second of `fit` (first batch, with its tracing, left out) with the progress callback alone "
        "and with the snapshot callback too (26 test images and a drawing re-predicted every N batches, N "
        "chosen as it runs for at most one snapshot per second of training and at most 2% of its time; "
        "first-layer filters each time; a confusion matrix on 1,000 validation images after each epoch). "
        "Pairs alternate which goes first.", "",
        "| pair | without, batches/s | with, batches/s | slower by | snapshots | ms each (median) | "
        "ms at an epoch's end | share of training | replay KB |", "|---|---|---|---|---|---|---|---|---|",
        *cost_rows, "",
        f"**The snapshots took {100 * cost['share']:.1f}% of the training time** (median; timed around each "
        f"snapshot; aim: under 3%). End to end, the runs with snapshots were {100 * cost['slowdown']:+.1f}% "
        "slower (median of the pairs; on a shared machine that figure carries the load of whatever else runs, "
        "which the direct timing does not). An MLP's "
        f"filters are the largest (16 units x 28 x 28): a `mlp-128-64` run took {mlp_count} snapshots and saved "
        f"a {mlp_bytes / 1000:.0f} KB replay (cap {300} KB: thinned to at most 200 snapshots, filters kept on 12).",
        "",
        "**What watching costs the training** (benchmarks/watch_cost.py). A long `cnn-bn` run (3,000 samples, "
        "100 epochs, no validation split, all cores; a new run for each round) trains in the app's worker "
        f"process while the conditions below take turns in windows of {window:.0f} s, {rounds} rounds in a "
        "rotating order. Each window counts CPU seconds from "
        "/proc/<pid>/stat, not time: the worker's own, the server's (it shares the cores with the worker) and "
        "Chromium's (on each visitor's own machine in a classroom, so apart); the batches come from the server's "
        "registry. Cost: (worker + server) CPU per batch over the no-page window of the same round (the server's "
        "CPU per second charged at the no-page speed, so that other people's load does not inflate it), median "
        "of the rounds (min to max). Wall-clock speed is shown too: on a shared machine it carries other people's "
        "load. The whole measurement is made twice, on two servers, to show that it holds still.", "",
        "First measurement:", "", *watch_cost.table(watched[0]), "", "Second measurement:", "",
        *watch_cost.table(watched[1]), "",
        "| condition | cost, first | cost, second |", "|---|---|---|", *agreement, "",
        f"**Watching costs at most {100 * worst:+.1f}% CPU per batch trained** (worst of (b) and (c) in either "
        f"measurement; aim: at most 10%: {'met' if worst <= 0.10 else 'not met'}).", "",
        "**What each part of the live view costs**, on its own: a Streamlit script redraws it every second (as "
        "the Train page polls a run) with changing data, in headless Chromium, for "
        f"{5 if s.quick else 20} s; CPU as a share of one core.", "",
        "| part | server CPU | browser CPU | rest of the machine |", "|---|---|---|---|", *part_rows]))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.live", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report = Report(Settings.for_mode(args.quick))
    report.write = lambda finished=False: None  # print only; `python -m benchmarks` writes docs/benchmarks.md
    live_overhead(report)
    print(f"\n## {TITLE}\n\n{report.sections[TITLE]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

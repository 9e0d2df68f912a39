"""What watching a run costs its training: CPU per batch trained with no page open, with the Train page open
(live panel off, then on), and while drawing on the Draw page beside it.

`python -m benchmarks.watch_cost [--quick] [--rounds N] [--window S]` prints the figures; section 12 of
`python -m benchmarks` (benchmarks/live.py) reports them.

The method holds still on a shared machine:
- A long `cnn-bn` run (RUN_LINK) trains in the app's worker process (started from a settings link, all cores) while
  the conditions take turns in windows of a few seconds, in a rotating order: within a round every
  condition meets the same run and worker and, in turn, the same load from outside. Each round has a run of
  its own: runs in worker processes have been seen to hang at an epoch's end (all threads waiting, inside
  Keras' training step; not caused by watching: it happened with no page open too), so a round whose run
  stops training is measured again on a new run, and the report says how often that happened.
- Nothing is timed. Each window counts CPU seconds from /proc/<pid>/stat: the worker's own (every thread),
  the server's (it competes with the worker for the same cores) and Chromium's (on a visitor's own machine
  in a classroom; counted apart). The batches come from the server's own registry through a tap
  (benchmarks/tapped_server.py), so no page needs to be open to count them.
- The cost of a condition is the worker's and the server's CPU per batch over that of the window with no page
  in the same round (a pair close in time), median over the rounds, with the spread. The server's CPU is
  counted per second and charged at the no-page window's speed (see paired_cost).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import ROOT, median
from benchmarks.first_page import SERVER_FLAGS, _wait_healthy
from benchmarks.proc_cpu import Tally
from benchmarks.tapped_server import batches_at, read_tap

CONDITIONS = {
    "none": "(a) no page open",
    "page": "(b) Train page open, live panel off",
    "panel": "(c) Train page open, live panel on",
    "drawing": "(d) (c), and drawing on the Draw page in another tab (a stroke every 3 s)",
}
# A long run (all cores: core.runs.sizing) that outlasts a round. 3,000 samples: an epoch's end every 24 batches,
# so every window holds many alike; runs on all 60,000 hung at an epoch's end within a few epochs here (see
# the module's notes), runs on 3,000 did not in 60 epochs. No validation split: no epoch end costs more.
RUN_LINK = "train?arch=cnn-bn&epochs=100&limit=3000&validation-split=0.0&early-stopping=0&reduce-lr=0"
PANEL = "What the network says now"
TOGGLE = "Watch it learn: test images"
STROKE_EVERY = 3.0


@contextmanager
def tapped_app(folder: Path, env: dict[str, str] | None = None):
    """The app (its own model store in `folder`) under benchmarks.tapped_server: (url, server pid, tap file)."""
    from tests.e2e.helpers import free_port

    store, tap, log = folder / "models", folder / "tap.txt", folder / "server.log"
    shutil.copytree(ROOT / "models", store, ignore=shutil.ignore_patterns(".*"))
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.tapped_server", str(tap), "app.py",
                                 "--server.port", str(port), *SERVER_FLAGS], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "DIGIT_STUDIO_MODELS": str(store), "PYTHONUNBUFFERED": "1",
                                     "DIGIT_STUDIO_STOP_GRACE": "3",  # a stalled run ends soon after Stop
                                     **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url)
        yield url, proc.pid, tap
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def start_run(browser, url: str) -> tuple[str, str]:
    """Start the long run from its settings link in a tab that then closes; (its job id, its starter's address,
    which holds the run's key: what Stop needs)."""
    import re

    from tests.e2e.helpers import wait_for_app, wait_for_main_text

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/{RUN_LINK}")
    wait_for_app(page, timeout=180_000)
    wait_for_main_text(page, r"parameters to learn", timeout=180_000)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"run_key="), timeout=120_000)
    job_id, address = re.search(r"[?&]job=([^&]+)", page.url).group(1), page.url
    context.close()
    return job_id, address


def stop_run(browser, address: str) -> None:
    """Press Stop on the run's page (as its starter); the server ends a worker that does not stop in time.
    Never raises: it runs after a failure too, whose error matters more."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(address)
        page.get_by_role("button", name="■ Stop").click(timeout=90_000)
        page.wait_for_timeout(1000)
    except Exception as exc:  # noqa: BLE001
        print(f"[watch] could not stop the run: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
    finally:
        context.close()


def wait_for_batches(tap: Path, job_id: str, batches: int, timeout: float = 300) -> int:
    """Wait until the run has trained `batches` batches; the pid of its worker."""
    deadline = time.monotonic() + timeout
    while not (rows := read_tap(str(tap), job_id)) or rows[-1][1] < batches or not rows[-1][2]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the run did not get past {batches} batches in {timeout:.0f} s")
        time.sleep(0.5)
    return rows[-1][2]


STALL_SECONDS = 5.0  # no batch for this long: the run has stalled (a run trains several batches a second)


def longest_pause(rows: list[tuple[float, int, int]], start: float, end: float) -> float:
    """The longest time between `start` and `end` in which the tap saw no new batch."""
    longest, since, last = 0.0, start, None
    for when, batches, _ in rows:
        if when < start or when > end:
            continue
        if last is not None and batches != last:
            since = when
        last = batches
        longest = max(longest, when - since)
    return max(longest, end - since) if last is not None else end - start


class Stalled(RuntimeError):
    """The run trained no batch for a whole window (see the module's notes): the round is measured again."""


def open_watcher(browser, url: str, job_id: str, panel: bool):
    """A tab on the run's Train page, its live panel on or off; the context (close it when done)."""
    from tests.e2e.helpers import expect_rerun, track_script_runs, wait_for_main_text

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    track_script_runs(page)
    page.goto(f"{url}/train?job={job_id}")
    wait_for_main_text(page, PANEL, timeout=120_000)
    if not panel:
        with expect_rerun(page):
            page.get_by_text(TOGGLE).click()
        wait_for_main_text(page, r"Epoch \d+ of", timeout=60_000)
    return context


def open_drawer(browser, url: str):
    """A tab on the Draw page that has read one stroke already (its model loaded); (context, page)."""
    from tests.e2e.test_draw_browser import clear, open_draw, stroke_to_prediction_ms

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)  # the first stroke may wait for the model to load
    open_draw(page, url)
    stroke_to_prediction_ms(page)
    clear(page)
    return context, page


def draw_for(page, seconds: float) -> int:
    """A stroke every STROKE_EVERY seconds (read, then cleared) for `seconds`; how many were drawn."""
    from tests.e2e.test_draw_browser import clear, stroke_to_prediction_ms

    end, strokes = time.monotonic() + seconds, 0
    while time.monotonic() + STROKE_EVERY <= end + 0.5:
        began = time.monotonic()
        stroke_to_prediction_ms(page)
        clear(page)
        strokes += 1
        time.sleep(max(0.0, STROKE_EVERY - (time.monotonic() - began)))
    time.sleep(max(0.0, end - time.monotonic()))
    return strokes


def _kind(server_pid: int):
    def kind_of(pid: int, name: str) -> str:
        if pid == server_pid:
            return "server"
        if "chrom" in name:
            return "browser"
        return "ours"  # this process, the Playwright driver, the forkserver, the worker until it is known
    return kind_of


def measure(rounds: int = 4, window: float = 20.0, settle: float = 3.0, warm_batches: int = 150,
            retries: int = 3) -> dict:
    """Windows of each condition, `rounds` rounds in rotating order, each round on a run of its own; per-window
    figures by condition. A round whose run stalls is measured again on a new run, at most `retries` times."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    windows: list[dict] = []
    stalls = 0
    with tempfile.TemporaryDirectory() as folder, tapped_app(Path(folder)) as (url, server_pid, tap), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            names, r = list(CONDITIONS), 0
            while r < rounds:
                job_id, address = start_run(browser, url)
                worker_pid = wait_for_batches(tap, job_id, warm_batches)
                print(f"[watch] round {r + 1}: run {job_id} trains in worker {worker_pid}", flush=True)
                measured = []
                try:
                    for condition in names[r % len(names):] + names[:r % len(names)]:
                        measured.append(one_window(browser, url, job_id, condition, server_pid, worker_pid, tap,
                                                   window, settle) | {"round": r})
                        w = measured[-1]
                        print(f"[watch] round {r + 1}/{rounds} {condition}: {w['speed']:.1f} batches/s, worker "
                              f"{w['worker_ms']:.1f} ms/batch, server {w['server_ms']:.2f} ms/batch, browser "
                              f"{w['browser']:.0%}, others {w['others']:.0%}", flush=True)
                except Stalled as exc:
                    stalls += 1
                    print(f"[watch] {exc}; round {r + 1} again on a new run", flush=True)
                    if stalls > retries:
                        raise
                else:
                    windows += measured
                    r += 1
                finally:
                    stop_run(browser, address)
        finally:
            browser.close()
    return {"rounds": rounds, "window": window, "windows": windows, "stalls": stalls}


def one_window(browser, url, job_id, condition, server_pid, worker_pid, tap, window, settle, on_start=None) -> dict:
    """Open what `condition` needs, let it settle, count one window (calling `on_start` first), close it."""
    contexts, drawer = [], None
    if condition in ("page", "panel", "drawing"):
        contexts.append(open_watcher(browser, url, job_id, panel=condition != "page"))
    if condition == "drawing":
        context, drawer = open_drawer(browser, url)
        contexts.append(context)
    time.sleep(settle)
    if on_start is not None:
        on_start()
    kind_of = _kind(server_pid)
    tally = Tally(lambda pid, name: "worker" if pid == worker_pid else kind_of(pid, name)).start()
    strokes = draw_for(drawer, window) if drawer is not None else time.sleep(window)
    tally.stop()
    time.sleep(2 * 0.25 + 0.1)  # the tap's next lines, for the window's end
    rows = read_tap(str(tap), job_id)
    batches = batches_at(rows, tally.started + tally.seconds) - batches_at(rows, tally.started)
    longest = longest_pause(rows, tally.started, tally.started + tally.seconds)
    if longest > STALL_SECONDS:
        for context in contexts:
            context.close()
        raise Stalled(f"the run trained no batch for {longest:.0f} s in the {condition} window")
    for context in contexts:
        context.close()
    used = tally.used
    return {"condition": condition, "seconds": tally.seconds, "batches": batches,
            "speed": batches / tally.seconds, "worker_ms": 1000 * used.get("worker", 0.0) / batches,
            "server_ms": 1000 * used.get("server", 0.0) / batches, "worker": tally.share("worker"),
            "server": tally.share("server"), "browser": tally.share("browser"), "others": tally.share("others"),
            "strokes": strokes or 0}


def paired_cost(window: dict, base: dict) -> tuple[float, float]:
    """(the worker's CPU per batch over the no-page window's, the cost) of one window against the no-page window
    of its round. The cost counts the server's CPU per second at the no-page window's speed, so that a window
    slowed by other people's work is not charged more server CPU per batch for it: (worker CPU per batch +
    server CPU per second / batches per second with no page), over the same for the no-page window."""
    speed = base["speed"]
    worker = window["worker_ms"] / base["worker_ms"]
    cost = (window["worker_ms"] + 1000 * window["server"] / speed) / (base["worker_ms"] + 1000 * base["server"] / speed)
    return worker - 1, cost - 1


def cost_with_browser(window: dict, base: dict) -> float:
    """The cost if Chromium shared the machine too (a presenter's laptop running the server and the page)."""
    speed = base["speed"]
    return ((window["worker_ms"] + 1000 * (window["server"] + window["browser"]) / speed)
            / (base["worker_ms"] + 1000 * (base["server"] + base["browser"]) / speed)) - 1


def summary(result: dict) -> dict:
    """Per condition: medians and spreads (min, max) over the rounds; the costs as pairs within each round."""
    windows = result["windows"]
    by = {c: [w for w in windows if w["condition"] == c] for c in CONDITIONS}
    out = {}
    for c, ws in by.items():
        bases = [next(b for b in by["none"] if b["round"] == w["round"]) for w in ws]
        pairs = [(*paired_cost(w, b), cost_with_browser(w, b)) for w, b in zip(ws, bases)]
        out[c] = {key: (median([w[key] for w in ws]), min(w[key] for w in ws), max(w[key] for w in ws))
                  for key in ("speed", "worker_ms", "server_ms", "worker", "server", "browser", "others")}
        for i, key in enumerate(("worker_change", "cost", "with_browser")):
            values = [pair[i] for pair in pairs]
            out[c][key] = (median(values), min(values), max(values))
    return out


def table(result: dict) -> list[str]:
    s = summary(result)

    def cell(value, digits=1, scale=1.0, suffix="", sign=""):
        mid, low, high = value
        return (f"{scale * mid:{sign}.{digits}f}{suffix} "
                f"({scale * low:{sign}.{digits}f} to {scale * high:{sign}.{digits}f})")

    rows = ["| condition | worker CPU, ms per batch | worker CPU per batch, over (a) | server CPU, share of a core | "
            "**cost: CPU per batch, worker + server, over (a)** | batches/s (wall) | browser CPU, share of a core | "
            "cost if the browser shared the machine | rest of the machine |", "|---|---|---|---|---|---|---|---|---|"]
    for c, name in CONDITIONS.items():
        f = s[c]
        rows.append(f"| {name} | {cell(f['worker_ms'])} | {cell(f['worker_change'], 1, 100, '%', '+')} | "
                    f"{cell(f['server'], 1, 100, '%')} | **{cell(f['cost'], 1, 100, '%', '+')}** | "
                    f"{cell(f['speed'])} | {cell(f['browser'], 0, 100, '%')} | "
                    f"{cell(f['with_browser'], 1, 100, '%', '+')} | {cell(f['others'], 0, 100, '%')} |")
    return rows


def profile(condition: str, seconds: float, scripts: bool = False) -> str:
    """Where the server's CPU goes while `condition` lasts `seconds` (benchmarks/cpu_sampler.py's report: the
    sampler's over every thread, or with `scripts` the script runs' own cProfile)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "profile.txt"
        variable = "BENCH_SCRIPT_PROFILE" if scripts else "BENCH_CPU_PROFILE"
        with tapped_app(Path(folder), env={variable: str(report)}) as (url, server_pid, tap), \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            job_id, _ = start_run(browser, url)
            while len(rows := read_tap(str(tap), job_id)) < 2 or rows[-1][1] < 100:  # past its first batches
                time.sleep(0.5)
            one_window(browser, url, job_id, condition, server_pid, rows[-1][2], tap, seconds, 3.0,
                       on_start=Path(f"{report}.reset").touch)
            time.sleep(6)  # the sampler's next report
            browser.close()
            return report.read_text() if report.exists() else ""


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.watch_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--profile", choices=list(CONDITIONS), help="only profile the server in this condition")
    parser.add_argument("--scripts", action="store_true", help="with --profile: the script runs' own cProfile")
    parser.add_argument("--json", type=Path, help="also write every window's figures here")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.profile, args.window, args.scripts))
        return 0
    result = measure(args.rounds, args.window)
    if args.json:
        import json

        args.json.write_text(json.dumps(result, indent=1))
    print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

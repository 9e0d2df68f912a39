"""The Draw page for a room: ten sessions opening it at once on a fresh server, and mouse-up to answer in
Chromium, idle and while a run trains.

`draw_for_a_room(report, title)` is a section of `python -m benchmarks`; `python -m benchmarks.draw_strokes
[--quick]` prints its figures.

1. Ten at once: a fresh server (as `make run` starts it, one warm spare), and as soon as it answers
   /_stcore/health, ten sessions open the Draw page together, each then draws two strokes. The sessions speak
   Streamlit's websocket protocol (benchmarks/load.py's DrawSession: ten Chromium tabs would load this 2-core
   machine more than the server does); a stroke's figure adds the canvas's own 200 ms send delay. Repeated on
   fresh servers.
2. Mouse-up to answer: one Chromium tab draws a 1 with the mouse, reads the answer, clears, draws again, in
   blocks of strokes with no run and with a long `cnn-bn` run training (started from a settings link in
   another tab that then leaves; stopped between blocks through its starter's address), round after round.
   Beside the milliseconds, the server's own CPU seconds per stroke (/proc), which hold still on a shared machine.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import Report, fmt, percentile
from benchmarks.first_page import _start_server, _stop, _wait_healthy
from benchmarks.proc_cpu import cpu_seconds
from benchmarks.watch_cost import start_run, stop_run, tapped_app, wait_for_batches

SEND_DELAY_S = 0.2


# --- 1. ten sessions at once on a fresh server ---------------------------------------------------------

async def _crowd(url: str, sessions: int) -> list[dict]:
    from benchmarks.load import DrawSession, drawing_value

    drawings = [drawing_value(x) for x in (120, 132, 144, 156)]

    async def one(i: int) -> dict:
        session = DrawSession(url)
        out: dict = {"errors": []}
        try:
            out["open"] = await session.open()
            for n in ("first", "second"):
                latency, digit, errors = await session.stroke(drawings[(i + len(out)) % len(drawings)])
                out[n] = latency + SEND_DELAY_S
                out["errors"] += errors + ([] if digit == "1" else [f"answer {digit!r}"])
        except Exception as exc:  # noqa: BLE001  counted, not raised
            out["errors"].append(f"{type(exc).__name__}: {exc}")
        finally:
            await session.close()
        return out

    return list(await asyncio.gather(*(one(i) for i in range(sessions))))


def crowd_on_fresh_server(sessions: int = 10) -> dict:
    """A fresh server; `sessions` open Draw at once as soon as it is healthy, then draw twice each."""
    with tempfile.TemporaryDirectory() as store:
        proc, url = _start_server({"DIGIT_STUDIO_MODELS": store})
        try:
            _wait_healthy(proc, url)
            before = cpu_seconds(proc.pid)
            results = asyncio.run(_crowd(url, sessions))
            server = cpu_seconds(proc.pid) - before
        finally:
            _stop(proc)
    return {"sessions": results, "server_cpu": server}


# --- 2. mouse-up to answer in Chromium -----------------------------------------------------------------

def strokes_in_chromium(rounds: int, strokes: int) -> dict[str, list[dict]]:
    """Blocks of `strokes` strokes, idle then while a run trains, `rounds` times, on one server."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.test_draw_browser import clear, open_draw, stroke_to_prediction_ms

    blocks: dict[str, list[dict]] = {"idle": [], "training": []}
    with tempfile.TemporaryDirectory() as folder, tapped_app(Path(folder)) as (url, server_pid, tap), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        drawer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        drawer.set_default_timeout(180_000)
        open_draw(drawer, url)
        stroke_to_prediction_ms(drawer)  # the model is loaded: the figures are of later strokes
        clear(drawer)
        for r in range(rounds):
            for condition in ("idle", "training"):
                run = start_run(browser, url) if condition == "training" else None
                if run is not None:
                    wait_for_batches(tap, run[0], 100)
                time.sleep(2)
                before, times = cpu_seconds(server_pid), []
                for _ in range(strokes):
                    times.append(stroke_to_prediction_ms(drawer))
                    clear(drawer)
                    time.sleep(0.5)
                blocks[condition].append({"ms": times, "server_cpu": cpu_seconds(server_pid) - before})
                print(f"[draw] round {r + 1}/{rounds} {condition}: median {statistics.median(times):.0f} ms "
                      f"({min(times):.0f}-{max(times):.0f}), server "
                      f"{blocks[condition][-1]['server_cpu'] / strokes:.3f} CPU s per stroke", flush=True)
                if run is not None:
                    stop_run(browser, run[1])
        browser.close()
    return blocks


# --- the section --------------------------------------------------------------------------------------

def crowd_rows(servers: list[dict]) -> list[str]:
    rows = ["| server | sessions opened: median s | slowest s | first stroke: median s | slowest | "
            "second stroke: median s | slowest | errors | server CPU s |", "|---|---|---|---|---|---|---|---|---|"]
    for i, server in enumerate(servers, 1):
        s = server["sessions"]
        cells = []
        for key in ("open", "first", "second"):
            values = [r[key] for r in s if key in r]
            cells += [fmt(statistics.median(values), 2) if values else "—", fmt(max(values), 2) if values else "—"]
        errors = sum(len(r["errors"]) for r in s)
        rows.append(f"| {i} | " + " | ".join(cells) + f" | {errors} | {server['server_cpu']:.1f} |")
    return rows


def stroke_rows(blocks: dict[str, list[dict]]) -> list[str]:
    rows = ["| condition | strokes | median ms | p95 ms | min-max ms | medians of the blocks, ms | "
            "server CPU ms per stroke (blocks) |", "|---|---|---|---|---|---|---|"]
    for condition, name in (("idle", "no run"), ("training", "a `cnn-bn` run training (all cores)")):
        times = [t for b in blocks[condition] for t in b["ms"]]
        per_block = " · ".join(f"{statistics.median(b['ms']):.0f}" for b in blocks[condition])
        cpu = " · ".join(f"{1000 * b['server_cpu'] / len(b['ms']):.0f}" for b in blocks[condition])
        rows.append(f"| {name} | {len(times)} | **{statistics.median(times):.0f}** | {percentile(times, 95):.0f} | "
                    f"{min(times):.0f}-{max(times):.0f} | {per_block} | {cpu} |")
    return rows


def measure(quick: bool) -> tuple[list[dict], dict[str, list[dict]]]:
    servers = []
    for i in range(1 if quick else 3):
        print(f"[draw] ten sessions at once, fresh server {i + 1}", flush=True)
        servers.append(crowd_on_fresh_server(10))
        print("    " + crowd_rows(servers)[-1], flush=True)
    blocks = strokes_in_chromium(rounds=1 if quick else 3, strokes=3 if quick else 6)
    return servers, blocks


def draw_for_a_room(report: Report, title: str) -> None:
    servers, blocks = measure(report.settings.quick)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    report.add(title, "\n".join([
        "**Ten at once on a fresh server.** As soon as `/_stcore/health` answers, ten sessions open the Draw page "
        "together (Streamlit's websocket protocol, as benchmarks/load.py), then each draws a 1 twice. Opened: "
        "connect to the page's run finished. Strokes: the rerun sent to the answer received, plus the canvas's "
        "200 ms send delay (what a visitor waits, less the paint). Aim: all ten render within 10 s.", "",
        *crowd_rows(servers), "",
        "**Mouse-up to answer in Chromium.** One tab draws a 1 with the mouse; mouse-up (taken in the page) to the "
        "answer on screen (looked for on every animation frame), the canvas's 200 ms send delay included; cleared "
        "between strokes. Blocks alternate: no run, then a long `cnn-bn` run training in the app's worker process "
        "(started from another tab that leaves), round after round. Aims: median 300 ms idle, 400 ms while a "
        "run trains.", "",
        *stroke_rows(blocks), "",
        f"Load average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} cores (other people's work "
        "included)."]))


def profile_strokes(strokes: int = 10) -> str:
    """The script runs' own profile (cProfile, CPU clock) of `strokes` strokes and clears on an idle server."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.test_draw_browser import clear, open_draw, stroke_to_prediction_ms

    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "profile.txt"
        with tapped_app(Path(folder), env={"BENCH_SCRIPT_PROFILE": str(report)}) as (url, server_pid, tap), \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            drawer = browser.new_page(viewport={"width": 1400, "height": 1000})
            drawer.set_default_timeout(180_000)
            open_draw(drawer, url)
            stroke_to_prediction_ms(drawer)
            clear(drawer)
            time.sleep(6)
            Path(f"{report}.reset").touch()
            time.sleep(6)
            times = []
            for _ in range(strokes):
                times.append(stroke_to_prediction_ms(drawer))
                clear(drawer)
            time.sleep(6)
            browser.close()
            return f"mouse-up to answer, ms: {[round(t) for t in times]}\n" + report.read_text()


# Every websocket message's time in the page (performance.now()), to split a stroke's wait into its parts.
WEBSOCKET_CLOCK_JS = """(() => {
    window.__frames = [];
    const Original = window.WebSocket;
    function Watched(...args) {
        const socket = new Original(...args);
        socket.addEventListener('message', () => window.__frames.push(['in', performance.now()]));
        const send = socket.send.bind(socket);
        socket.send = (data) => { window.__frames.push(['out', performance.now()]); return send(data); };
        return socket;
    }
    Watched.prototype = Original.prototype;
    Object.assign(Watched, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
    window.WebSocket = Watched;
})()"""
SPLIT_JS = """(upAt) => {
    const out = window.__frames.find(f => f[0] === 'out' && f[1] >= upAt);
    if (!out) return null;
    const ins = window.__frames.filter(f => f[0] === 'in' && f[1] >= out[1]);
    return {sent: out[1] - upAt, first: ins.length ? ins[0][1] - out[1] : null,
            last: ins.length ? ins[ins.length - 1][1] - out[1] : null, messages: ins.length};
}"""


def stroke_breakdown(strokes: int = 10) -> list[dict]:
    """Where a stroke's wait goes, idle server: mouse-up to the canvas sending (its 200 ms delay and PNG), the
    send to the server's first and last message back, and the last message to the answer on screen."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.test_draw_browser import clear, open_draw, stroke_to_prediction_ms

    rows = []
    with tempfile.TemporaryDirectory() as folder, tapped_app(Path(folder)) as (url, server_pid, tap), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.add_init_script(WEBSOCKET_CLOCK_JS)
        open_draw(page, url)
        stroke_to_prediction_ms(page)
        clear(page)
        for _ in range(strokes):
            page.evaluate("() => { window.__frames = []; }")
            total = stroke_to_prediction_ms(page)
            split = page.evaluate(SPLIT_JS, page.evaluate("() => window.__mouseUpAt"))
            rows.append({"total": total, **(split or {})})
            clear(page)
            time.sleep(0.5)
        browser.close()
    return rows


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.draw_strokes", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=["crowd", "strokes", "both", "profile", "breakdown"], default="both")
    args = parser.parse_args(argv)
    if args.part == "profile":
        print(profile_strokes())
        return 0
    if args.part == "breakdown":
        rows = stroke_breakdown()
        for key in ("total", "sent", "first", "last"):
            values = [r[key] for r in rows if r.get(key) is not None]
            print(f"{key:>6}: median {statistics.median(values):.0f} ms, {min(values):.0f}-{max(values):.0f}")
        after = [r["total"] - r["sent"] - r["last"] for r in rows if r.get("last") is not None]
        print(f"render after the last message: median {statistics.median(after):.0f} ms; messages per stroke "
              f"{statistics.median([r.get('messages', 0) for r in rows]):.0f}")
        return 0
    if args.part in ("crowd", "both"):
        servers = [crowd_on_fresh_server(10) for _ in range(1 if args.quick else 3)]
        print("\n".join(crowd_rows(servers)))
    if args.part in ("strokes", "both"):
        blocks = strokes_in_chromium(rounds=1 if args.quick else 3, strokes=3 if args.quick else 6)
        print("\n".join(stroke_rows(blocks)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

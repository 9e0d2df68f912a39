"""Every page's first render on a fresh server: from the server answering /_stcore/health to the page
settled in Chromium, for every entry of app.PAGES (and Train opened from a settings link).

`first_pages(report, title)` is a section of `python -m benchmarks`; `python -m benchmarks.first_page
[--runs N] [--only train ...]` prints the figures on their own.

Each measurement starts its own server (`streamlit run app.py` as `make run` starts it, the app's default
environment: worker processes, one warm spare) and opens one page in a new Chromium context (nothing cached).
Wall time is what a visitor waits, and on a shared machine it carries other people's load; the server's own
CPU seconds over the same interval (and its child processes', the workers', counted apart) are the figure
that holds still. The pages are measured in turn, round after round, so that load falls on all of them alike.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.common import ROOT, Report, fmt, median
from benchmarks.proc_cpu import Tally, descendants

SETTLED_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
        && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]')
        && !!document.querySelector('[data-testid="stMain"] h1');
}"""
SERVER_FLAGS = ["--server.headless", "true", "--server.address", "127.0.0.1"]  # and .streamlit/config.toml, as `make run`
# What a page fills in after its first render (made in a thread once the page is up), in order: a name, and the
# text that says it is shown. Inside the network: its model's parts once TensorFlow is in (a fresh server), then
# the neighbours and the map.
FILLED_LATER = {"Inside the network": (("answer shown", "What it answers, and why"),
                                       ("everything shown", "A map of the test set"))}
# Train opened from a settings link as the very first page (a workshop's "open this link and press Start").
SETTINGS_LINK = "train?arch=cnn-fast&epochs=3&limit=10000&batch-size=64"


def page_urls() -> dict[str, str]:
    """Title -> path after the server's address, for every page of app.PAGES and Train from a link."""
    from app import PAGES

    urls = {p.title: "" if p.default else Path(p.path).stem for p in PAGES}
    urls["Train, from a settings link"] = SETTINGS_LINK
    return urls


def _free_port() -> int:
    from tests.e2e.helpers import free_port

    return free_port()


def _start_server(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             *SERVER_FLAGS], cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server at {url} did not become healthy")


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def first_render(browser, path: str, env: dict[str, str] | None = None,
                 filled: tuple[tuple[str, str], ...] = ()) -> dict[str, float]:
    """One fresh server, one page: seconds from healthy to settled; CPU seconds meanwhile of the server, of its
    child processes (the forkserver and workers), of Chromium, and of the rest of the machine (others' work).
    With `filled` ((name, text), ...), also the seconds until each text is shown (filled in after the first render)."""
    proc, url = _start_server(env)
    try:
        _wait_healthy(proc, url)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        children = set(descendants(proc.pid))

        def kind_of(pid: int, name: str) -> str:
            if pid == proc.pid:
                return "server"
            if pid in children or pid in descendants(proc.pid):
                return "children"
            return "browser" if "chrom" in name else "ours"

        tally = Tally(kind_of).start()
        page.goto(f"{url}/{path}")
        page.wait_for_function(SETTLED_JS, timeout=180_000, polling=50)
        tally.stop()
        count = len(descendants(proc.pid))
        later = {}
        for name, text in filled:
            page.locator('[data-testid="stMain"]').get_by_text(text).first.wait_for(timeout=300_000)
            later[name] = time.monotonic() - tally.started
        context.close()
        return {**later, "seconds": tally.seconds, "server_cpu": tally.used.get("server", 0.0),
                "children_cpu": tally.used.get("children", 0.0), "browser_cpu": tally.used.get("browser", 0.0),
                "others": tally.share("others"), "children": float(count)}
    finally:
        _stop(proc)


def measure(runs: int, only: list[str] | None = None) -> dict[str, list[dict[str, float]]]:
    """Every page (or those titled in `only`, case-insensitive), `runs` fresh servers each, round by round."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    urls = page_urls()
    if only:
        wanted = [name.lower() for name in only]
        urls = {title: path for title, path in urls.items() if any(w in title.lower() for w in wanted)}
    results: dict[str, list[dict[str, float]]] = {title: [] for title in urls}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for i in range(runs):
                titles = list(urls)
                titles = titles[i % len(titles):] + titles[:i % len(titles)]  # each page first once in a while
                for title in titles:
                    results[title].append(first_render(browser, urls[title], filled=FILLED_LATER.get(title, ())))
                    r = results[title][-1]
                    print(f"[first page] {i + 1}/{runs} {title}: {r['seconds']:.2f} s, server CPU "
                          f"{r['server_cpu']:.2f} s, children {r['children']:.0f} ({r['children_cpu']:.2f} s), "
                          f"browser {r['browser_cpu']:.2f} s, others {r['others']:.0%} of a core",
                          flush=True)
        finally:
            browser.close()
    return results


def _spread(values: list[float], digits: int = 1) -> str:
    return f"{fmt(min(values), digits)}-{fmt(max(values), digits)}" if values else "—"


def table(results: dict[str, list[dict[str, float]]]) -> list[str]:
    rows = ["| page | seconds to settled, median | min-max | server CPU s, median | min-max | "
            "child processes' CPU s (workers) | Chromium CPU s | rest of the machine, cores | "
            "child processes at settled |", "|---|---|---|---|---|---|---|---|---|"]
    for title, runs in results.items():
        wall = [r["seconds"] for r in runs]
        cpu = [r["server_cpu"] for r in runs]
        rows.append(f"| {title} | **{fmt(median(wall), 2)}** | {_spread(wall, 2)} | {fmt(median(cpu), 2)} | "
                    f"{_spread(cpu, 2)} | {fmt(median([r['children_cpu'] for r in runs]), 2)} | "
                    f"{fmt(median([r['browser_cpu'] for r in runs]), 2)} | "
                    f"{fmt(median([r['others'] for r in runs]), 1)} | "
                    f"{fmt(median([r['children'] for r in runs]), 0)} |")
    for title, runs in results.items():
        for name, text in FILLED_LATER.get(title, ()):
            seconds = [r[name] for r in runs if name in r]
            if seconds:
                rows += ["", f"{title}, {name} (\"{text}\", filled in after the first render by a thread of its "
                             f"own): median **{fmt(median(seconds), 2)} s**, {_spread(seconds, 2)} s."]
    return rows


def first_pages(report: Report, title: str) -> None:
    """The section: every page's first render on a fresh server."""
    runs = 1 if report.settings.quick else 3
    results = measure(runs)
    worst = max(median([r["seconds"] for r in rs]) for rs in results.values())
    report.add(title, "\n".join([
        f"Each page of `app.PAGES`, and Train opened from a settings link (`/{SETTINGS_LINK}`), as the very "
        f"first page of a fresh server, {runs} server(s) each, the pages in turn round after round. The server is "
        "started as `make run` starts it, in the app's default environment (worker processes, one warm spare). "
        "Seconds: from `/_stcore/health` answering to the page settled in headless Chromium (a new context: "
        "nothing cached; connected, script finished, title shown, no placeholder left). Server CPU: the "
        "Streamlit process's own CPU seconds (/proc/<pid>/stat) over the same interval, the figure that holds "
        "still on a shared machine; the child processes are the forkserver and the workers it forks.", "",
        *table(results), "",
        f"Slowest page (median): {fmt(worst, 2)} s (aim: every page within 3 s)."]))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_page", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="+", help="pages whose title contains one of these words")
    args = parser.parse_args(argv)
    print("\n".join(table(measure(args.runs, args.only))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

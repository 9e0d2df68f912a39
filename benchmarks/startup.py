"""Start-up and memory (7): process start to first rendered page, load times, peak memory with two models."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from benchmarks.common import ROOT, Report, fmt, median

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
APP_AT_REST_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && app.getAttribute('data-test-script-state') === 'notRunning'
        && !!document.querySelector('[data-testid="stMain"] h1');
}"""

# Run in a fresh interpreter: what the app holds with the data and two models loaded.
LOAD_SCRIPT = """
import json, os, resource, sys, time
t0 = time.perf_counter()
import numpy as np, keras
t_import = time.perf_counter() - t0
from core.data import datasets
from core.nets.predict import predict_digit
from core.store import ModelStore
t1 = time.perf_counter()
mnist = datasets.load("mnist"); split = datasets.split(mnist); x_test, y_test = mnist.test_arrays()
t_data = time.perf_counter() - t1
t2 = time.perf_counter()
first = ModelStore().load("default"); predict_digit(first, x_test[0])
t_model = time.perf_counter() - t2
second = keras.models.clone_model(first); second.set_weights(first.get_weights()); predict_digit(second, x_test[1])
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"import": t_import, "data": t_data, "model": t_model,
                  "peak_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _app_start(browser) -> dict[str, float | None]:
    """Seconds from `streamlit run` to /_stcore/health, and to the Home page rendered in Chromium."""
    port = _free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1"],  # and .streamlit/config.toml, as `make run`
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    result: dict[str, float | None] = {"health": None, "rendered": None, "server_peak_mb": None}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        result["health"] = time.perf_counter() - start
                        break
            except OSError:
                time.sleep(0.1)
        if result["health"] is not None and browser is not None:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function(APP_AT_REST_JS, timeout=120_000)
            result["rendered"] = time.perf_counter() - start
            page.close()
        result["server_peak_mb"] = _peak_mb(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
    return result


def startup(report: Report) -> None:
    """Section 7."""
    s = report.settings
    runs, note = [], ""
    try:
        from playwright.sync_api import sync_playwright
        playwright = sync_playwright().start() if os.path.exists(CHROMIUM) else None
    except ImportError:
        playwright = None
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS) \
        if playwright else None
    if browser is None:
        note = "Chromium or Playwright is missing here, so only the time to /_stcore/health was measured."
    try:
        for i in range(s.startup_runs):
            print(f"[7] app start {i + 1}/{s.startup_runs} ...", flush=True)
            runs.append(_app_start(browser))
            print(f"    {runs[-1]}", flush=True)
    finally:
        if browser:
            browser.close()
            playwright.stop()
    loads = []
    for i in range(s.startup_runs):
        print(f"[7] data + two models in a fresh process {i + 1}/{s.startup_runs} ...", flush=True)
        out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}, check=True)
        loads.append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(rows, key):
        values = [r[key] for r in rows if r[key] is not None]
        return median(values) if values else None

    report.add("7. Start-up and memory", "\n".join([
        f"Medians of {s.startup_runs} fresh starts. `streamlit run app.py` (headless) until `/_stcore/health` "
        "answers, and until the Home page has rendered in headless Chromium (app connected, script finished, "
        "title shown). Load times and peak memory come from a fresh Python process that imports Keras, loads MNIST "
        "(checked, split, normalised) and the shipped default model, then a second model, predicting once with "
        "each; peak = VmHWM.", "", "| figure | median |", "|---|---|",
        f"| process start to /_stcore/health | {fmt(med(runs, 'health'), 1, ' s')} |",
        f"| process start to first page rendered | {fmt(med(runs, 'rendered'), 1, ' s')} |",
        f"| peak memory of the app server after the first page | {fmt(med(runs, 'server_peak_mb'), 0, ' MB')} |",
        f"| import numpy + keras (TensorFlow) | {fmt(med(loads, 'import'), 2, ' s')} |",
        f"| load MNIST (sha256 check, split, normalise) | {fmt(med(loads, 'data'), 2, ' s')} |",
        f"| load the default model + first prediction | {fmt(med(loads, 'model'), 2, ' s')} |",
        f"| peak memory with data and two models loaded | {fmt(med(loads, 'peak_mb'), 0, ' MB')} |",
        "", note]))

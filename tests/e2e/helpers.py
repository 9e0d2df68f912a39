"""Browser-test helpers: run a Streamlit script, wait for it, draw on its canvas.

streamlit-drawable-canvas 0.13 is a components-v2 component: no iframe. It
renders in the page inside an open shadow root (the host is
`[data-testid="stBidiComponentIsolated"]`), which Playwright's CSS locators
pierce, so `canvas.upper-canvas` and the toolbar buttons are plain locators.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

# Timeouts are generous: the test machine has two cores shared with training.
APP_TIMEOUT_MS = 60_000
SERVER_START_TIMEOUT_S = 60.0

# Toolbar buttons of streamlit-drawable-canvas 0.13, by aria-label (= title).
TOOLBAR_LABELS = {
    "send": "Update the app with this drawing",
    "undo": "Undo",
    "redo": "Redo",
    "edit": "Edit",
    "bring_forward": "Bring forward",
    "send_backward": "Send backward",
    "delete_selected": "Delete selected",
    "reset": "Reset canvas & history",
}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "<no server output>"


def _stop_process_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def copy_of_shipped_models(tmp_path_factory, name: str = "store") -> Path:
    """A throwaway copy of the project's models/ (its default model and kept files, no databases), so that nothing
    a browser test does is written into the project."""
    store = tmp_path_factory.mktemp(name) / "models"
    shutil.copytree(REPO_ROOT / "models", store, ignore=shutil.ignore_patterns(".*", "*.sqlite3*"))
    return store


@contextmanager
def start_streamlit(
    script: str | os.PathLike,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = SERVER_START_TIMEOUT_S,
) -> Iterator[str]:
    """Run `streamlit run script` from the repo root; yield its base URL.

    Waits for /_stcore/health to answer "ok" and raises RuntimeError with the
    server's output if it does not within `timeout` seconds. On exit the whole
    process group is terminated. `env` entries are added to os.environ.
    """
    port = port or free_port()
    script_path = Path(script)
    if not script_path.is_absolute():
        script_path = REPO_ROOT / script_path
    command = [
        sys.executable, "-m", "streamlit", "run", str(script_path),
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
    ]  # the rest of the server's settings from .streamlit/config.toml (it starts in the project folder), as `make run`
    # No warm spare worker unless a test asks: tests/conftest.py sets that for the session, and servers inherit it.
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with tempfile.NamedTemporaryFile(
        prefix="streamlit-", suffix=".log", delete=False
    ) as log:
        log_path = Path(log.name)
        proc = subprocess.Popen(
            command, cwd=REPO_ROOT, env=full_env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {proc.returncode} before it was "
                    f"healthy:\n{_tail(log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit on port {port} not healthy after {timeout:.0f} s:\n"
                    f"{_tail(log_path)}"
                )
            time.sleep(0.25)
        yield base_url
    finally:
        _stop_process_group(proc)
        log_path.unlink(missing_ok=True)


_APP_AT_REST_JS = """(() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app
        && app.getAttribute('data-test-connection-state') === 'CONNECTED'
        && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
})()"""


def wait_for_app(page, timeout: float = APP_TIMEOUT_MS) -> None:
    """Wait until the app is connected and its script has finished running.

    Caveat: right after a stroke the canvas waits 200 ms before it sends, so
    this can return before that rerun has even started. To wait for the rerun
    an action causes, wrap the action in `expect_rerun`, or wait for the text
    it should produce with `wait_for_main_text`.
    """
    page.locator('[data-testid="stAppViewContainer"]').wait_for(timeout=timeout)
    page.wait_for_function(f"() => {_APP_AT_REST_JS}", timeout=timeout)


_streams: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def track_script_runs(page) -> None:
    """Watch the page's Streamlit websocket so `expect_rerun` can see runs end.

    Call before `page.goto` (the `page` fixture does).
    """
    def remember(websocket) -> None:
        if websocket.url.endswith("/_stcore/stream"):
            _streams[page] = websocket

    page.on("websocket", remember)


def _is_finished_run(payload: str | bytes) -> bool:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if isinstance(payload, str):
        return False
    try:
        msg = ForwardMsg.FromString(payload)
    except Exception:  # not a ForwardMsg: not ours to judge
        return False
    return msg.WhichOneof("type") == "script_finished" and msg.script_finished in (
        ForwardMsg.FINISHED_SUCCESSFULLY,
        ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
    )


@contextmanager
def expect_rerun(page, timeout: float = APP_TIMEOUT_MS) -> Iterator[None]:
    """After the block, wait for a script run to complete, then for the app to rest.

    Reads Streamlit's own "script finished" message off the websocket, so it
    sees runs too fast to show in the DOM. A run already under way when the
    block starts also counts. Needs `track_script_runs(page)` before goto.
    """
    stream = _streams.get(page)
    if stream is None:
        raise RuntimeError("call track_script_runs(page) before page.goto()")
    with stream.expect_event("framereceived", predicate=_is_finished_run, timeout=timeout):
        yield
    wait_for_app(page, timeout)


def _scope(page, key: str | None):
    """The whole page, or the element container of the widget with `key`."""
    return page.locator(f".st-key-{key}") if key else page


def canvas_locator(page, key: str | None = None):
    """Locator for the drawable canvas's event layer (`canvas.upper-canvas`)."""
    return _scope(page, key).locator("canvas.upper-canvas")


def canvas_box(page, key: str | None = None, timeout: float = APP_TIMEOUT_MS) -> dict:
    """Viewport box {x, y, width, height} of the drawable canvas, once it is shown.

    Scrolls it into view first, as page.mouse works in viewport coordinates.
    With several canvases on the page, pass the st_canvas `key`.
    """
    canvas = canvas_locator(page, key)
    canvas.wait_for(state="visible", timeout=timeout)
    canvas.scroll_into_view_if_needed(timeout=timeout)
    box = canvas.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"canvas has no box: {box}"
    return box


def draw_stroke(
    page,
    points: Sequence[tuple[float, float]],
    *,
    key: str | None = None,
    box: dict | None = None,
    steps: int = 8,
) -> None:
    """Draw one freehand stroke through `points`, in canvas pixels from its top-left.

    Presses the mouse at the first point, glides to each next one in `steps`
    intermediate moves, and releases at the last.
    """
    if len(points) < 2:
        raise ValueError("a stroke needs at least two points")
    box = box or canvas_box(page, key)
    x0, y0 = box["x"], box["y"]
    mouse = page.mouse
    mouse.move(x0 + points[0][0], y0 + points[0][1])
    mouse.down()
    for x, y in points[1:]:
        mouse.move(x0 + x, y0 + y, steps=steps)
    mouse.up()


def toolbar_button(page, name: str, key: str | None = None):
    """Locator for a canvas toolbar button: a TOOLBAR_LABELS key or an aria-label."""
    label = TOOLBAR_LABELS.get(name, name)
    return _scope(page, key).locator(f'.dc-toolbar button[aria-label="{label}"]')


def click_toolbar(page, name: str, key: str | None = None) -> None:
    """Click a toolbar button. The toolbar shows (and moves up) on hover."""
    _scope(page, key).locator(".dc-root").hover()
    toolbar_button(page, name, key).click()


def main_text(page) -> str:
    """Visible text of the app's main area."""
    return page.locator('[data-testid="stMain"]').inner_text()


def wait_for_main_text(
    page, pattern: str | re.Pattern, timeout: float = APP_TIMEOUT_MS
) -> re.Match:
    """Wait until the app is at rest and its main text matches `pattern`.

    Checking both at once matters: a run updates the page element by element,
    so mid-run the text can mix old and new output. The pattern is tested in
    the browser as a multiline JavaScript RegExp, so keep to syntax both
    languages share. Returns the Python match on the text that matched.
    """
    regex = re.compile(pattern)
    handle = page.wait_for_function(
        """([source]) => {
            if (!%s) return null;
            const main = document.querySelector('[data-testid="stMain"]');
            const text = main ? main.innerText : '';
            return new RegExp(source, 'm').test(text) ? text : null;
        }""" % _APP_AT_REST_JS,
        arg=[regex.pattern],
        timeout=timeout,
    )
    text = handle.json_value()
    match = re.compile(regex.pattern, re.MULTILINE).search(text)
    assert match, f"{regex.pattern!r} matched in the browser but not in Python:\n{text}"
    return match


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save a PNG of the page as tests/artifacts/<name>.png; return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    path = ARTIFACTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


_RENDERED_JS = """() => {
    if (!%s) return false;
    if (document.fonts && document.fonts.status !== 'loaded') return false;
    return !document.querySelector('[data-testid="stSkeleton"], [data-testid="stAppSkeleton"]');
}""" % _APP_AT_REST_JS


def wait_until_rendered(page, timeout: float = APP_TIMEOUT_MS, settle_ms: int = 300) -> None:
    """Wait until the app is at rest, fonts are loaded and no lazy element shows its skeleton.

    Use before a screenshot: elements load their code on first use and show a
    grey placeholder meanwhile. `settle_ms` more lets charts finish drawing.
    """
    page.wait_for_function(_RENDERED_JS, timeout=timeout)
    page.wait_for_timeout(settle_ms)


DEFAULT_TIMEOUT_MS = 30_000


@contextmanager
def tracked_page(browser, request, timeout_ms: int = DEFAULT_TIMEOUT_MS, **context_options):
    """A fresh page in its own context (`context_options` as Playwright's new_context takes them), its
    script runs tracked for expect_rerun. Saves tests/artifacts/FAILED-<test>.png if the test fails."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    track_script_runs(page)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.nodeid)
            try:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), full_page=True)
            except Exception:  # the page may be what broke; the failure is reported anyway
                pass
        context.close()

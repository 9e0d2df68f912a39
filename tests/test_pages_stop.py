"""Train page (AppTest): Stop, then Stop now while it stops, ends the run at once and says nothing was saved; one
Stop press heard twice only asks the run to stop."""
from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from core.fit.config import TrainConfig
from core.fit.progress import STOPPED_AT_ONCE, JobState
from core.runs.queue import JobRegistry, QueuedJob
from core.store import ModelStore
from pages.parts.visitor import STARTED_KEY

from page_support import TIMEOUT, page_path, texts, use_registry
from waiting import wait_until


class EndsWhenStoppedTwice(QueuedJob):
    """A stand-in run: trains (waits) until Stop is pressed twice, then ends as a real run stopped twice does."""

    presses = 0

    def stop(self) -> None:
        self.presses += 1
        super().stop()

    def _execute(self) -> None:
        deadline = time.monotonic() + 60
        while self.presses < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.recorder.finished(None, stopped=True, note=STOPPED_AT_ONCE)


def test_stop_then_stop_now_ends_the_run_at_once_and_says_nothing_was_saved(temp_store, monkeypatch):
    registry = JobRegistry(1, ModelStore(temp_store), EndsWhenStoppedTwice)
    use_registry(monkeypatch, registry)
    job = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=100))
    assert wait_until(lambda: job.state == JobState.RUNNING, timeout=10)
    at = AppTest.from_file(page_path("train"), default_timeout=TIMEOUT)
    at.query_params["job"] = job.id
    at.session_state[STARTED_KEY] = {job.id}  # this session started it: it may stop it
    at.run()
    stop = at.button(key=f"train_stop_{job.id}")
    assert stop.label == "■ Stop" and "tested on 1,000 test images" in stop.help
    stop.click().run()
    assert job.state == JobState.STOPPING and not job.state.done
    stop_now = at.button(key=f"train_stop_{job.id}")
    assert stop_now.label == "■ Stop now" and not stop_now.disabled and "nothing is tested or saved" in stop_now.help
    [bar] = at.get("progress")
    assert "then testing on 1,000 test images" in bar.proto.text and "Stop now ends at once" in bar.proto.text
    stop_now.click().run()
    assert job.wait(10) and job.state == JobState.STOPPED and job.presses == 2
    at.run()
    assert not at.exception
    assert f"Stopped: {STOPPED_AT_ONCE}" in texts(at.warning), texts(at.warning)


def test_one_stop_press_heard_twice_asks_the_run_to_stop_once(temp_store, monkeypatch):
    """A rerun that replays a press runs its callback again: "Stop" must not turn into "Stop now" (no saving)."""
    from pages.parts import visitor

    registry = JobRegistry(1, ModelStore(temp_store), EndsWhenStoppedTwice)
    use_registry(monkeypatch, registry)
    once = visitor.stop_if_allowed

    def heard_twice(*args) -> None:
        once(*args)
        once(*args)

    monkeypatch.setattr(visitor, "stop_if_allowed", heard_twice)
    job = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=100))
    assert wait_until(lambda: job.state == JobState.RUNNING, timeout=10)
    at = AppTest.from_file(page_path("train"), default_timeout=TIMEOUT)
    at.query_params["job"] = job.id
    at.session_state[STARTED_KEY] = {job.id}
    at.run()
    assert at.button(key=f"train_stop_{job.id}").label == "■ Stop"
    at.button(key=f"train_stop_{job.id}").click().run()
    assert job.presses == 1 and job.state == JobState.STOPPING, "the second hearing of Stop is not a Stop now"
    stop_now = at.button(key=f"train_stop_{job.id}")
    assert stop_now.label == "■ Stop now"
    stop_now.click().run()
    assert job.wait(10) and job.state == JobState.STOPPED and job.presses >= 2

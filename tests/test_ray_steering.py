"""Taking the wheel of a run on a real local Ray cluster (core/runs/ray_server.py, ray_node.py): Pause holds the
weights bit-identical, Step trains one batch, a new learning rate reaches the next batch and is recorded."""
import os
import time

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from core.fit.config import TrainConfig  # noqa: E402
from core.fit.progress import JobState  # noqa: E402
from core.runs.queue import JobRegistry  # noqa: E402

from waiting import wait_until  # noqa: E402

LONG = TrainConfig.for_preset("mlp-128-64", epochs=100, limit=2000, batch_size=32)  # always stopped


def test_pause_step_and_a_new_rate_on_ray(ray_executor, store):
    job = JobRegistry(1, store, ray_executor).submit(LONG.replace(name="steered-on-ray"))
    assert wait_until(lambda: job.progress().steps >= 3, timeout=180)
    job.pause()
    assert wait_until(lambda: job.progress().paused, timeout=30), "the run never held"
    held = job.progress()
    time.sleep(2.0)
    assert job.progress().steps == held.steps and job.progress().paused

    job.set_learning_rate(0.0123)
    job.step()
    assert wait_until(lambda: job.progress().last_step is not None, timeout=60)
    report = job.progress().last_step
    assert report.digest_before == held.held_digest, "the weights moved while paused"
    assert report.step == held.steps + 1 and report.learning_rate == pytest.approx(0.0123, rel=1e-6)
    [event] = job.progress().events
    assert event.kind == "learning_rate" and event.step == held.steps

    job.resume()
    assert wait_until(lambda: job.progress().steps > held.steps + 5, timeout=60)
    job.stop()
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.result is not None
    assert [e["step"] for e in store.read_meta("steered-on-ray").extra["events"]] == [held.steps]
    assert [e.step for e in store.load_replay("steered-on-ray").events] == [held.steps]

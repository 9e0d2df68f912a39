"""Runs on a real local Ray cluster (core/runs/ray_server.py): they train on warm actors run after run, report live,
stop (twice: at once), fail cleanly, and the server's own store saves the model that comes back."""
import os
import signal

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

from run_checks import trains_reports_live_and_saves

from core.fit.config import TrainConfig  # noqa: E402
from core.fit.progress import STOPPED_AT_ONCE, JobState  # noqa: E402
from core.runs.queue import JobRegistry
from core.runs.ray_server import RayExecutor  # noqa: E402
from core.store import DEFAULT_MODEL  # noqa: E402

from waiting import running, wait_until

LONG = TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000)  # minutes: always stopped


@pytest.fixture(scope="module")
def executor(cluster):
    """One warm actor for the module's runs; the cluster's other CPU is for the tests' own executors (an idle
    actor holds its CPU, so every executor a test makes is closed before the next)."""
    executor = RayExecutor(cpus=1, grace=20.0, actors=1)
    yield executor
    executor.close()


def test_a_run_on_ray_trains_reports_live_and_the_server_saves_it(store, executor):
    job = trains_reports_live_and_saves(store, executor, "r", batch_size=16)
    assert job.worker_node, "the node it ran on is known"


def test_stop_on_ray_keeps_what_was_learned_under_a_free_name(store, executor):
    registry = JobRegistry(1, store, executor)
    first = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=600))
    assert first.wait(timeout=120) and first.state == JobState.FINISHED, first.progress().error
    job = registry.submit(LONG)
    assert wait_until(lambda: job.progress().steps >= 20)
    job.stop()
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.error is None
    assert len(progress.epoch_log) == 1 and progress.steps < progress.batches_per_epoch
    name = progress.result.model_name
    assert name != first.progress().result.model_name and store.read_meta(name).stopped_early is True

    from core.data import datasets
    from core.store.kept import evaluation_path, read_evaluation

    finished = store.paths(first.progress().result.model_name)[0]   # the node's test, kept by the server
    kept = read_evaluation(finished, "mnist", datasets.load("mnist").y_test)
    assert kept is not None and kept.accuracy == pytest.approx(first.progress().result.test_accuracy)
    assert not evaluation_path(store.paths(name)[0]).exists(), "a stopped run is tested on a sample: not kept"


def test_a_killed_ray_worker_fails_its_run_and_the_next_run_trains(store, executor):
    registry = JobRegistry(1, store, executor)
    doomed = registry.submit(LONG)
    after = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=1000, name="after"))
    assert wait_until(lambda: doomed.progress().steps >= 5)
    os.kill(doomed.worker_pid, signal.SIGKILL)
    assert doomed.wait(timeout=60)
    progress = doomed.progress()
    assert progress.state == JobState.FAILED
    assert progress.error.startswith("The Ray worker training this run was lost: its worker process died"), \
        progress.error
    assert after.wait(timeout=120) and after.state == JobState.FINISHED, after.progress().error
    assert after.worker_pid != doomed.worker_pid, "the crashed actor is replaced, not reused"
    assert store.read_meta("after").test_accuracy > 0.5
    assert {info.name for info in store.list()} == {DEFAULT_MODEL, "after"}, "nothing saved for the killed run"


def test_a_stuck_ray_actor_is_ended_after_the_grace_time(store, cluster):
    executor = RayExecutor(cpus=1, grace=1.0, actors=1)
    job = JobRegistry(1, store, executor).submit(LONG)
    assert wait_until(lambda: job.progress().steps >= 5)
    os.kill(job.worker_pid, signal.SIGSTOP)  # a stuck run: it cannot reach the end of its batch
    try:
        job.stop()
        assert job.wait(timeout=60)
    finally:
        os.kill(job.worker_pid, signal.SIGCONT)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.result is None
    assert "did not stop within 1 s" in progress.error
    assert [info.name for info in store.list()] == [DEFAULT_MODEL]
    assert wait_until(lambda: not running(job.worker_pid), timeout=30), "the stuck actor is ended, not kept"
    executor.close()


def test_stop_pressed_twice_on_ray_ends_the_run_at_once_and_saves_nothing(store, executor):
    registry = JobRegistry(1, store, executor)
    job = registry.submit(LONG)
    assert wait_until(lambda: job.progress().steps >= 5)
    job.stop()
    job.stop()  # no testing, no saving, no 20 s of grace
    assert job.wait(timeout=30)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.result is None and progress.error == STOPPED_AT_ONCE
    assert wait_until(lambda: not running(job.worker_pid), timeout=30), "its actor is ended at once"
    assert [info.name for info in store.list()] == [DEFAULT_MODEL]


def test_a_warm_actor_trains_run_after_run_from_fresh_weights(store, cluster):
    """A seeded run gives the same model on a reused actor as on the fresh one: nothing passes between runs."""
    import numpy as np

    config = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=600, name="first")
    executor = RayExecutor(cpus=1, actors=1)
    try:
        registry = JobRegistry(1, store, executor)
        configs = (config, config.replace(seed=2, name="other"), config.replace(name="again"))
        jobs = [registry.submit(c) for c in configs]
        for job in jobs:
            assert job.wait(timeout=180) and job.state == JobState.FINISHED, job.progress().error
    finally:
        executor.close()
    assert len({job.worker_pid for job in jobs}) == 1, "one actor, fresh for the first run, trained all three"
    models = {name: store.load(name) for name in ("first", "other", "again")}
    weights = {name: model.get_weights() for name, model in models.items()}
    assert all(np.array_equal(a, b) for a, b in zip(weights["first"], weights["again"]))
    assert [layer.name for layer in models["again"].layers] == [layer.name for layer in models["first"].layers]
    assert not np.array_equal(weights["first"][0], weights["other"][0]), "another seed, another model"



def test_the_command_line_trains_on_ray_when_asked(capsys, tmp_path, monkeypatch, cluster):
    from core.cli import main

    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path))
    assert main(["train", "--arch", "linear", "--epochs", "1", "--limit", "600", "--executor", "ray",
                 "--name", "cli-ray"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "saved cli-ray" in out and (tmp_path / "cli-ray.json").exists()


def test_a_fine_tune_gets_its_base_model_and_drawings_from_the_server(small_trained_model, tmp_path, monkeypatch):
    """No cluster needed: what the server sends along is enough for a Ray node to plan the run."""
    import numpy as np

    from core.data import datasets
    from core.drawings import DrawingStore
    from core.fit.finetune import KeptDrawings, config_for
    from core.fit.recipe import plan_fit
    from core.runs.ray_node import CapturingStore
    from core.runs.ray_server import fine_tune_inputs
    from core.store import StoreError

    store, name = small_trained_model
    mnist = datasets.load("mnist")
    drawings = DrawingStore(tmp_path / "drawings.sqlite3")
    for i in range(12):
        drawings.add(int(mnist.y_test[i]), mnist.x_test[i])
    monkeypatch.setenv("DIGIT_STUDIO_DRAWINGS", str(drawings.path))
    config = config_for(name, store.read_meta(name), epochs=1, limit=200, validation_split=0.0)
    inputs = fine_tune_inputs(config, store)
    assert inputs["base"][0] == name and inputs["base"][2] == store.read_meta(name)
    assert np.array_equal(inputs["drawings"][0], drawings.arrays()[0])
    node = CapturingStore(inputs["base"])
    plan = plan_fit(config, node, KeptDrawings(*inputs["drawings"]))
    assert plan.drawings.held == 3 and plan.train_samples == 200 + 9 * 5
    assert np.allclose(plan.model.get_weights()[0], store.load(name).get_weights()[0]), "the base model's weights"
    with pytest.raises(StoreError, match="No model named 'other' was sent"):
        node.load("other")
    assert fine_tune_inputs(TrainConfig(epochs=1), store) == {}

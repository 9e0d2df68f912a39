"""Stop is quick: a stopped run cuts its epoch's validation short and is tested on a sample of the test set (and
says so); Stop pressed twice ends the run at once, saving nothing, in a thread and in a worker process."""
import os

import keras
import numpy as np
import pytest

from core.data import datasets
from core.fit.config import TrainConfig
from core.fit.progress import STOPPED_AT_ONCE, STOPPED_TEST_IMAGES, JobState, ProgressRecorder
from core.fit.recipe import plan_fit
from core.fit.training import ProgressCallback, images_for_testing
from core.nets.evaluation import evaluate
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.runs.workers import WorkerPool
from core.store import DEFAULT_MODEL

from waiting import running, wait_until

LONG = TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000)  # minutes: always stopped


class CountTestBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.per_epoch, self._count = [], 0

    def on_test_batch_end(self, batch, logs=None):
        self._count += 1

    def on_epoch_end(self, epoch, logs=None):
        self.per_epoch.append(self._count)
        self._count = 0


def test_a_stopped_epochs_validation_is_cut_short_and_not_recorded():
    config = TrainConfig.for_preset("linear", epochs=3, limit=1000, batch_size=50, validation_split=0.5)
    plan = plan_fit(config)
    recorder = ProgressRecorder("j", config)
    recorder.planned(plan.batches_per_epoch, plan.train_samples)
    stop_in_epoch_two = lambda: len(recorder.history()) == 1 and recorder.snapshot().batch >= 3  # noqa: E731
    counter = CountTestBatches()
    plan.model.fit(callbacks=[ProgressCallback(recorder, stop_in_epoch_two), counter], **plan.fit_args)
    batches = counter.per_epoch
    assert batches == [10, 1], "epoch 1 validates on all 500 images (10 batches), the stopped epoch on one batch"
    log = recorder.history()
    assert len(log) == 2 and "val_loss" in log[0] and "val_accuracy" in log[0]
    assert not any(key.startswith("val_") for key in log[1]), log[1]


def test_the_stopped_runs_sample_is_seeded_and_a_finished_run_tests_everything():
    mnist = datasets.load("mnist")
    x, y = images_for_testing(mnist, seed=7, stopped=True)
    again, _ = images_for_testing(mnist, seed=7, stopped=True)
    other, _ = images_for_testing(mnist, seed=8, stopped=True)
    assert len(y) == STOPPED_TEST_IMAGES and np.array_equal(x, again) and not np.array_equal(x, other)
    assert set(np.bincount(y, minlength=10)) != {0}, "every digit is in the sample"
    assert len(images_for_testing(mnist, seed=7, stopped=False)[1]) == len(mnist.y_test)


@pytest.mark.slow
def test_a_stopped_run_is_tested_on_a_sample_and_says_so(store):
    job = JobRegistry(1, store, TrainingJob).submit(LONG.replace(name="stopped"))
    assert wait_until(lambda: job.progress().steps >= 20)
    job.stop()
    assert job.wait(timeout=120)
    progress = job.progress()
    assert progress.state == JobState.STOPPED and progress.error is None
    result, meta = progress.result, store.read_meta("stopped")
    assert result.test_images == meta.test_metrics.images == STOPPED_TEST_IMAGES and result.sampled_from(10000)
    assert sum(map(sum, meta.test_metrics.confusion)) == STOPPED_TEST_IMAGES and meta.stopped_early
    model = store.load("stopped")
    x, y = images_for_testing(datasets.load("mnist"), LONG.seed, stopped=True)
    assert meta.test_accuracy == pytest.approx(evaluate(model, x, y).accuracy), "its figures are this sample's"


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["thread", "process"])
def test_stop_pressed_twice_ends_the_run_at_once_and_saves_nothing(store, executor):
    pool = WorkerPool(grace=60.0) if executor == "process" else None
    try:
        registry = JobRegistry(1, store, pool or TrainingJob)
        job = registry.submit(LONG)
        after = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=600, name="after"))
        assert wait_until(lambda: job.progress().steps >= 5)
        job.stop()
        job.stop()  # a second press: no testing, no saving, and no 60 s of grace for a worker
        assert job.wait(timeout=30), "a run stopped twice ends within a batch, not after testing and saving"
        progress = job.progress()
        assert progress.state == JobState.STOPPED and progress.result is None
        assert progress.error == STOPPED_AT_ONCE
        if executor == "process":
            assert job.worker_pid != os.getpid() and wait_until(lambda: not running(job.worker_pid), timeout=10)
        assert after.wait(timeout=120) and after.state == JobState.FINISHED, after.progress().error
        assert sorted(info.name for info in store.list()) == sorted([DEFAULT_MODEL, "after"]), "nothing saved"
    finally:
        if pool is not None:
            pool.close()

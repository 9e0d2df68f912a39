"""What every executor must do with a short run, checked the same way for worker processes and Ray."""
from __future__ import annotations

import os

import pytest

from core.fit.config import TrainConfig
from core.fit.progress import JobState
from core.runs.queue import JobRegistry


def trains_reports_live_and_saves(store, factory, name: str, batch_size: int, while_running=None):
    """Train mlp-128-64 for 2 epochs on 3,000 samples through a registry with `factory`, watching it; check it
    reported growing steps while it ran, its epochs, figures and curve, and that the store holds the model.
    `while_running(job)` is called once, while it trains. Returns the finished job."""
    job = JobRegistry(1, store, factory).submit(
        TrainConfig.for_preset("mlp-128-64", epochs=2, limit=3000, batch_size=batch_size, name=name))
    seen = []
    while not job.wait(timeout=0.01):
        progress = job.progress()
        if progress.state == JobState.RUNNING and progress.steps:
            if not seen and while_running is not None:
                while_running(job)
            seen.append(progress.steps)
    progress = job.progress()
    assert progress.state == JobState.FINISHED, progress.error
    assert job.worker_pid and job.worker_pid != os.getpid(), "trained elsewhere, not in this process"
    assert len(set(seen)) >= 2 and seen == sorted(seen), "steps seen to grow while it ran"
    batches = -(-2700 // batch_size)                           # 2,700 samples after validation
    assert progress.batches_per_epoch == batches and progress.steps == 2 * batches
    assert [e["epoch"] for e in progress.epoch_log] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "elapsed"} <= set(progress.epoch_log[0])
    assert progress.batch_curve and progress.batch_curve[-1][0] == pytest.approx(2.0)
    assert progress.samples_per_second > 0 and progress.result.test_accuracy > 0.7
    assert progress.result.model_name == name
    meta = store.read_meta(name)
    assert meta.test_accuracy == pytest.approx(progress.result.test_accuracy) and len(meta.history) == 2
    assert store.load(name).count_params() == meta.parameters  # what came back is a loadable Keras model
    return job

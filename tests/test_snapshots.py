"""Snapshots of a run as it learns (core.store.snapshots, core.fit.watching): taken with the weights of that moment,
the drawing predicted with them in a thread and in a worker process, kept when a run is stopped, saved
with the model within budget and read back as recorded."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from core.data import datasets
from core.fit.config import TrainConfig
from core.fit.probe import ProbeBox
from core.fit.progress import JobState, ProgressRecorder
from core.fit.recipe import plan_fit
from core.fit.training import ProgressCallback
from core.fit.watching import choose_panel, choose_panel_of, watch_callback
from core.runs.queue import JobRegistry
from core.runs.thread import TrainingJob
from core.store import DEFAULT_MODEL, StoreError
from core.store.snapshots import MAX_SAVED, REPLAY_BUDGET, Panel, Replay, Snapshot

from waiting import wait_until

LONG = TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000)  # always stopped


def a_one() -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 13:16] = 1.0
    return image


class Oracle(keras.callbacks.Callback):
    """The panel and the drawing predicted directly, at the start and after every batch (after the snapshot)."""

    def __init__(self, x: np.ndarray, logits: bool):
        super().__init__()
        self.x, self.logits, self.by_step, self.step = x, logits, {}, 0

    def _predict(self) -> np.ndarray:
        out = self.model(self.x, training=False)
        return np.asarray(keras.ops.softmax(out) if self.logits else out)

    def on_train_begin(self, logs=None):
        self.by_step[0] = self._predict()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.by_step[self.step] = self._predict()


def test_each_snapshot_is_what_the_network_of_that_moment_says(monkeypatch):
    config = TrainConfig.for_preset("mlp-128-64", epochs=2, limit=1000, batch_size=32)
    plan = plan_fit(config)
    recorder = ProgressRecorder("test", config)
    recorder.planned(plan.batches_per_epoch, plan.train_samples)
    probe = ProbeBox()
    probe.set(a_one())
    watch = watch_callback(plan, config, recorder, probe.get, every=5)
    remembered = []   # the steps after which the layer figures kept the weights, for the next snapshot's update ratio
    remember = watch.layers.remember
    monkeypatch.setattr(watch.layers, "remember", lambda: remembered.append(watch.step) or remember())
    monkeypatch.setattr(watch, "_layers_due", lambda: True)   # the layer figures with every snapshot
    oracle = Oracle(np.concatenate([watch.panel_x, a_one()[None, ..., None]]), plan.preset.logits)
    plan.model.fit(callbacks=[ProgressCallback(recorder, lambda: False), watch, oracle], **plan.fit_args)

    snapshots = recorder.snapshots()
    steps = [s.step for s in snapshots]
    assert remembered and all(step + 1 in steps for step in remembered), \
        "weights are kept only for a snapshot that is taken after the next batch"
    batches = 2 * plan.batches_per_epoch  # 2 epochs of 29 batches
    assert steps[:6] == [0, 1, 2, 4, 8, 13] and steps[-1] == batches, steps  # 1, 2, 4, ... then every 5
    due = list(range(13, plan.batches_per_epoch, 5))  # 13, 18, 23, 28
    assert due[-1] == plan.batches_per_epoch - 1 and due[-1] not in steps, \
        "the epoch end's own snapshot stands for one due a batch before it"
    assert len(set(steps)) == len(steps), "one snapshot a step"
    assert [s.seq for s in snapshots] == list(range(len(snapshots)))
    assert recorder.snapshot().snapshot_count == len(snapshots)
    for shot in snapshots:
        direct = oracle.by_step[shot.step]
        np.testing.assert_allclose(shot.probabilities.astype(np.float32), direct[:-1], atol=2e-3)
        np.testing.assert_allclose(shot.probe, direct[-1], atol=1e-5)
        assert shot.probe_version == 1 and np.array_equal(shot.probe_image, (a_one() * 255).astype(np.uint8))
    middle = [s for s in snapshots if 0 < s.step < batches]
    assert any(not np.allclose(a.probabilities, b.probabilities, atol=0.01) for a, b in zip(middle, middle[1:])), \
        "the network learns between snapshots: their answers must change"
    ends = [s for s in snapshots if s.confusion is not None]
    assert [(s.epoch, s.step) for s in ends] == [(0, plan.batches_per_epoch), (1, batches)]
    assert all(s.confusion.sum() == s.confusion_count == 100 for s in ends)  # the 100 validation images
    assert snapshots[-1].filters.shape == (16, 28, 28) and recorder.snapshot().panel.filter_kind == "dense"
    final = plan.model(watch.panel_x, training=False)
    final = np.asarray(keras.ops.softmax(final))
    np.testing.assert_allclose(snapshots[-1].probabilities.astype(np.float32), final, atol=2e-3)


def test_the_panel_is_two_of_each_class_and_some_hard_ones_the_same_for_a_seed():
    mnist = datasets.load("mnist")
    x, panel = choose_panel(mnist, seed=0)
    again = choose_panel_of(mnist, seed=0)[1]  # computed afresh, not the kept one
    assert np.array_equal(choose_panel(mnist, seed=0)[1].images, panel.images), "a seed's panel, every time"
    other = choose_panel(mnist, seed=1)[1]
    assert x.shape == (26, 28, 28, 1) and x.max() <= 1.0 and len(panel) == 26
    assert np.array_equal(panel.images, again.images) and not np.array_equal(panel.images, other.images)
    assert np.bincount(panel.labels[~panel.hard], minlength=10).tolist() == [2] * 10
    assert panel.hard.sum() == 6 and len(set(panel.labels[panel.hard].tolist())) == 6
    flat = mnist.x_test.reshape(len(mnist.x_test), -1) / 255.0
    means = np.stack([flat[mnist.y_test == c].mean(axis=0) for c in range(10)])
    for image, label in zip(panel.images[panel.hard], panel.labels[panel.hard]):
        distances = ((image.reshape(-1) / 255.0 - means) ** 2).sum(axis=1)
        assert distances.argmin() != label, "a hard one sits nearer another class's average image"


def synthetic_run(count: int, filters_shape=(16, 28, 28), seed=0) -> Replay:
    rng = np.random.default_rng(seed)
    panel = Panel(images=rng.integers(0, 255, (26, 28, 28), dtype=np.uint8), labels=np.arange(26) % 10,
                  hard=np.arange(26) >= 20, class_names=datasets.DIGITS, dataset="mnist", filter_kind="dense",
                  confusion_source="validation")
    snapshots = []
    for i in range(count):
        end = i % 50 == 49
        probabilities = rng.dirichlet(np.ones(10), 26).astype(np.float16)
        snapshots.append(Snapshot(
            seq=i, step=i * 3, epoch=i // 50, batch=(i % 50) * 3, seconds=i * 0.5, probabilities=probabilities,
            filters=rng.integers(0, 255, filters_shape, dtype=np.uint8),
            confusion=rng.integers(0, 100, (10, 10)).astype(np.int32) if end else None,
            confusion_count=1000 if end else 0, probe_version=1 if i > 10 else 0,
            probe_image=rng.integers(0, 255, (28, 28), dtype=np.uint8) if i > 10 else None,
            probe=rng.dirichlet(np.ones(10)).astype(np.float32) if i > 10 else None))
    return Replay(panel, tuple(snapshots), 150)


def test_a_long_run_is_thinned_into_a_small_file_that_reads_back_as_recorded():
    run = synthetic_run(500)  # an MLP's filters: 12.5 KB a snapshot before thinning
    data = run.to_bytes()
    assert len(data) <= REPLAY_BUDGET
    back = Replay.from_bytes(data)
    assert 20 <= len(back.snapshots) <= MAX_SAVED
    kept = {s.seq: s for s in run.snapshots}
    seqs = [s.seq for s in back.snapshots]
    assert seqs[0] == 0 and seqs[-1] == 499 and seqs == sorted(seqs)
    assert {49, 99, 149, 199, 249, 299, 349, 399, 449, 499} <= set(seqs), "every epoch end is kept"
    for shot in back.snapshots:
        original = kept[shot.seq]
        assert (shot.step, shot.epoch, shot.batch, shot.probe_version) == (original.step, original.epoch,
                                                                            original.batch, original.probe_version)
        assert np.array_equal(shot.probabilities, original.probabilities)
        assert (shot.confusion is None) == (original.confusion is None)
        if shot.confusion is not None:
            assert np.array_equal(shot.confusion, original.confusion)
        if shot.probe is not None:
            assert np.array_equal(shot.probe, original.probe) and np.array_equal(shot.probe_image, original.probe_image)
        if shot.filters is not None:
            assert np.array_equal(shot.filters, original.filters)
    assert sum(s.filters is not None for s in back.snapshots) >= 2
    assert np.array_equal(back.panel.images, run.panel.images) and back.panel.class_names == datasets.DIGITS
    with pytest.raises(ValueError):
        Replay.from_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        Replay.from_bytes(b"not a replay")


class FileModel:
    def save(self, path):
        open(path, "wb").write(b"PK not really a model")


def test_the_store_keeps_a_replay_beside_its_model_and_deletes_it_with_it(store):
    from core.store import ModelMeta

    run = synthetic_run(60, filters_shape=(32, 3, 3))
    store.save("watched", FileModel(), ModelMeta(arch="linear"), replay=run)
    store.save("plain", FileModel(), ModelMeta(arch="linear"))
    assert store.replay_path("watched").exists() and store.load_replay("plain") is None
    back = store.load_replay("watched")
    assert [s.seq for s in back.snapshots] == list(range(60))  # small enough to keep whole
    assert {info.name for info in store.list()} == {DEFAULT_MODEL, "watched", "plain"}
    store.replay_path("plain").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="replay of 'plain'"):
        store.load_replay("plain")
    store.save("plain", FileModel(), ModelMeta(arch="linear"))  # saved again without one: no stale replay
    assert not store.replay_path("plain").exists()
    store.delete("watched")
    assert not store.replay_path("watched").exists()


def test_a_thread_run_predicts_the_drawing_and_saves_its_snapshots_with_the_model(store):
    job = JobRegistry(1, store, TrainingJob).submit(TrainConfig.for_preset("linear", epochs=1, limit=2000, name="watched"))
    version = job.set_probe(a_one())
    assert job.wait(timeout=300) and job.state == JobState.FINISHED, job.progress().error
    p = job.progress()
    snapshots = job.snapshots()
    assert p.snapshot is snapshots[-1] and p.snapshot_count == len(snapshots) >= 5
    assert job.snapshots(since=3) == snapshots[3:]
    assert all(s.probe_version == version and abs(float(s.probe.sum()) - 1) < 1e-4 for s in snapshots[1:])
    assert snapshots[-1].probe.argmax() == 1, "a linear model trained on 1,800 digits reads a clear 1"
    saved = store.load_replay("watched")
    assert [s.seq for s in saved.snapshots] == [s.seq for s in snapshots]
    assert np.array_equal(saved.snapshots[-1].probe, snapshots[-1].probe)
    assert np.array_equal(saved.panel.images, p.panel.images)


def test_a_stopped_run_keeps_its_snapshots_up_to_the_stop(store):
    job = JobRegistry(1, store, TrainingJob).submit(LONG.replace(name="stopped"))
    assert wait_until(lambda: job.progress().snapshot_count >= 6 and job.progress().steps >= 40)
    job.stop()
    at_stop = job.progress().steps
    assert job.wait(timeout=120) and job.state == JobState.STOPPED
    p = job.progress()
    snapshots = job.snapshots()
    assert snapshots[-1].step == p.steps <= at_stop + 1, "the last snapshot is where the run stopped"
    assert [s.step for s in snapshots] == sorted(s.step for s in snapshots)
    assert snapshots[-1].confusion is not None  # the interrupted epoch is closed
    saved = store.load_replay("stopped")
    assert saved is not None and saved.snapshots[-1].step == p.steps


@pytest.mark.slow
def test_a_worker_process_run_predicts_the_drawing_it_is_handed(store):
    from core.runs.workers import WorkerPool

    pool = WorkerPool()
    try:
        job = JobRegistry(1, store, pool).submit(
            TrainConfig.for_preset("linear", epochs=1, limit=3000, batch_size=16, name="worker"))
        assert wait_until(lambda: job.progress().snapshot_count >= 2 or job.state.done, timeout=180)
        version = job.set_probe(a_one())  # handed over mid-run, through shared memory
        assert job.wait(timeout=180) and job.state == JobState.FINISHED, job.progress().error
    finally:
        pool.close()
    snapshots = job.snapshots()
    answered = [s for s in snapshots if s.probe_version == version]
    assert answered and snapshots[-1] in answered, "the drawing is read by the snapshots after it is handed over"
    assert all(abs(float(s.probe.sum()) - 1) < 1e-4 for s in answered)
    assert snapshots[0].probe is None
    assert job.progress().panel is not None and store.load_replay("worker").snapshots[-1].probe is not None


def test_filters_of_a_diverged_run_are_drawn_with_its_numbers_only():
    """A diverged run's weights hold NaN and infinities: they are drawn as zero, the rest on their own scale."""
    import warnings

    from core.store.snapshots import quantise_filters

    images = np.array([[[np.nan, 1.0], [-2.0, np.inf]]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no "invalid value encountered in cast"
        drawn = quantise_filters(images)
    assert drawn.tolist() == [[[128, 192], [1, 128]]]

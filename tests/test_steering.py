"""Taking the wheel of a run (core.fit.control, core.fit.steering, core.runs.steering): Pause holds it, Step
trains exactly one batch, Resume goes on, a new learning rate reaches the optimizer before the next batch and
is recorded, an untouched paused run is stopped and saved, a reused worker forgets all of it; through the
queue's job API, in a thread of this process and in a warm worker process."""
from __future__ import annotations

import math
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.fit.config import TrainConfig
from core.fit.control import ControlError, ControlState, SharedControl, checked_learning_rate
from core.fit.progress import STOPPED_TEST_IMAGES, JobState
from core.fit.steering import StepBatches, take_step
from core.runs.queue import JobRegistry
from core.runs.steering import pause_limit_from_env
from core.runs.thread import TrainingJob
from core.runs.workers import WorkerPool

from waiting import wait_until

# Long enough to be paused and stepped however slow the machine; always stopped at the end.
LONG = TrainConfig.for_preset("mlp-128-64", epochs=100, limit=2000, batch_size=32, validation_split=0.1)
SHORT = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=600, batch_size=64)


# --- the control state, without training -----------------------------------------------------------------

def test_control_state_round_trips_through_shared_memory_and_resets():
    import multiprocessing

    shared = SharedControl(multiprocessing.get_context("spawn"))
    state = ControlState(paused=True, steps=3, learning_rate=0.05, rate_version=2, augment=True, augment_version=1)
    shared.set(state)
    assert shared.get() == state
    shared.reset()
    assert shared.get() == ControlState()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 1e9, "fast", None, True])
def test_a_bad_learning_rate_is_refused_in_plain_words(bad):
    with pytest.raises(ControlError, match="learning rate must be"):
        checked_learning_rate(bad)


def test_the_pause_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_PAUSE_LIMIT", "2.5")
    assert pause_limit_from_env() == 2.5
    for bad in ("soon", "-3", "0"):
        monkeypatch.setenv("DIGIT_STUDIO_PAUSE_LIMIT", bad)
        assert pause_limit_from_env() == 600
    monkeypatch.delenv("DIGIT_STUDIO_PAUSE_LIMIT")
    assert pause_limit_from_env() == 600



def test_the_stall_limit_comes_from_the_environment(monkeypatch):
    from core.runs.out_of_process import stall_limit_from_env

    monkeypatch.setenv("DIGIT_STUDIO_STALL_LIMIT", "42")
    assert stall_limit_from_env() == 42
    for bad in ("soon", "-3", "0", "nan"):
        monkeypatch.setenv("DIGIT_STUDIO_STALL_LIMIT", bad)
        assert stall_limit_from_env() == 180
    monkeypatch.delenv("DIGIT_STUDIO_STALL_LIMIT")
    assert stall_limit_from_env() == 180

# --- one Step, against an independent GradientTape ------------------------------------------------------

@pytest.mark.slow
def test_one_step_with_sgd_moves_every_weight_by_minus_lr_times_the_gradient():
    from core.data import datasets
    from core.nets.builders import build_model

    keras.utils.set_random_seed(3)
    model = build_model("mlp-128-64", {}, (28, 28, 1), 10)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = datasets.load("mnist")
    x, y = StepBatches(datasets.normalise(data.x_train[:500]), data.y_train[:500], 32, seed=1).next()
    start = [w.numpy().copy() for w in model.trainable_weights]
    with tf.GradientTape() as tape:  # the oracle: the same batch, the same starting weights
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=True))
    gradients = [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]
    panel = datasets.normalise(data.x_test[:20])

    report = take_step(model, x, y, lambda: np.asarray(model(panel)).argmax(axis=1), step=7)

    for before, after, g in zip(start, [w.numpy() for w in model.trainable_weights], gradients):
        np.testing.assert_allclose(after - before, -0.1 * g, atol=1e-6)
    assert report.step == 8 and report.batch_size == 32 and report.learning_rate == pytest.approx(0.1)
    assert report.loss_before == pytest.approx(float(loss), rel=1e-5)   # no dropout: training mode is the same
    after = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=False))
    assert report.loss_after == pytest.approx(float(after), rel=1e-5) and report.loss_after < report.loss_before
    kernels = [0, 2, 4]  # kernel, bias, kernel, bias ...: the kernels' own moves
    for move, index in zip(report.layers, kernels):
        assert move.moved == pytest.approx(0.1 * np.linalg.norm(gradients[index]), rel=1e-4)
        assert move.gradient_norm == pytest.approx(np.linalg.norm(gradients[index]), rel=1e-4)
        assert move.relative == pytest.approx(move.moved / np.linalg.norm(start[index]), rel=1e-4)
    answers = np.asarray(model(panel)).argmax(axis=1)
    assert all(answers[i] == new and old != new for i, old, new in report.changed)
    np.testing.assert_array_equal(report.images, np.round(x[:32, ..., 0] * 255).astype(np.uint8))
    assert report.digest_before != report.digest_after


# --- through the queue, for each executor ---------------------------------------------------------------

@pytest.fixture(params=["thread", "process"])
def registry(request, store):
    if request.param == "thread":
        yield JobRegistry(1, store, TrainingJob)
        return
    pool = WorkerPool(grace=20.0, cores=2)
    yield JobRegistry(1, store, pool, cores=2)
    pool.close()


def stopped(job):
    job.stop()
    assert job.wait(timeout=120), "the run did not end after Stop"
    return job.progress()


def next_report(job, number: int):
    assert wait_until(lambda: (job.progress().last_step or None) is not None
                      and job.progress().last_step.number == number, timeout=60), f"Step {number} never reported"
    return job.progress().last_step


@pytest.mark.slow
def test_pause_holds_step_trains_one_batch_a_new_rate_takes_effect_and_resume_goes_on(registry, store):
    job = registry.submit(LONG.replace(name="steered"))
    assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
    job.pause()
    assert wait_until(lambda: job.progress().paused, timeout=30), "the run never held"
    held = job.progress()
    assert held.state == JobState.RUNNING and held.held_digest
    time.sleep(2.0)
    assert job.progress().steps == held.steps and job.progress().paused, "it trained on while paused"

    job.step()
    first = next_report(job, 1)
    assert first.digest_before == held.held_digest, "the weights moved while paused"
    assert first.step == held.steps + 1 and job.progress().steps == held.steps + 1
    assert first.digest_after != first.digest_before and all(m.moved > 0 for m in first.layers)
    assert math.isfinite(first.loss_before) and math.isfinite(first.loss_after)
    assert first.batch_size == 32 and len(first.images) == 32 and first.labels.shape == (32,)
    assert job.progress().snapshot.step == first.step, "a snapshot shows the panel after the step"

    rate = job.set_learning_rate(0.0123)
    job.step()
    second = next_report(job, 2)
    assert second.digest_before == first.digest_after, "nothing moved between the two steps"
    assert second.learning_rate == pytest.approx(rate, rel=1e-6), "the new rate trained the very next batch"
    [event] = [e for e in job.progress().events if e.kind == "learning_rate"]
    assert event.step == first.step and event.value == pytest.approx(rate, rel=1e-6)
    assert job.progress().steps == held.steps + 2 and job.progress().paused

    job.resume()
    assert wait_until(lambda: not job.progress().paused and job.progress().steps > held.steps + 5, timeout=60)
    epochs_before = len(job.progress().epoch_log)
    assert wait_until(lambda: len(job.progress().epoch_log) > epochs_before, timeout=120)
    assert job.progress().epoch_log[-1]["learning_rate"] == pytest.approx(rate, rel=1e-6)
    progress = stopped(job)
    assert progress.state == JobState.STOPPED and progress.result is not None
    saved = store.read_meta("steered").extra["events"]
    assert [(e["kind"], e["step"]) for e in saved] == [("learning_rate", first.step)]
    replay = store.load_replay("steered")
    assert [(e.kind, e.step) for e in replay.events] == [("learning_rate", first.step)]
    assert progress.phases.get("paused", 0) >= 2.0, "the pause is not counted as training time"


@pytest.mark.slow
def test_a_rate_changed_while_running_reaches_the_optimizer_before_the_next_batch(registry):
    job = registry.submit(LONG)
    assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
    asked_at = job.progress().steps
    job.set_learning_rate(0.02)
    assert wait_until(lambda: any(e.kind == "learning_rate" for e in job.progress().events), timeout=30)
    [event] = job.progress().events
    assert event.step >= asked_at and event.value == pytest.approx(0.02, rel=1e-6)
    assert job.progress().learning_rate == pytest.approx(0.02, rel=1e-6)
    assert wait_until(lambda: len(job.progress().epoch_log) * job.progress().batches_per_epoch > event.step,
                      timeout=120), "no epoch ended after the change"
    assert job.progress().epoch_log[-1]["learning_rate"] == pytest.approx(0.02, rel=1e-6)
    stopped(job)


@pytest.mark.slow
def test_bad_controls_get_plain_words_and_leave_the_run_unharmed(registry):
    job = registry.submit(LONG)
    queued = registry.submit(SHORT)
    with pytest.raises(ControlError, match="waiting in the queue"):
        queued.pause()
    queued.stop()
    assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
    with pytest.raises(ControlError, match="Pause the run first"):
        job.step()
    for bad in (0, -1, float("nan"), 1e9):
        with pytest.raises(ControlError, match="learning rate must be"):
            job.set_learning_rate(bad)
    with pytest.raises(ControlError, match="started without augmentation"):
        job.set_augment(True)
    assert job.control_state() == ControlState(), "nothing was changed"
    steps = job.progress().steps
    assert wait_until(lambda: job.progress().steps > steps + 3, timeout=60), "the run went on training"
    assert not job.progress().events
    progress = stopped(job)
    with pytest.raises(ControlError, match="has stopped: there is nothing to step"):
        job.step()
    with pytest.raises(ControlError, match="has stopped"):
        job.pause()
    assert progress.result is not None


@pytest.mark.slow
def test_a_one_cycle_run_keeps_its_schedule(store):
    job = JobRegistry(1, store, TrainingJob).submit(LONG.replace(schedule="one-cycle"))
    assert wait_until(lambda: job.progress().steps >= 1, timeout=120)
    with pytest.raises(ControlError, match="one-cycle schedule"):
        job.set_learning_rate(0.01)
    stopped(job)


@pytest.mark.slow
def test_an_untouched_paused_run_is_stopped_and_saved_at_the_pause_limit(registry, store, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_PAUSE_LIMIT", "2")
    job = registry.submit(LONG.replace(name="forgotten"))
    assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
    job.pause()
    assert wait_until(lambda: job.progress().paused, timeout=30)
    paused_at = time.monotonic()
    assert job.wait(timeout=120), "the paused run was never stopped"
    progress = job.progress()
    assert time.monotonic() - paused_at >= 1.5
    assert progress.state == JobState.STOPPED and progress.result is not None
    assert store.read_meta("forgotten").stopped_early is True
    assert progress.result.test_images == STOPPED_TEST_IMAGES, "tested on a sample, as a stopped run is"
    assert [e.kind for e in progress.events] == ["pause_limit"]


@pytest.mark.slow
def test_touching_a_paused_run_keeps_it_from_the_pause_limit(store, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_PAUSE_LIMIT", "3")
    job = JobRegistry(1, store, TrainingJob).submit(LONG)
    assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
    job.pause()
    for number in (1, 2, 3):
        time.sleep(1.5)
        job.step()                      # each Step is a touch
        next_report(job, number)
    assert not job.state.done and job.progress().paused
    stopped(job)


@pytest.mark.slow
def test_a_paused_worker_run_is_not_taken_for_a_stuck_one(store, monkeypatch):
    """A paused run sends no batches on purpose: held past the stall limit, it is not failed as stuck."""
    monkeypatch.setenv("DIGIT_STUDIO_STALL_LIMIT", "1")
    pool = WorkerPool(grace=20.0, cores=2)
    try:
        job = JobRegistry(1, store, pool, cores=2).submit(LONG)
        assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
        job.pause()
        assert wait_until(lambda: job.progress().paused, timeout=30), "the run never held"
        time.sleep(3.0)
        assert job.progress().state == JobState.RUNNING, job.progress().error
        job.resume()
        steps = job.progress().steps
        assert wait_until(lambda: job.progress().steps > steps + 3, timeout=60), "it did not go on after Resume"
        assert stopped(job).state == JobState.STOPPED
    finally:
        pool.close()


@pytest.mark.slow
def test_a_reused_worker_s_next_run_is_neither_paused_nor_on_the_last_run_s_rate(store):
    pool = WorkerPool(grace=20.0, cores=2)
    try:
        registry = JobRegistry(1, store, pool, cores=2)
        first = registry.submit(LONG)
        assert wait_until(lambda: first.progress().steps >= 3, timeout=120)
        first.pause()
        first.set_learning_rate(0.5)
        first.step()
        assert next_report(first, 1).learning_rate == pytest.approx(0.5)
        stopped(first)                      # stopped while paused, its rate changed
        assert wait_until(lambda: first.worker_pid in pool.idle_pids(), timeout=30)
        second = registry.submit(SHORT)
        assert second.wait(timeout=120)
        progress = second.progress()
        assert second.worker_pid == first.worker_pid, "the same warm worker trained it"
        assert progress.state == JobState.FINISHED and not progress.paused and not progress.events
        assert progress.last_step is None
        assert progress.epoch_log[-1]["learning_rate"] == pytest.approx(SHORT.learning_rate)
    finally:
        pool.close()


# --- augmentation switched mid-run ----------------------------------------------------------------------

def is_plain(batch: np.ndarray, x: np.ndarray) -> bool:
    """Every image of the batch is one of the training images as they are (not warped)."""
    rows = {image.tobytes() for image in x}
    return all(image.tobytes() in rows for image in np.asarray(batch))


@pytest.mark.slow
def test_a_switchable_pipeline_takes_the_switch_at_the_very_next_batch():
    from core.data import datasets
    from core.data.augment import augmented_dataset

    data = datasets.load("mnist")
    x, y = datasets.normalise(data.x_train[:640]), data.y_train[:640]
    switch = tf.Variable(True, trainable=False)
    batches = iter(augmented_dataset(x, y, 32, seed=1, switch=switch))
    seen = []
    for index in range(12):
        if index == 4:
            switch.assign(False)
        if index == 8:
            switch.assign(True)
        seen.append(is_plain(next(batches)[0], x))
    assert seen == [False] * 4 + [True] * 4 + [False] * 4


@pytest.mark.slow
def test_augmentation_switched_off_and_on_while_paused_and_recorded(store):
    job = JobRegistry(1, store, TrainingJob).submit(LONG.replace(augment=True, name="switched"))
    assert wait_until(lambda: job.progress().steps >= 3, timeout=120)
    job.pause()
    assert wait_until(lambda: job.progress().paused, timeout=30)
    job.step()
    assert next_report(job, 1).augmented
    job.set_augment(False)
    job.step()
    off = next_report(job, 2)
    assert not off.augmented
    [event] = job.progress().events
    assert (event.kind, event.value, event.text, event.step) == ("augment", 0.0, "augmentation off", off.step - 1)
    job.set_augment(True)
    job.resume()
    assert wait_until(lambda: len(job.progress().events) == 2, timeout=30)
    progress = stopped(job)
    assert [e["text"] for e in store.read_meta("switched").extra["events"]] == ["augmentation off", "augmentation on"]
    assert progress.result is not None


@pytest.mark.slow
def test_a_run_that_diverges_trains_to_its_end_and_its_figures_say_so(store):
    job = JobRegistry(1, store, TrainingJob).submit(
        TrainConfig.for_preset("linear", optimizer="sgd", learning_rate=10.0, epochs=2, limit=600, batch_size=32))
    assert job.wait(timeout=180)
    progress = job.progress()
    assert progress.state == JobState.FINISHED and progress.result is not None, progress.error
    from core.fit.layer_hints import hints

    last = [s for s in job.snapshots() if s.layers][-1]
    assert any(layer.broken for layer in last.layers) and "diverged" in hints(last.layers)[0]


# --- a kept (warm) model forgets a steered run ---------------------------------------------------------

class ScriptedControl:
    """A run's controls as a script: paused with `steps` Steps asked for from its first batch, a new `rate` and
    augmentation off if asked; resumed once the trainer has looked `hold_looks` times (every 20 ms while held)."""

    def __init__(self, steps: int = 2, rate: float | None = 0.5, augment_off: bool = True, hold_looks: int = 10):
        self.steps, self.rate, self.augment_off, self.hold_looks, self.looks = steps, rate, augment_off, hold_looks, 0

    def __call__(self) -> ControlState:
        self.looks += 1
        return ControlState(paused=self.looks < self.hold_looks, steps=self.steps, learning_rate=self.rate or 0.0,
                            rate_version=int(self.rate is not None), augment=False,
                            augment_version=int(self.augment_off))


@pytest.mark.slow
@pytest.mark.parametrize("first", ["steered", "finder"])
def test_a_kept_model_forgets_a_steered_run_and_trains_the_next_like_a_fresh_one(store, first):
    """As a warm worker does (keep_warm, core.fit.warm), in this process: run A is paused, stepped, set to a far
    higher rate and its augmentation switched off (or a learning-rate finder sweeps the rates), moving Adam's
    moments; run B on the same kept model starts at its own rate and ends with the weights B ends with on a
    freshly built model; an augmented run on it augments from its first Step. (B trains without augmentation:
    augmented runs are not bit-reproducible even on fresh models, their warps drawn in a parallel tf.data map.)"""
    from core.fit import warm
    from core.fit.lr_range import FinderConfig
    from core.fit.progress import ProgressRecorder
    from core.fit.training import train

    base = TrainConfig.for_preset("mlp-128-64", epochs=1, limit=600, batch_size=64, optimizer="adam",
                                  learning_rate=0.01, schedule="constant", seed=11)

    def run(config, control=None):
        recorder = ProgressRecorder(f"run-{config.seed}", config)
        result = train(config, recorder, lambda: False, store, keep_warm=True, control=control)
        return recorder.snapshot(), result

    def kept_models():
        return [model for model, _ in warm._kept.values()]

    warm.forget()
    try:
        if first == "steered":
            progress, _ = run(base.replace(seed=3, augment=True), ScriptedControl())
            assert [e.kind for e in progress.events] == ["learning_rate", "augment"], "A was steered"
            assert progress.last_step.learning_rate == pytest.approx(0.5) and not progress.last_step.augmented
        else:
            progress, _ = run(FinderConfig.sweeping(base.replace(seed=3), batches=10))
            assert progress.finder is not None, "the finder swept"
        [kept] = kept_models()
        assert float(kept.optimizer.learning_rate.numpy()) != pytest.approx(base.learning_rate), "A left its rate"

        progress, reused = run(base)
        assert kept_models() == [kept], "B trained on A's kept model"
        assert not progress.events and progress.last_step is None and not progress.paused
        assert progress.epoch_log[-1]["learning_rate"] == pytest.approx(base.learning_rate)

        progress, _ = run(base.replace(augment=True), ScriptedControl(steps=1, rate=None, augment_off=False))
        assert kept_models() == [kept], "the augmented run trained on the kept model too"
        assert progress.last_step.augmented, "it augments from the start, whatever A switched"
        assert progress.last_step.learning_rate == pytest.approx(base.learning_rate)

        warm.forget()
        _, fresh = run(base)
        assert kept_models() != [kept], "B again, on a freshly built model"
        for a, b in zip(store.load(reused.model_name).get_weights(), store.load(fresh.model_name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg="the kept model forgot run A")
    finally:
        warm.forget()

"""The trainer's side of taking the wheel (core.fit.control): a Keras callback that holds the run between two
batches while it is paused, trains one batch by hand for each Step, and applies a new learning rate or
augmentation setting before the next batch, recording each change as an event.

A Step trains one batch outside `fit`'s own order (Keras does not show a callback the batch it will train
next): the training samples in a seeded order, `batch_size` at a time, augmented if the run augments now.
It is one ordinary gradient step: the loss on the batch in training mode, its gradient (GradientTape), and
the run's own optimizer applying it, so with plain SGD every weight moves by exactly -lr * gradient.
"""
from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from core.fit.control import MAX_STEP_IMAGES, ControlState, LayerMove, StepReport
from core.fit.layer_stats import kernel_layers, weights_digest
from core.store.run_events import RunEvent, augment_text, rate_text
from core.store.snapshots import to_uint8

HOLD_POLL = 0.02   # seconds between looks at the controls while paused


def current_rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class StepBatches:
    """Batches for Steps: the training samples in a seeded random order, `batch_size` at a time."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int):
        self.x, self.y, self.batch_size = x, np.asarray(y), int(batch_size)
        self._rng = np.random.default_rng(seed + 104729)
        self._order, self._at = self._rng.permutation(len(self.y)), 0

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        if self._at >= len(self._order):
            self._order, self._at = self._rng.permutation(len(self.y)), 0
        picked = np.sort(self._order[self._at:self._at + self.batch_size])
        self._at += self.batch_size
        return np.asarray(self.x[picked], np.float32), self.y[picked].astype(np.int32)


def _loss_and_answers(model: keras.Model, x, y) -> tuple[float, np.ndarray]:
    predicted = model(x, training=False)
    loss = model.compute_loss(x=x, y=y, y_pred=predicted, training=False)
    return float(loss), np.asarray(predicted).argmax(axis=1)


def take_step(model: keras.Model, x: np.ndarray, y: np.ndarray, panel_answers: Callable[[], np.ndarray] | None = None,
              number: int = 1, step: int = 0, epoch: int = 0, augmented: bool = False) -> StepReport:
    """Train `model` on the batch (x, y) with one gradient step of its optimizer; what it did, as a StepReport.
    `panel_answers()` gives the panel's answers (before and after); `step` counts batches trained before."""
    started = time.perf_counter()
    layers = kernel_layers(model)
    kernels_before = [np.array(keras.ops.convert_to_numpy(layer.kernel)) for layer in layers]
    digest_before = weights_digest(model)
    panel_before = panel_answers() if panel_answers else np.zeros(0, np.int64)
    loss_before, answers_before = _loss_and_answers(model, x, y)
    rate = current_rate(model)
    weights = model.trainable_weights
    with tf.GradientTape() as tape:
        predicted = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=predicted, training=True)
        scaled = model.optimizer.scale_loss(loss)
    gradients = tape.gradient(scaled, weights)
    model.optimizer.apply_gradients(zip(gradients, weights))
    by_variable = {id(w): g for w, g in zip(weights, gradients)}
    loss_after, answers_after = _loss_and_answers(model, x, y)
    panel_after = panel_answers() if panel_answers else np.zeros(0, np.int64)
    moves = []
    for layer, before in zip(layers, kernels_before):
        after = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
        gradient = by_variable.get(id(layer.kernel))
        size = float(np.linalg.norm(before))
        moved = float(np.linalg.norm(after - before))
        moves.append(LayerMove(layer.name, float(np.linalg.norm(gradient)) if gradient is not None else float("nan"),
                               moved, moved / size if size > 0 else float("nan")))
    changed = tuple((int(i), int(panel_before[i]), int(panel_after[i]))
                    for i in np.flatnonzero(panel_before != panel_after))
    k = min(MAX_STEP_IMAGES, len(y))
    return StepReport(number=number, step=step + 1, epoch=epoch, batch_size=len(y), images=to_uint8(x[:k]),
                      labels=np.asarray(y[:k], np.int64), predicted_before=answers_before[:k].astype(np.int64),
                      predicted_after=answers_after[:k].astype(np.int64), loss_before=loss_before,
                      loss_after=loss_after, learning_rate=rate, augmented=augmented, layers=tuple(moves),
                      changed=changed, digest_before=digest_before, digest_after=weights_digest(model),
                      seconds=time.perf_counter() - started)


class SteeringCallback(keras.callbacks.Callback):
    """Follows the run's controls at the start of training and after every batch (`control()` -> ControlState).

    `watcher` is the run's SnapshotCallback (its step count and batch timing, the panel, a snapshot after each
    Step); `batches` a StepBatches; `augment_flag` the tf.Variable a switchable augmented pipeline reads
    (core.data.augment), None when the run's data cannot switch; `augmenter` what augments a Step's batch.
    Put it last among the callbacks: the progress callback has counted the batch it holds after.
    """

    def __init__(self, control: Callable[[], ControlState], stop_requested: Callable[[], bool], recorder,
                 watcher, batches: StepBatches, augment_flag=None, augmenter=None, rate_settable: bool = True):
        super().__init__()
        self.control, self.stop_requested, self.recorder, self.watcher = control, stop_requested, recorder, watcher
        self.batches, self.augment_flag, self.augmenter, self.rate_settable = batches, augment_flag, augmenter, rate_settable
        self.steps_done = 0
        self.held_seconds = 0.0             # time spent holding (Steps included): not training time
        self._rate_seen = self._augment_seen = 0

    def on_train_begin(self, logs=None):
        self._follow()

    def on_train_batch_end(self, batch, logs=None):
        self._follow()

    # --- the work ------------------------------------------------------------------------------------

    def _follow(self) -> None:
        state = self.control()
        self._apply_changes(state)
        if not state.paused:
            self.steps_done = state.steps   # Steps are only taken while paused
        elif not self.stop_requested():
            self._hold()

    def _hold(self) -> None:
        started = time.perf_counter()
        self.recorder.hold_changed(True, weights_digest(self.model))
        try:
            while True:
                if self.stop_requested():
                    self.model.stop_training = True
                    return
                state = self.control()
                self._apply_changes(state)
                if state.steps > self.steps_done:
                    self._step()
                    self.steps_done += 1
                    continue
                if not state.paused:
                    return
                time.sleep(HOLD_POLL)
        finally:
            self.recorder.hold_changed(False)
            held = time.perf_counter() - started
            self.held_seconds += held
            self.watcher.skip(held)

    def _augmenting(self) -> bool:
        return bool(self.augment_flag is not None and bool(self.augment_flag.numpy()))

    def _step(self) -> None:
        x, y = self.batches.next()
        augmented = self._augmenting()
        if augmented and self.augmenter is not None:
            x = np.asarray(self.augmenter(tf.constant(x)))
        report = take_step(self.model, x, y, self.watcher.panel_answers, number=self.steps_done + 1,
                           step=self.watcher.step, epoch=self.watcher.epoch, augmented=augmented)
        self.watcher.stepped()            # the panel after the step first, so its report finds it there
        self.recorder.stepped(report)

    def _where(self) -> tuple[int, float]:
        """(batches trained, position on the curves' epoch axis) now."""
        per_epoch = max(1, self.params.get("steps") or 1) if self.params else 1
        return self.watcher.step, self.watcher.epoch + self.watcher.batch / per_epoch

    def _apply_changes(self, state: ControlState) -> None:
        if state.rate_version != self._rate_seen:
            self._rate_seen = state.rate_version
            if self.rate_settable and state.learning_rate > 0:
                old = current_rate(self.model)
                self.model.optimizer.learning_rate = state.learning_rate
                new = current_rate(self.model)
                step, x = self._where()
                self.recorder.event_recorded(RunEvent("learning_rate", step, x, new, rate_text(old, new)))
        if state.augment_version != self._augment_seen:
            self._augment_seen = state.augment_version
            if self.augment_flag is not None and bool(state.augment) != self._augmenting():
                self.augment_flag.assign(bool(state.augment))
                step, x = self._where()
                self.recorder.event_recorded(RunEvent("augment", step, x, float(bool(state.augment)),
                                                      augment_text(bool(state.augment))))


def steering_callback(plan, config, control, stop_requested, recorder, watcher) -> SteeringCallback:
    """The steering callback for a planned run: Steps drawn from its training arrays with its seed, a learning
    rate that can change only with a constant schedule."""
    x, y = plan.train_data
    augmenter = None
    if getattr(plan, "augment_flag", None) is not None:
        from core.data.augment import augmenter as make_augmenter

        augmenter = make_augmenter(config.seed + 1)
    return SteeringCallback(control, stop_requested, recorder, watcher, StepBatches(x, y, config.batch_size, config.seed),
                            augment_flag=getattr(plan, "augment_flag", None), augmenter=augmenter,
                            rate_settable=config.schedule == "constant")

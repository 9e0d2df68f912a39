"""The Keras side of a run: the progress callback, fit, and evaluate-and-save; TrainingJob runs it in a thread."""
from __future__ import annotations

import threading
import time
import traceback

import keras

from core import datasets, models
from core.config import TrainConfig
from core.evaluation import evaluate
from core.jobs import JobRegistry, JobResult, JobState, Progress, ProgressRecorder, StopRequested
from core.recipe import plan_fit, standard_callbacks
from core.store import ModelMeta, ModelStore, TestMetrics


class ProgressCallback(keras.callbacks.Callback):
    """Hands Keras' per-batch and per-epoch figures to a ProgressRecorder; ends training when asked to stop."""

    def __init__(self, recorder: ProgressRecorder, stop_requested):
        super().__init__()
        self.recorder = recorder
        self.stop_requested = stop_requested

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_requested():
            self.model.stop_training = True  # Keras checks this right after this call
        logs = logs or {}
        self.recorder.batch_ended(batch, float(logs.get("loss", "nan")), float(logs.get("accuracy", "nan")))

    def on_epoch_begin(self, epoch, logs=None):
        self.recorder.epoch_began(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.recorder.epoch_ended(epoch, {k: float(v) for k, v in (logs or {}).items()}, current_lr(self.model))

    def on_train_end(self, logs=None):
        self.recorder.fit_ended()


def current_lr(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def evaluate_and_save(model, config: TrainConfig, history: list[dict[str, float]], train_seconds: float,
                      stopped_early: bool, store: ModelStore) -> JobResult:
    """Test a trained model on its dataset's test set and save it with its metadata under a free name."""
    x_test, y_test = datasets.load(config.dataset).test_arrays()
    result = evaluate(model, x_test, y_test)
    summary = result.summary()
    meta = ModelMeta(
        arch=config.arch, dataset=config.dataset, config=config.to_dict(), history=tuple(history),
        test_metrics=TestMetrics(summary["accuracy"], summary["loss"], tuple(summary["precision"]),
                                 tuple(summary["recall"]), tuple(map(tuple, summary["confusion"]))),
        parameters=model.count_params(), created=time.strftime("%Y-%m-%d %H:%M:%S"), created_unix=time.time(),
        train_seconds=round(train_seconds, 2), stopped_early=stopped_early)
    base = config.name or f"{config.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    name = store.save(base, model, meta, new=config.name is None)
    return JobResult(name, result.accuracy, result.loss, result.confusion.tolist(), train_seconds, len(history))


def train(config: TrainConfig, recorder: ProgressRecorder, stop_requested, store: ModelStore) -> JobResult | None:
    """Fit, test and save; None when stopped before the first batch (nothing learned, nothing saved)."""
    plan = plan_fit(config)
    if stop_requested():
        return None
    recorder.planned(plan.batches_per_epoch, plan.train_samples)
    callbacks = [ProgressCallback(recorder, stop_requested), *standard_callbacks(config, plan.has_validation)]
    started = time.perf_counter()
    plan.model.fit(callbacks=callbacks, **plan.fit_args)
    history = recorder.history()
    if not history and recorder.snapshot().steps == 0:
        return None
    return evaluate_and_save(models.for_inference(plan.model, plan.preset.logits), config, history,
                             time.perf_counter() - started, stop_requested(), store)


class TrainingJob:
    """One training run in a background thread. Created by a JobRegistry, which decides when it may start."""

    def __init__(self, job_id: str, config: TrainConfig, store: ModelStore, registry: JobRegistry):
        self.id = job_id
        self.config = config
        self.store = store
        self.created = time.time()
        self._registry = registry
        self._stop = threading.Event()
        self._done = threading.Event()  # waited on instead of join(): a Ctrl-C inside join() can spoil it
        self.recorder = ProgressRecorder(job_id, config)
        self._thread = threading.Thread(target=self._run, name=f"train-{job_id}", daemon=True)

    @property
    def state(self) -> JobState:
        return self.recorder.state

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to end after the current batch; what it learned so far is kept and saved."""
        self._stop.set()
        self.recorder.request_stop()
        self._registry.notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done (for scripts and tests); True if it is."""
        self._done.wait(timeout)
        return self.state.done

    def progress(self) -> Progress:
        return self.recorder.snapshot(self._registry.queue_position(self.id))

    def _run(self) -> None:
        try:
            self._registry.wait_for_slot(self.id, self._stop.is_set)
        except StopRequested:
            self.recorder.finished(None, stopped=True)
            self._done.set()
            return
        try:
            self.recorder.started(stopping=self._stop.is_set())
            result = None if self._stop.is_set() else train(self.config, self.recorder, self._stop.is_set, self.store)
            self.recorder.finished(result, stopped=self._stop.is_set())
        except Exception as exc:  # a failed run reports why; the app keeps going
            self.recorder.failed(f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            self._registry.release(self.id)
            self._done.set()

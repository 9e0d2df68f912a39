"""TrainingJob: `fit` in a background thread, live progress any reader can poll, stop within one batch."""
from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum

import keras

from core import data, models
from core.config import TrainConfig
from core.evaluation import evaluate
from core.recipe import plan_fit, standard_callbacks
from core.store import ModelStore

MAX_BATCH_POINTS = 400  # per-batch curve is thinned to at most this many points


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (JobState.STOPPED, JobState.FINISHED, JobState.FAILED)


@dataclass(frozen=True)
class JobResult:
    """What a finished (or stopped) run produced."""

    model_name: str
    test_accuracy: float
    test_loss: float
    confusion: list[list[int]]
    train_seconds: float
    epochs_run: int


@dataclass(frozen=True)
class Progress:
    """A consistent snapshot of a job, cheap to take while training runs."""

    job_id: str
    state: JobState
    config: TrainConfig
    epoch: int                      # epochs completed
    epochs: int
    batch: int                      # batches completed in the current epoch
    batches_per_epoch: int
    steps: int                      # batches trained in all, across epochs
    batch_curve: list[tuple[float, float, float]]   # (fractional epoch, loss, accuracy), thinned
    epoch_log: list[dict[str, float]]               # one dict per completed epoch
    learning_rate: float | None
    elapsed: float
    samples_per_second: float | None
    eta: float | None
    queue_position: int | None
    error: str | None
    result: JobResult | None

    @property
    def fraction_done(self) -> float:
        total = self.epochs * max(self.batches_per_epoch, 1)
        return min(1.0, (self.epoch * self.batches_per_epoch + self.batch) / total) if total else 0.0


class StopRequested(Exception):
    """Raised inside the worker when a queued job is stopped before it starts."""


class _ProgressCallback(keras.callbacks.Callback):
    """Feeds the job's live figures; never blocks training for long (a lock around list appends).

    Keras reports the running mean over the samples since the epoch began; each curve point is
    instead the mean over the samples since the previous point, so the curve does not jump at
    epoch boundaries (nor at a short last batch).
    """

    def __init__(self, job: "TrainingJob", samples_per_epoch: int):
        super().__init__()
        self.job = job
        self.samples_per_epoch = samples_per_epoch
        self.stride = 1
        self.window_start = (0, 0.0, 0.0)  # (samples, loss sum, accuracy sum) at the previous point

    def _window_mean(self, batch: int, logs) -> tuple[float, float]:
        done = min((batch + 1) * self.job.config.batch_size, self.samples_per_epoch)
        loss_sum, acc_sum = done * float(logs.get("loss", "nan")), done * float(logs.get("accuracy", "nan"))
        start, start_loss, start_acc = self.window_start
        self.window_start = (done, loss_sum, acc_sum)
        return (loss_sum - start_loss) / (done - start), (acc_sum - start_acc) / (done - start)

    def on_train_batch_end(self, batch, logs=None):
        job = self.job
        if job._stop.is_set():
            self.model.stop_training = True  # Keras checks this right after this call
        with job._lock:
            job._batch = batch + 1
            job._batches_seen += 1
            if job._batches_seen == 1:
                job._first_batch_at = time.perf_counter()
            if logs and (batch + 1) % self.stride == 0:
                loss, accuracy = self._window_mean(batch, logs)
                job._batch_curve.append((job._epoch + (batch + 1) / max(job._batches_per_epoch, 1), loss, accuracy))
                if len(job._batch_curve) >= MAX_BATCH_POINTS:
                    del job._batch_curve[::2]
                    self.stride *= 2

    def on_epoch_begin(self, epoch, logs=None):
        self.window_start = (0, 0.0, 0.0)
        with self.job._lock:
            self.job._epoch, self.job._batch = epoch, 0

    def on_epoch_end(self, epoch, logs=None):
        job = self.job
        entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                 "learning_rate": _current_lr(self.model), "elapsed": time.perf_counter() - job._started}
        with job._lock:
            job._epoch, job._batch = epoch + 1, 0
            job._epoch_log.append(entry)


def _current_lr(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class TrainingJob:
    """One training run. Created by a JobRegistry, which decides when it may start."""

    def __init__(self, job_id: str, config: TrainConfig, store: ModelStore, registry: "JobRegistry"):
        self.id = job_id
        self.config = config
        self.store = store
        self._registry = registry
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._state = JobState.QUEUED
        self._error: str | None = None
        self._result: JobResult | None = None
        self._epoch = self._batch = self._batches_seen = 0
        self._batches_per_epoch = 0
        self._batch_curve: list[tuple[float, float, float]] = []
        self._epoch_log: list[dict[str, float]] = []
        self._started = self._ended = self._first_batch_at = 0.0
        self.created = time.time()
        self._thread = threading.Thread(target=self._run, name=f"train-{job_id}", daemon=True)

    # --- public -----------------------------------------------------------------
    @property
    def state(self) -> JobState:
        return self._state

    def stop(self) -> None:
        """Ask the run to end after the current batch; what it learned so far is kept and saved."""
        self._stop.set()
        with self._lock:
            if self._state == JobState.RUNNING:
                self._state = JobState.STOPPING
        self._registry._wake()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is done (for scripts and tests); True if it is."""
        self._thread.join(timeout)
        return self._state.done

    def progress(self) -> Progress:
        with self._lock:
            running = self._state in (JobState.RUNNING, JobState.STOPPING)
            end = time.perf_counter() if running else self._ended
            elapsed = max(0.0, end - self._started) if self._started else 0.0
            total = self.config.epochs * self._batches_per_epoch
            # speed from the first batch on: data preparation and tracing are not training speed
            since_first = end - self._first_batch_at if self._first_batch_at else 0.0
            rate = (self._batches_seen - 1) / since_first if since_first > 0 and self._batches_seen > 1 else None
            eta = (total - self._batches_seen) / rate if rate and running else None
            return Progress(
                self.id, self._state, self.config, self._epoch, self.config.epochs, self._batch,
                self._batches_per_epoch, self._batches_seen, list(self._batch_curve), list(self._epoch_log),
                self._epoch_log[-1]["learning_rate"] if self._epoch_log else None, elapsed,
                rate * self.config.batch_size if rate else None, eta,
                self._registry.queue_position(self), self._error, self._result)

    # --- worker -----------------------------------------------------------------
    def _set_state(self, state: JobState) -> None:
        with self._lock:
            self._state = state

    def _run(self) -> None:
        try:
            self._registry._acquire(self)
        except StopRequested:
            self._set_state(JobState.STOPPED)
            return
        try:
            with self._lock:
                self._started = time.perf_counter()
                self._state = JobState.STOPPING if self._stop.is_set() else JobState.RUNNING
            self._result = None if self._stop.is_set() else self._train()
            self._set_state(JobState.STOPPED if self._stop.is_set() else JobState.FINISHED)
        except Exception as exc:  # a failed run reports why; the app keeps going
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
                self._state = JobState.FAILED
            traceback.print_exc()
        finally:
            with self._lock:
                self._ended = time.perf_counter()
            self._registry._release(self)

    def _train(self) -> JobResult | None:
        """Fit, test and save; None when stopped before the first batch (nothing learned, nothing saved)."""
        plan = plan_fit(self.config)
        if self._stop.is_set():
            return None
        with self._lock:
            self._batches_per_epoch = plan.batches_per_epoch
        callbacks = [_ProgressCallback(self, plan.train_samples), *standard_callbacks(self.config, plan.has_validation)]
        plan.model.fit(callbacks=callbacks, **plan.fit_args)
        train_seconds = time.perf_counter() - self._started
        return self._evaluate_and_save(models.for_inference(plan.model, plan.preset.logits), train_seconds)

    def _evaluate_and_save(self, model, train_seconds: float) -> JobResult:
        x_test, y_test = data.mnist_test(data.load_mnist())
        result = evaluate(model, x_test, y_test)
        name = self.store.unique_name(self.config.name or f"{self.config.arch}-{time.strftime('%Y%m%d-%H%M%S')}")
        meta = {
            "arch": self.config.arch, "config": self.config.to_dict(), "history": self._epoch_log,
            "test_metrics": result.summary(), "parameters": model.count_params(),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"), "created_unix": time.time(),
            "train_seconds": round(train_seconds, 2), "stopped_early": self._stop.is_set(),
        }
        self.store.save(name, model, meta)
        return JobResult(name, result.accuracy, result.loss, result.confusion.tolist(), train_seconds, self._epoch)


class JobRegistry:
    """All jobs of this process, findable by id; at most `max_running` train at once, the rest wait in order."""

    def __init__(self, max_running: int = 1, store: ModelStore | None = None):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self.store = store
        self._jobs: dict[str, TrainingJob] = {}
        self._waiting: list[TrainingJob] = []
        self._running: set[str] = set()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)

    def submit(self, config: TrainConfig, store: ModelStore | None = None) -> TrainingJob:
        """Queue a run; it starts as soon as a slot is free."""
        with self._cond:
            job_id = f"job-{next(self._ids)}-{int(time.time() * 1000) % 100000:05d}"
            job = TrainingJob(job_id, config, store or self.store or ModelStore(), self)
            self._jobs[job_id] = job
            self._waiting.append(job)
        job._thread.start()
        return job

    def get(self, job_id: str) -> TrainingJob | None:
        with self._cond:
            return self._jobs.get(job_id)

    def jobs(self) -> list[TrainingJob]:
        with self._cond:
            return list(self._jobs.values())

    def active(self) -> list[TrainingJob]:
        """Jobs queued or training, oldest first."""
        return [j for j in self.jobs() if not j.state.done]

    def queue_position(self, job: TrainingJob) -> int | None:
        """1 for the next job to start, None when not waiting."""
        with self._cond:
            return self._waiting.index(job) + 1 if job in self._waiting else None

    def _acquire(self, job: TrainingJob) -> None:
        with self._cond:
            while not (self._waiting[0] is job and len(self._running) < self.max_running):
                if job._stop.is_set():
                    self._waiting.remove(job)
                    self._cond.notify_all()
                    raise StopRequested
                self._cond.wait()
            self._waiting.pop(0)
            self._running.add(job.id)
            self._cond.notify_all()

    def _release(self, job: TrainingJob) -> None:
        with self._cond:
            self._running.discard(job.id)
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


_registry: JobRegistry | None = None
_registry_lock = threading.Lock()


def default_registry() -> JobRegistry:
    """The process-wide registry (so a reloaded page finds its job); $DIGIT_STUDIO_MAX_JOBS sets the limit."""
    global _registry
    import os

    with _registry_lock:
        if _registry is None:
            _registry = JobRegistry(max_running=int(os.environ.get("DIGIT_STUDIO_MAX_JOBS", "1")))
        return _registry

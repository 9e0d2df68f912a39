"""Training jobs as plain data: states, progress snapshots, results, the progress recorder, the queue.

TensorFlow-free and picklable: whatever trains a run (a thread today, a worker process or a
Ray task tomorrow) feeds a ProgressRecorder with plain numbers, and pages read Progress.
The queue is fair between owners (the visitors who started the runs): the next run to start is
the oldest of the owner who was served least recently, and an owner may have at most
`max_per_owner` runs queued or training.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

from core.config import TrainConfig
from core.snapshots import MAX_LIVE, ProbeBox, Replay, thin

if TYPE_CHECKING:
    from core.snapshots import Panel, Snapshot
    from core.store import ModelStore

MAX_BATCH_POINTS = 400  # the per-batch curve is thinned to at most this many points


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
    """What a finished (or stopped) run produced; a fine-tune (core.finetune) also its figures before and
    after fit: {"drawings_accuracy" (on the held-out drawings, when it used them), "test_accuracy"}."""

    model_name: str
    test_accuracy: float
    test_loss: float
    confusion: list[list[int]]
    train_seconds: float
    epochs_run: int
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    held_out: int = 0                   # the drawings held out of training, the before/after drawings figures
    base: str | None = None             # the stored model it started from


@dataclass(frozen=True, kw_only=True)
class Progress:
    """A consistent snapshot of a job, cheap to take while training runs."""

    job_id: str
    state: JobState
    config: TrainConfig
    epoch: int = 0                   # epochs completed
    batch: int = 0                   # batches completed in the current epoch
    batches_per_epoch: int = 0
    steps: int = 0                   # batches trained in all, across epochs
    batch_curve: list[tuple[float, float, float]] = field(default_factory=list)  # (epoch, loss, accuracy)
    epoch_log: list[dict[str, float]] = field(default_factory=list)              # one dict per completed epoch
    learning_rate: float | None = None
    elapsed: float = 0.0
    samples_per_second: float | None = None
    eta: float | None = None
    queue_position: int | None = None
    error: str | None = None
    result: JobResult | None = None
    panel: "Panel | None" = None               # the test images this run is watched on (core.snapshots)
    snapshot: "Snapshot | None" = None         # the latest snapshot of them
    snapshot_count: int = 0                    # snapshots taken so far (job.snapshots(since=k) gives them)
    confusion_snapshot: "Snapshot | None" = None  # the latest one with a per-epoch confusion matrix

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def fraction_done(self) -> float:
        total = self.epochs * max(self.batches_per_epoch, 1)
        return min(1.0, (self.epoch * self.batches_per_epoch + self.batch) / total) if total else 0.0


class StopRequested(Exception):
    """Raised when a queued job is stopped before it starts."""


class QueueLimitError(RuntimeError):
    """An owner already has as many runs queued or training as the registry allows; the message says so."""


class ProgressRecorder:
    """Every live figure of one run, behind its own lock; the trainer writes plain numbers, readers take snapshots.

    Keras reports the running mean over the samples since the epoch began; each curve point is
    instead the mean over the samples since the previous point, so the curve does not jump at
    epoch boundaries (nor at a short last batch).
    """

    def __init__(self, job_id: str, config: TrainConfig):
        self.job_id, self.config = job_id, config
        self._lock = threading.Lock()
        self._state = JobState.QUEUED
        self._error: str | None = None
        self._result: JobResult | None = None
        self._epoch = self._batch = self._steps = self._batches_per_epoch = self._samples_per_epoch = 0
        self._curve: list[tuple[float, float, float]] = []
        self._epoch_log: list[dict[str, float]] = []
        self._stride = 1
        self._window = (0, 0.0, 0.0)  # (samples, loss sum, accuracy sum) at the previous curve point
        self._started = self._ended = self._first_batch_at = 0.0
        self._panel: "Panel | None" = None
        self._snapshots: list["Snapshot"] = []  # thinned beyond MAX_LIVE, epoch ends kept
        self._snapshot_count = 0
        self._confusion_snapshot: "Snapshot | None" = None

    @property
    def state(self) -> JobState:
        return self._state

    def set_state(self, state: JobState) -> None:
        with self._lock:
            self._state = state

    def request_stop(self) -> None:
        with self._lock:
            if self._state == JobState.RUNNING:
                self._state = JobState.STOPPING

    def started(self, stopping: bool = False) -> None:
        with self._lock:
            self._started = time.perf_counter()
            self._state = JobState.STOPPING if stopping else JobState.RUNNING

    def planned(self, batches_per_epoch: int, samples_per_epoch: int) -> None:
        with self._lock:
            self._batches_per_epoch, self._samples_per_epoch = batches_per_epoch, samples_per_epoch

    def epoch_began(self, epoch: int) -> None:
        with self._lock:
            self._epoch, self._batch, self._window = epoch, 0, (0, 0.0, 0.0)

    def batch_ended(self, batch: int, loss: float, accuracy: float) -> None:
        """Batch `batch` (0-based in its epoch) ended; loss and accuracy are Keras' running epoch means."""
        with self._lock:
            self._batch = batch + 1
            self._steps += 1
            if self._steps == 1:
                self._first_batch_at = time.perf_counter()
            if (batch + 1) % self._stride:
                return
            done = min((batch + 1) * self.config.batch_size, self._samples_per_epoch or (batch + 1))
            start, start_loss, start_acc = self._window
            loss_sum, acc_sum = done * loss, done * accuracy
            self._window = (done, loss_sum, acc_sum)
            if done <= start:
                return
            x = self._epoch + (batch + 1) / max(self._batches_per_epoch, 1)
            self._curve.append((x, (loss_sum - start_loss) / (done - start), (acc_sum - start_acc) / (done - start)))
            if len(self._curve) >= MAX_BATCH_POINTS:
                del self._curve[::2]
                self._stride *= 2

    def epoch_ended(self, epoch: int, logs: dict[str, float], learning_rate: float) -> None:
        entry = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}, "learning_rate": float(learning_rate),
                 "elapsed": time.perf_counter() - self._started}
        with self._lock:
            self._epoch, self._batch = epoch + 1, 0
            self._epoch_log.append(entry)

    def history(self) -> list[dict[str, float]]:
        with self._lock:
            return list(self._epoch_log)

    def fit_ended(self) -> None:
        """fit returned; testing and saving follow (a worker's recorder tells its server, which times Stop)."""

    def panel_chosen(self, panel: "Panel") -> None:
        """The run's watched test images (core.snapshots.Panel), chosen once before training."""
        with self._lock:
            self._panel = panel

    def snapshot_taken(self, snapshot: "Snapshot") -> None:
        """What the network said about the panel at one moment (core.snapshots.Snapshot)."""
        with self._lock:
            self._snapshots.append(snapshot)
            self._snapshot_count += 1
            if snapshot.confusion is not None:
                self._confusion_snapshot = snapshot
            if len(self._snapshots) > MAX_LIVE:
                self._snapshots = thin(self._snapshots, MAX_LIVE // 2)

    def snapshots(self, since: int = 0) -> list["Snapshot"]:
        """The kept snapshots numbered `since` or later (numbers are Snapshot.seq; a long run keeps a thinned set)."""
        with self._lock:
            if since <= 0:
                return list(self._snapshots)
            return [s for s in self._snapshots if s.seq >= since]

    def replay(self) -> Replay | None:
        """The run's panel and snapshots, to save with its model; None if it took none."""
        with self._lock:
            if self._panel is None or not self._snapshots:
                return None
            return Replay(self._panel, tuple(self._snapshots), self._batches_per_epoch)

    def finished(self, result: JobResult | None, stopped: bool, note: str | None = None) -> None:
        """The run ended; `note` (shown as the error) says why a stopped run saved nothing, if it was ended by force."""
        with self._lock:
            self._result, self._error = result, note
            self._state = JobState.STOPPED if stopped else JobState.FINISHED
            self._ended = time.perf_counter()

    def failed(self, error: str) -> None:
        with self._lock:
            self._error, self._state = error, JobState.FAILED
            self._ended = time.perf_counter()

    def snapshot(self, queue_position: int | None = None) -> Progress:
        with self._lock:
            running = self._state in (JobState.RUNNING, JobState.STOPPING)
            end = time.perf_counter() if running else self._ended
            elapsed = max(0.0, end - self._started) if self._started else 0.0
            total = self.config.epochs * self._batches_per_epoch
            # speed from the first batch on: data preparation and tracing are not training speed
            since_first = end - self._first_batch_at if self._first_batch_at else 0.0
            rate = (self._steps - 1) / since_first if since_first > 0 and self._steps > 1 else None
            return Progress(
                job_id=self.job_id, state=self._state, config=self.config, epoch=self._epoch, batch=self._batch,
                batches_per_epoch=self._batches_per_epoch, steps=self._steps, batch_curve=list(self._curve),
                epoch_log=list(self._epoch_log),
                learning_rate=self._epoch_log[-1]["learning_rate"] if self._epoch_log else None,
                elapsed=elapsed, samples_per_second=rate * self.config.batch_size if rate else None,
                eta=(total - self._steps) / rate if rate and running else None,
                queue_position=queue_position, error=self._error, result=self._result, panel=self._panel,
                snapshot=self._snapshots[-1] if self._snapshots else None, snapshot_count=self._snapshot_count,
                confusion_snapshot=self._confusion_snapshot)


class QueuedJob:
    """One run as the registry sees it: waits for a slot in its own thread, then `_execute()` trains it.

    Subclasses say where the training happens (a thread here, a worker process, a Ray task);
    this class owns the slot, Stop, waiting and progress, so every kind behaves the same.
    """

    def __init__(self, job_id: str, config: TrainConfig, store: "ModelStore", registry: "JobRegistry"):
        self.id = job_id
        self.config = config
        self.store = store
        self.created = time.time()
        self.recorder = ProgressRecorder(job_id, config)
        self._registry = registry
        self._stop = threading.Event()
        self._done = threading.Event()  # waited on instead of join(): a Ctrl-C inside join() can spoil it
        self._probe = ProbeBox()        # the user's drawing, predicted with every snapshot
        self._thread = threading.Thread(target=self._run, name=f"train-{job_id}", daemon=True)

    @property
    def state(self) -> JobState:
        return self.recorder.state

    @property
    def owner(self) -> str | None:
        """Who started the run (a visitor's name), None when nobody said."""
        return self._registry.owner(self.id)

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

    def snapshots(self, since: int = 0) -> list:
        """The run's snapshots numbered `since` or later (Snapshot.seq), for replay; Progress has the latest."""
        return self.recorder.snapshots(since)

    def set_probe(self, image28) -> int:
        """Hand the run a drawing (28x28, float in [0, 1]; None clears it): its next snapshots predict it too.
        Returns the drawing's version (Snapshot.probe_version says which drawing an answer is for)."""
        self._probe.set(image28)
        version, image = self._probe.get()
        self._probe_changed(version, image)
        return version

    def probe(self) -> tuple[int, Any]:
        """(version, image) of the drawing last handed over; (0, None) if none."""
        return self._probe.get()

    def _probe_changed(self, version: int, image) -> None:
        """Hook: pass a new drawing on to where the run trains (the thread reads the box itself)."""

    def _execute(self) -> None:
        """Train the run and end with recorder.finished(...) or recorder.failed(...)."""
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self._registry.wait_for_slot(self.id, self._stop.is_set)
        except StopRequested:
            self.recorder.finished(None, stopped=True)
            self._done.set()
            return
        try:
            self.recorder.started(stopping=self._stop.is_set())
            if self._stop.is_set():
                self.recorder.finished(None, stopped=True)
            else:
                self._execute()
                self._sign_model()
        except Exception as exc:  # a failed run reports why; the app and other runs keep going
            traceback.print_exc()
            self.recorder.failed(f"{type(exc).__name__}: {exc}")
        finally:
            if not self.recorder.state.done:
                self.recorder.failed("the run ended without a result")
            self._registry.release(self.id)
            self._done.set()

    def _sign_model(self) -> None:
        """Write the owner into the saved model's metadata, where the run's trainer did not (a worker, Ray)."""
        result, owner = self.recorder.snapshot().result, self.owner
        if result is None or owner is None:
            return
        try:
            self.store.set_author(result.model_name, owner)
        except Exception:  # the model is saved and usable; only its author is missing
            traceback.print_exc()


class JobRegistry:
    """All jobs of this process, findable by id; at most `max_running` train at once, the rest wait.

    A job is anything with `id`, `state`, `stop()`, `wait()`, `progress()` and `start()`;
    `job_factory(job_id, config, store, registry)` makes one (the thread-based TrainingJob by default).
    Each run may have an owner (a visitor's name; None = nobody said, all such runs count as one owner).
    Waiting runs start in a fair order (`queue()`): the owner served least recently goes next, with
    their oldest run, so one visitor's many runs alternate with everyone else's. With `max_per_owner`,
    `submit` refuses a named owner's run beyond that many queued or training (QueueLimitError).
    """

    def __init__(self, max_running: int = 1, store: "ModelStore | None" = None,
                 job_factory: Callable[..., Any] | None = None, max_per_owner: int | None = None):
        if not isinstance(max_running, int) or max_running < 1:
            raise ValueError("max_running must be a whole number, at least 1")
        if max_per_owner is not None and (not isinstance(max_per_owner, int) or max_per_owner < 1):
            raise ValueError("max_per_owner must be a whole number, at least 1, or None")
        self.max_running = max_running
        self.max_per_owner = max_per_owner
        self.store = store
        self._job_factory = job_factory
        self._jobs: dict[str, Any] = {}
        self._owners: dict[str, str | None] = {}
        self._waiting: list[str] = []              # in the order submitted; queue() gives the fair order
        self._running: set[str] = set()
        self._served: dict[str | None, int] = {}   # owner -> when their latest run started (a counter)
        self._starts = itertools.count(1)
        self._cond = threading.Condition()
        self._ids = itertools.count(1)

    def submit(self, config: TrainConfig, store: "ModelStore | None" = None, owner: str | None = None):
        """Queue a run for `owner`; it starts when a slot is free and its turn comes (QueueLimitError if
        the owner already has `max_per_owner` runs queued or training)."""
        from core.store import ModelStore

        if owner is not None and not isinstance(owner, str):
            raise TypeError(f"owner must be a name or None (got {type(owner).__name__})")
        factory = self._job_factory
        if factory is None:
            from core.training import TrainingJob as factory
        with self._cond:
            if owner is not None and self.max_per_owner is not None:
                mine = [i for i, o in self._owners.items() if o == owner and not self._jobs[i].state.done]
                if len(mine) >= self.max_per_owner:
                    raise QueueLimitError(
                        f"{owner} already has {len(mine)} run{'s' if len(mine) != 1 else ''} queued or training "
                        f"(at most {self.max_per_owner} each, so that everyone gets a turn). "
                        "Wait for one to finish, or stop one.")
            job_id = f"job-{next(self._ids)}-{int(time.time() * 1000) % 100000:05d}"
            self._owners[job_id] = owner
            job = factory(job_id, config, store or self.store or ModelStore(), self)
            self._jobs[job_id] = job
            self._waiting.append(job_id)
        job.start()
        return job

    def get(self, job_id: Any):
        with self._cond:
            return self._jobs.get(job_id) if isinstance(job_id, str) else None

    def owner(self, job_id: str) -> str | None:
        """Who started `job_id` (None when nobody said, or the job is unknown)."""
        with self._cond:
            return self._owners.get(job_id)

    def jobs(self) -> list:
        with self._cond:
            return list(self._jobs.values())

    def active(self) -> list:
        """Jobs queued or training, oldest first."""
        return [j for j in self.jobs() if not j.state.done]

    def _fair_order(self) -> list[str]:
        """The waiting ids in the order they will start if nothing else arrives (call with the lock held).

        Round-robin by owner: the owner whose latest run started longest ago (or never) goes next,
        ties to the owner whose oldest waiting run came first; each owner's runs keep their own order."""
        per_owner: dict[str | None, list[str]] = {}
        for job_id in self._waiting:
            per_owner.setdefault(self._owners.get(job_id), []).append(job_id)
        served = {owner: self._served.get(owner, 0) for owner in per_owner}
        arrival = {job_id: i for i, job_id in enumerate(self._waiting)}
        order, turn = [], max(self._served.values(), default=0)
        while per_owner:
            owner = min(per_owner, key=lambda o: (served[o], arrival[per_owner[o][0]]))
            order.append(per_owner[owner].pop(0))
            if not per_owner[owner]:
                del per_owner[owner]
            turn += 1
            served[owner] = turn
        return order

    def queue(self) -> list[str]:
        """Ids of the jobs waiting for a slot, next to start first."""
        with self._cond:
            return self._fair_order()

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when not waiting."""
        with self._cond:
            if job_id not in self._waiting:
                return None
            return self._fair_order().index(job_id) + 1

    def wait_for_slot(self, job_id: str, stop_requested: Callable[[], bool]) -> None:
        """Block until `job_id`'s turn has come and a slot is free; StopRequested if it is stopped meanwhile."""
        with self._cond:
            while not (len(self._running) < self.max_running and self._fair_order()[0] == job_id):
                if stop_requested():
                    self._waiting.remove(job_id)
                    self._cond.notify_all()
                    raise StopRequested
                self._cond.wait()
            self._waiting.remove(job_id)
            self._running.add(job_id)
            self._served[self._owners.get(job_id)] = next(self._starts)
            self._cond.notify_all()

    def release(self, job_id: str) -> None:
        """A job's slot is free again."""
        with self._cond:
            self._running.discard(job_id)
            self._cond.notify_all()

    def notify(self) -> None:
        """Wake the waiting jobs (one of them may have been asked to stop)."""
        with self._cond:
            self._cond.notify_all()


_registry: JobRegistry | None = None
_registry_lock = threading.Lock()


def default_max_jobs() -> int:
    """Half the cores, at least 1: a run uses about two cores well (TensorFlow's own threads)."""
    return max(1, (os.cpu_count() or 2) // 2)


def max_jobs_from_env() -> int:
    """$DIGIT_STUDIO_MAX_JOBS, default half the cores; a bad value falls back to the default rather than stopping the app."""
    try:
        return max(1, int(os.environ.get("DIGIT_STUDIO_MAX_JOBS", default_max_jobs())))
    except ValueError:
        return default_max_jobs()


DEFAULT_MAX_PER_VISITOR = 2


def max_per_visitor_from_env() -> int:
    """$DIGIT_STUDIO_MAX_RUNS_PER_VISITOR: runs one named visitor may have queued or training (default 2)."""
    try:
        return max(1, int(os.environ.get("DIGIT_STUDIO_MAX_RUNS_PER_VISITOR", DEFAULT_MAX_PER_VISITOR)))
    except ValueError:
        return DEFAULT_MAX_PER_VISITOR


def default_registry() -> JobRegistry:
    """The process-wide registry (so a reloaded page finds its job); runs train where $DIGIT_STUDIO_EXECUTOR
    says: in a worker process by default (a warm spare started now), a thread, or a Ray cluster."""
    global _registry
    with _registry_lock:
        if _registry is None:
            from core.executors import app_job_factory

            _registry = JobRegistry(max_running=max_jobs_from_env(), job_factory=app_job_factory(),
                                    max_per_owner=max_per_visitor_from_env())
        return _registry

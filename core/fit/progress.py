"""A run's progress as plain data: its state, the recorder that training feeds, the snapshot pages read.

TensorFlow-free and picklable: whatever trains a run (a thread, a worker process or a Ray task)
feeds a ProgressRecorder with plain numbers, and pages read Progress. The queue is core.runs.queue.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from core.fit.config import TrainConfig
from core.store.snapshots import MAX_LIVE, Replay, thin

if TYPE_CHECKING:
    from core.fit.control import StepReport
    from core.fit.lr_range import FinderResult
    from core.store.run_events import RunEvent
    from core.store.snapshots import Panel, Snapshot

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
    """What a finished (or stopped) run produced; a fine-tune (core.fit.finetune) also its figures before and
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
    test_images: int | None = None      # how many test images the figures are on (a stopped run: a sample)

    def sampled_from(self, test_size: int) -> bool:
        """Tested on a sample of the `test_size` test images, not all of them (a stopped run, to end quickly)."""
        return self.test_images is not None and self.test_images < test_size


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
    panel: "Panel | None" = None               # the test images this run is watched on (core.store.snapshots)
    snapshot: "Snapshot | None" = None         # the latest snapshot of them
    snapshot_count: int = 0                    # snapshots taken so far (job.snapshots(since=k) gives them)
    confusion_snapshot: "Snapshot | None" = None  # the latest one with a per-epoch confusion matrix
    phases: dict[str, float] = field(default_factory=dict)  # seconds per part of the run (PhaseClock)
    paused: bool = False                       # holding between two batches (core.fit.steering)
    held_digest: str | None = None             # digest of every weight when the hold began
    paused_seconds: float = 0.0                # time spent paused, left out of the speed
    events: list["RunEvent"] = field(default_factory=list)   # changes while it trained (core.store.run_events)
    last_step: "StepReport | None" = None      # what the latest Step did (core.fit.control)
    finder: "FinderResult | None" = None       # a learning-rate finder's curve (core.fit.lr_range)

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def fraction_done(self) -> float:
        total = self.epochs * max(self.batches_per_epoch, 1)
        return min(1.0, (self.epoch * self.batches_per_epoch + self.batch) / total) if total else 0.0


# A stopped run is tested on this many test images (a seeded sample, core.fit.training), not all of them: Stop
# should be quick, and testing cnn-best on all 10,000 took 25 s on a busy 2-core machine.
STOPPED_TEST_IMAGES = 1000
# why a run stopped twice saved nothing (Progress.error of a STOPPED run without a result)
STOPPED_AT_ONCE = "Stop was pressed again, so the run ended at once, without testing or saving: nothing was saved."


class PhaseClock:
    """Times the parts of a run into `recorder.phase_took`: `with clock("data"): ...`. Where a run's time
    goes (the short-run breakdown of `make bench`); a clock without a recorder only runs the block."""

    def __init__(self, recorder: "ProgressRecorder | None" = None):
        self.recorder = recorder

    @contextmanager
    def __call__(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.recorder is not None:
                self.recorder.phase_took(name, time.perf_counter() - started)


class StopRequested(Exception):
    """Raised when a queued job is stopped before it starts."""


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
        self._phases: dict[str, float] = {}
        self._paused, self._held_digest, self._paused_since, self._paused_seconds = False, None, 0.0, 0.0
        self._events: list["RunEvent"] = []
        self._last_step: "StepReport | None" = None
        self._finder: "FinderResult | None" = None
        self._rate: float | None = None     # the optimizer's rate as last reported (a change, an epoch's end)

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
            self._rate = float(learning_rate)

    # --- taking the wheel (core.fit.steering) ----------------------------------------------------------

    def hold_changed(self, paused: bool, digest: str | None = None) -> None:
        """The run began holding between two batches (with a digest of its weights then), or went on."""
        with self._lock:
            now = time.perf_counter()
            if paused and not self._paused:
                self._paused_since = now
            elif not paused and self._paused:
                self._paused_seconds += now - self._paused_since
            self._paused, self._held_digest = paused, (digest if paused else None)

    def event_recorded(self, event: "RunEvent") -> None:
        """A change took effect (a new learning rate, augmentation switched) or the server acted on the run."""
        with self._lock:
            self._events.append(event)
            if event.kind == "learning_rate":
                self._rate = event.value

    def stepped(self, report: "StepReport") -> None:
        """One Step trained one batch while paused: counted as a batch, its loss a point of the curve."""
        with self._lock:
            self._steps += 1
            self._last_step = report
            self._rate = report.learning_rate
            x = self._epoch + self._batch / max(self._batches_per_epoch, 1)
            if self._curve and x <= self._curve[-1][0]:
                x = self._curve[-1][0] + 1e-6
            accuracy = float((report.predicted_before == report.labels).mean()) if len(report.labels) else float("nan")
            self._curve.append((x, report.loss_before, accuracy))

    def lr_found(self, result: "FinderResult") -> None:
        """A learning-rate finder's run ended with this curve and suggestion."""
        with self._lock:
            self._finder = result

    def events(self) -> list["RunEvent"]:
        with self._lock:
            return list(self._events)

    def history(self) -> list[dict[str, float]]:
        with self._lock:
            return list(self._epoch_log)

    def phase_took(self, name: str, seconds: float) -> None:
        """A part of the run (queue, worker, data, build, tracing, epochs, ...) took `seconds` (added up)."""
        with self._lock:
            self._phases[name] = self._phases.get(name, 0.0) + max(0.0, float(seconds))

    def fit_ended(self) -> None:
        """fit returned; testing and saving follow (a worker's recorder tells its server, which times Stop)."""

    def panel_chosen(self, panel: "Panel") -> None:
        """The run's watched test images (core.store.snapshots.Panel), chosen once before training."""
        with self._lock:
            self._panel = panel

    def snapshot_taken(self, snapshot: "Snapshot") -> None:
        """What the network said about the panel at one moment (core.store.snapshots.Snapshot)."""
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
            return Replay(self._panel, tuple(self._snapshots), self._batches_per_epoch, tuple(self._events))

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
            # speed from the first batch on: data preparation and tracing are not training speed, nor a pause
            paused = self._paused_seconds + (end - self._paused_since if self._paused and running else 0.0)
            since_first = end - self._first_batch_at - paused if self._first_batch_at else 0.0
            rate = (self._steps - 1) / since_first if since_first > 0 and self._steps > 1 else None
            return Progress(
                job_id=self.job_id, state=self._state, config=self.config, epoch=self._epoch, batch=self._batch,
                batches_per_epoch=self._batches_per_epoch, steps=self._steps, batch_curve=list(self._curve),
                epoch_log=list(self._epoch_log),
                learning_rate=self._rate,
                elapsed=elapsed, samples_per_second=rate * self.config.batch_size if rate else None,
                eta=(total - self._steps) / rate if rate and running else None,
                queue_position=queue_position, error=self._error, result=self._result, panel=self._panel,
                snapshot=self._snapshots[-1] if self._snapshots else None, snapshot_count=self._snapshot_count,
                confusion_snapshot=self._confusion_snapshot, phases=dict(self._phases),
                paused=self._paused and running, held_digest=self._held_digest, paused_seconds=paused,
                events=list(self._events), last_step=self._last_step, finder=self._finder)

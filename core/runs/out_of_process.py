"""The shared base of runs trained outside this process (a worker process, a Ray task).

OutOfProcessJob holds the registry slot, Stop with a grace time, and applies the worker's events (plain
tuples) to the job's own ProgressRecorder, so pages read the same Progress whatever trains the run.
`run_in_worker` is the other side: it trains with a ForwardingRecorder that sends each event on.
TensorFlow-free on the server's side: only the worker's call to run_in_worker imports it.
"""
from __future__ import annotations

import os
import signal
import time
import traceback
from typing import Callable

from core.fit.config import TrainConfig
from core.fit.progress import STOPPED_AT_ONCE, JobResult, ProgressRecorder
from core.runs.queue import JobRegistry, QueuedJob

GRACE_ENV = "DIGIT_STUDIO_STOP_GRACE"
DEFAULT_GRACE = 30.0
STALL_ENV = "DIGIT_STUDIO_STALL_LIMIT"
DEFAULT_STALL_LIMIT = 180.0
# what a worker's recorder forwards; the server replays each on the job's own recorder
RECORDER_EVENTS = ("planned", "epoch_began", "batch_ended", "epoch_ended", "fit_ended", "panel_chosen",
                   "snapshot_taken", "phase_took", "hold_changed", "event_recorded", "stepped", "lr_found")


def stop_grace_from_env() -> float:
    """Seconds a worker gets to end after Stop ($DIGIT_STUDIO_STOP_GRACE, default 30) before it is ended."""
    try:
        return max(0.0, float(os.environ.get(GRACE_ENV, DEFAULT_GRACE)))
    except ValueError:
        return DEFAULT_GRACE


def stall_limit_from_env() -> float:
    """Seconds a training run may send nothing before its worker counts as stuck ($DIGIT_STUDIO_STALL_LIMIT,
    default 180; a bad value: the default). TensorFlow has been seen to hang for good, now and then, where
    Keras drops an epoch's data iterator (every thread waiting, never a batch again): the run should fail
    with a reason rather than look alive forever."""
    try:
        value = float(os.environ.get(STALL_ENV, DEFAULT_STALL_LIMIT))
    except ValueError:
        return DEFAULT_STALL_LIMIT
    return value if value > 0 and value == value else DEFAULT_STALL_LIMIT


class ForwardingRecorder(ProgressRecorder):
    """A worker's recorder: keeps its own figures (train() reads its history) and sends each event on."""

    def __init__(self, job_id: str, config: TrainConfig, send: Callable[[tuple], None]):
        super().__init__(job_id, config)
        self._send = send

    def planned(self, batches_per_epoch: int, samples_per_epoch: int) -> None:
        super().planned(batches_per_epoch, samples_per_epoch)
        self._send(("planned", batches_per_epoch, samples_per_epoch))

    def epoch_began(self, epoch: int) -> None:
        super().epoch_began(epoch)
        self._send(("epoch_began", epoch))

    def batch_ended(self, batch: int, loss: float, accuracy: float) -> None:
        super().batch_ended(batch, loss, accuracy)
        self._send(("batch_ended", batch, loss, accuracy))

    def epoch_ended(self, epoch: int, logs: dict[str, float], learning_rate: float) -> None:
        super().epoch_ended(epoch, logs, learning_rate)
        self._send(("epoch_ended", epoch, dict(logs), float(learning_rate)))

    def fit_ended(self) -> None:
        super().fit_ended()
        self._send(("fit_ended",))

    def phase_took(self, name: str, seconds: float) -> None:
        super().phase_took(name, seconds)
        self._send(("phase_took", name, float(seconds)))

    def panel_chosen(self, panel) -> None:
        super().panel_chosen(panel)
        self._send(("panel_chosen", panel))

    def snapshot_taken(self, snapshot) -> None:
        super().snapshot_taken(snapshot)
        self._send(("snapshot_taken", snapshot))

    def hold_changed(self, paused: bool, digest: str | None = None) -> None:
        super().hold_changed(paused, digest)
        self._send(("hold_changed", paused, digest))

    def event_recorded(self, event) -> None:
        super().event_recorded(event)
        self._send(("event_recorded", event))

    def stepped(self, report) -> None:
        super().stepped(report)
        self._send(("stepped", report))

    def lr_found(self, result) -> None:
        super().lr_found(result)
        self._send(("lr_found", result))


def run_in_worker(job_id: str, config: TrainConfig, send: Callable[[tuple], None], stop_requested, store,
                  probe=None, drawings=None, keep_warm: bool = False, control=None) -> None:
    """The worker's side of a run: train with a forwarding recorder, then send ("done", result, stopped)
    or ("failed", message). `probe()` reads the user's drawing, `drawings` are the kept drawings where the
    worker cannot open their database (see train); `keep_warm` for a worker that trains run after run
    (core.fit.warm); `control()` reads what the server asks of the run (core.fit.control: Pause, Step,
    a new learning rate). Imports TensorFlow, so only workers call it."""
    recorder = ForwardingRecorder(job_id, config, send)
    recorder.started()
    try:
        from core.fit.training import train

        result = None if stop_requested() else train(config, recorder, stop_requested, store, probe=probe,
                                                     drawings=drawings, keep_warm=keep_warm, control=control)
        send(("done", result, bool(stop_requested())))
    except Exception as exc:  # the run fails with the reason; the traceback goes to the worker's log
        traceback.print_exc()
        send(("failed", f"{type(exc).__name__}: {exc}"))


def describe_exit(exitcode: int | None) -> str:
    """Why a worker process ended, in words: 'killed by signal 9 (SIGKILL: ...)', 'exit status 1'."""
    if exitcode is None:
        return "its exit status is unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = {"SIGKILL": "; the system may have run out of memory", "SIGSEGV": "; a crash in native code",
                "SIGABRT": "; a crash in native code", "SIGBUS": "; a crash in native code"}.get(name, "")
        return f"killed by signal {-exitcode}, {name}{hint}"
    return f"exit status {exitcode}"


class OutOfProcessJob(QueuedJob):
    """A run trained outside this process. Subclasses implement `_execute()`, which drives the worker,
    feeds its events to `_apply` and ends with exactly one of `_end_*`; QueuedJob owns the slot and Stop,
    this class the grace time after Stop."""

    def __init__(self, job_id: str, config: TrainConfig, store, registry: JobRegistry, grace: float | None = None):
        super().__init__(job_id, config, store, registry)
        self.worker_pid: int | None = None  # the pid training this run, once known
        self.grace = stop_grace_from_env() if grace is None else grace
        self._stop_clock: float | None = None  # grace runs from Stop, and again from the end of fit
        self._stopped_twice = False            # Stop pressed again: the worker is ended at once
        self._fit_over = False                 # the worker said fit ended: it is testing and saving
        self._outcome: tuple | None = None
        self._seen_batch = False
        self.stall_limit = stall_limit_from_env()
        self._heard = time.monotonic()         # when the worker last sent anything
        self._held = False                     # paused: no batches on purpose

    def stop(self) -> None:
        """Ask the run to end after the current batch (what it learned is kept); ended by force after `grace`.
        Called again (a second Stop, a second Ctrl-C), it ends the worker at once (see stop_again)."""
        if self._stop.is_set():
            self.stop_again()
        else:
            self._stop_clock = time.monotonic()
        super().stop()

    def stop_again(self) -> None:
        """Stop pressed again: the run is overdue now, so whatever drives the worker ends it (_end_forced)."""
        self._stopped_twice = True

    def _execute(self) -> None:
        raise NotImplementedError

    def _apply(self, event: tuple) -> None:
        """One event from the worker: a recorder call, its pid, or its final word."""
        name, args = event[0], event[1:]
        self._heard = time.monotonic()
        if name == "hold_changed":
            self._held = bool(args[0])
        if name in RECORDER_EVENTS:
            getattr(self.recorder, name)(*args)
            if name == "fit_ended":
                self._fit_over = True
                if self._stop_clock is not None:
                    self._stop_clock = time.monotonic()  # testing and saving get their own grace time
            elif name == "batch_ended" and not self._seen_batch:
                self._seen_batch = True
                self._first_batch()
        elif name == "started":
            self.worker_pid = args[0]
        elif name in ("done", "failed"):
            self._outcome = event

    def _first_batch(self) -> None:
        """Hook: the run is past its start-up."""

    def _overdue(self) -> bool:
        """Stop was pressed twice, or asked for more than `grace` seconds ago (or since fit ended), and the
        worker is still at it."""
        if self._stopped_twice:
            return True
        return self._stop_clock is not None and time.monotonic() - self._stop_clock > self.grace

    def _stalled(self) -> bool:
        """Training, past its first batch and not paused or stopping, has sent nothing for `stall_limit` s."""
        return (self._seen_batch and not self._fit_over and not self._held and self._stop_clock is None
                and time.monotonic() - self._heard > self.stall_limit)

    def _end_stalled(self) -> None:
        self.recorder.failed(
            f"Training stopped responding: its worker sent nothing for {self.stall_limit:g} s "
            f"(in epoch {self.recorder.snapshot().epoch + 1}), so it was ended and nothing was saved. "
            "This is a rare hang inside TensorFlow, not your settings: start the run again.")

    def _end_forced(self) -> None:
        self.recorder.finished(None, stopped=True, note=self._forced_note())

    def _forced_note(self) -> str:
        """Why the run ended with nothing to show: Stop pressed twice, or the grace time ran out."""
        if self._stopped_twice and self._fit_over and self._saves_in_worker():
            return ("Stop was pressed again while the run was testing and saving, so its worker was ended at once: "
                    "it may have saved the model just before (Models lists every saved model).")
        if self._stopped_twice:
            return STOPPED_AT_ONCE
        return f"The run did not stop within {self.grace:g} s of Stop, so its worker was ended; nothing was saved."

    def _saves_in_worker(self) -> bool:
        """The worker writes the model to the store itself (a worker process), rather than sending it back."""
        return True

    def _end_with_outcome(self, lost: str) -> None:
        """The worker's final word if it sent one, else FAILED with `lost` (why it is gone)."""
        if self._outcome and self._outcome[0] == "done":
            result: JobResult | None = self._outcome[1]
            self.recorder.finished(result, stopped=self._outcome[2])
        elif self._outcome:
            self.recorder.failed(self._outcome[1])
        else:
            self.recorder.failed(lost)

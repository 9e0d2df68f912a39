"""A sweep running: it asks its search for runs, hands them to the app's JobRegistry a few at a time, reads
each run's epochs from job.progress(), stops the runs the pruner gives up on (job.stop()), and keeps the
record (core.sweeps.records) and each model's metadata up to date.

Fair to the room: the sweep never puts all its runs in the queue. It keeps at most `parallel` runs queued or
training (default: as many as train at once, and no more than its visitor's cap), so the registry's
round-robin between visitors puts anyone else's run before the sweep's next one, and a sweep counts
against its visitor's cap as the runs it has in the queue at that moment, never as all its runs.
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any

from core.fit.config import ConfigError
from core.fit.progress import JobState
from core.runs.queue import QueueLimitError
from core.sweeps.records import RunRecord, SweepBook, SweepRecord
from core.sweeps.search import Search, Trial
from core.sweeps.space import SweepSpec

POLL_SECONDS = 0.05     # reading a run's progress is a lock and a copy; a late look lets a pruned run train on


@dataclass
class _InFlight:
    trial: Trial
    record: RunRecord
    job: Any
    epochs_seen: int = 0
    prune_note: str | None = None
    values: list[float] = field(default_factory=list)


def default_parallel(registry, owner: str | None) -> int:
    """As many runs as the registry trains at once, within the owner's cap (runs without a name have none)."""
    slots = getattr(registry, "max_running", 1)
    cap = getattr(registry, "max_per_owner", None) if owner is not None else None
    slots = slots if isinstance(slots, int) and slots > 0 else 1
    return max(1, min(slots, cap) if isinstance(cap, int) and cap > 0 else slots)


class Sweep:
    """One sweep: `start()` runs it in its own thread; `snapshot()` is its record as it stands; `stop()` ends it
    (runs training stop after their current batch and are kept); `wait()` blocks until it is done."""

    def __init__(self, spec: SweepSpec, registry, store, book: SweepBook, owner: str | None = None,
                 parallel: int | None = None, poll: float = POLL_SECONDS):
        self.spec, self.registry, self.store, self.book, self.owner = spec, registry, store, book, owner
        self.parallel = parallel or default_parallel(registry, owner)
        self.poll = poll
        self.search = Search(spec)
        self.id = book.create(spec, owner)
        self.created = time.time()
        self._runs: list[RunRecord] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._state, self._note = "running", None
        self._thread = threading.Thread(target=self._run, name=f"sweep-{self.id}", daemon=True)

    # --- what callers use ----------------------------------------------------------------------------------------

    def start(self) -> "Sweep":
        self._thread.start()
        return self

    def stop(self) -> None:
        """No more runs; those queued or training stop after their current batch (what they learned is kept)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._done.wait(timeout)
        return self._done.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def jobs(self) -> list:
        """The registry jobs of this sweep's runs so far."""
        with self._lock:
            ids = [r.job_id for r in self._runs if r.job_id]
        return [job for job in (self.registry.get(i) for i in ids) if job is not None]

    def snapshot(self) -> SweepRecord:
        with self._lock:
            return SweepRecord(self.id, self.created, self.owner, self.spec, self._state, self._note,
                               [replace(r, history=list(r.history)) for r in self._runs])

    # --- the loop ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        flying: list[_InFlight] = []
        pending: Trial | None = None
        try:
            while True:
                if self._stop.is_set():
                    for f in flying:
                        f.job.stop()
                else:
                    pending = self._submit_more(flying, pending)
                for f in list(flying):
                    if self._follow(f):
                        flying.remove(f)
                if not flying and (self._stop.is_set() or (pending is None and self.search.remaining == 0)):
                    break
                time.sleep(self.poll)
            self._end("stopped" if self._stop.is_set() else "finished")
        except Exception as exc:  # a broken sweep says why; its runs so far are kept
            traceback.print_exc()
            for f in flying:
                f.job.stop()
            self._end("failed", f"{type(exc).__name__}: {exc}")

    def _submit_more(self, flying: list[_InFlight], pending: Trial | None) -> Trial | None:
        """Fill the sweep's places in the queue; a trial the visitor's cap refused waits for the next turn."""
        while len(flying) < self.parallel:
            trial = pending or self.search.ask()
            pending = None
            if trial is None:
                return None
            record = self._record_for(trial)
            try:
                config = self.spec.config(trial.params, name=self.store.unique_name(f"sweep{self.id}-{trial.number:02d}"))
            except ConfigError as exc:
                self.search.failed(trial)
                record.state, record.note = "failed", " ".join(exc.problems)
                self._save(record)
                continue
            try:
                job = self.registry.submit(config, self.store, owner=self.owner)
            except QueueLimitError:
                return trial                     # the visitor has other runs queued: try again next turn
            record.state, record.job_id = "queued", job.id
            self._save(record)
            flying.append(_InFlight(trial, record, job))
        return pending

    def _record_for(self, trial: Trial) -> RunRecord:
        with self._lock:
            for record in self._runs:
                if record.number == trial.number:
                    return record
            record = RunRecord(trial.number, dict(trial.params))
            self._runs.append(record)
        return record

    def _follow(self, f: _InFlight) -> bool:
        """Read one run's new epochs, prune it if the pruner says so; True once it is done and recorded."""
        progress = f.job.progress()
        record = f.record
        if progress.state in (JobState.RUNNING, JobState.STOPPING) and record.state == "queued":
            record.state = "training"
            self._save(record)
        for entry in progress.epoch_log[f.epochs_seen:]:
            f.epochs_seen += 1
            value = entry.get("val_accuracy")
            if value is None or f.prune_note is not None:
                continue
            f.values.append(value)
            epoch = int(entry.get("epoch", f.epochs_seen))
            if self.search.report(f.trial, epoch, value) and epoch < progress.epochs and not progress.state.done:
                f.prune_note = self.search.prune_reason(f.trial, epoch, value, progress.epochs)
                f.job.stop()
        with self._lock:
            record.history = list(progress.epoch_log)
        if not progress.state.done:
            return False
        self._finish(f, progress)
        return True

    def _finish(self, f: _InFlight, progress) -> None:
        record, result = f.record, progress.result
        last = progress.epoch_log[-1] if progress.epoch_log else {}
        record.val_accuracy = last.get("val_accuracy")
        record.epochs_run = len(progress.epoch_log)
        if result is not None:
            record.model, record.test_accuracy, record.seconds = result.model_name, result.test_accuracy, result.train_seconds
        if f.prune_note is not None and progress.state == JobState.STOPPED:
            record.state, record.note = "pruned", f.prune_note
            self.search.pruned(f.trial)
        elif f.prune_note is not None and progress.state == JobState.FINISHED:
            record.state = "finished"
            record.note = f"{f.prune_note} It had finished before it could be stopped."
            self.search.finished(f.trial, record.val_accuracy)
        elif progress.state == JobState.FAILED:
            record.state, record.note = "failed", progress.error
            self.search.failed(f.trial)
        elif progress.state == JobState.STOPPED:
            record.state, record.note = "stopped", progress.error or "Stopped before the end."
            self.search.failed(f.trial)
        else:
            record.state = "finished"
            self.search.finished(f.trial, record.val_accuracy)
        self._save(record)
        if record.model:
            self._mark_model(record)

    def _mark_model(self, record: RunRecord) -> None:
        """The model keeps its sweep: id, search, the values tried, its own, pruned or not (and why)."""
        mark = {"id": self.id, "search": self.spec.search, "run": record.number,
                "values": {a.name: list(a.values) for a in self.spec.axes},
                "params": {k: list(v) if isinstance(v, tuple) else v for k, v in record.params.items()},
                "pruned": record.state == "pruned", "pruned_reason": record.note if record.state == "pruned" else None}
        try:
            self.store.annotate(record.model, "sweep", mark)
        except Exception as exc:  # the model is saved and usable; only its sweep mark is missing
            print(f"sweep {self.id}: could not mark {record.model} with its sweep ({exc})", file=sys.stderr)

    def _save(self, record: RunRecord) -> None:
        with self._lock:
            copy = replace(record, history=list(record.history))
        self.book.save_run(self.id, copy)

    def _end(self, state: str, note: str | None = None) -> None:
        with self._lock:
            self._state, self._note = state, note
        try:
            self.book.set_state(self.id, state, note)
        finally:
            self._done.set()

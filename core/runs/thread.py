"""The `thread` executor: a run trained in a thread of this process (the command line's default)."""
from __future__ import annotations

import threading

from core.fit.progress import STOPPED_AT_ONCE
from core.fit.training import train
from core.runs.queue import QueuedJob


class TrainingJob(QueuedJob):
    """One training run in a thread of this process (the command line's default; `thread` executor)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop_now = threading.Event()  # Stop pressed again: end without testing or saving

    def stop(self) -> None:
        """Once: end after the current batch, test on a sample and save. Again: end after the current batch (or
        test batch) without testing or saving; a thread cannot be ended sooner."""
        if self._stop.is_set():
            self._stop_now.set()
        super().stop()

    def _execute(self) -> None:
        result = train(self.config, self.recorder, self._stop.is_set, self.store, probe=self._probe.get,
                       author=self.owner, stop_now=self._stop_now.is_set,
                       control=self.control_box.get)
        at_once = result is None and self._stop_now.is_set()
        self.recorder.finished(result, stopped=self._stop.is_set(), note=STOPPED_AT_ONCE if at_once else None)

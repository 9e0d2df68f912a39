"""The `thread` executor: a run trained in a thread of this process (the command line's default)."""
from __future__ import annotations

from core.fit.training import train
from core.runs.queue import QueuedJob


class TrainingJob(QueuedJob):
    """One training run in a thread of this process (the command line's default; `thread` executor)."""

    def _execute(self) -> None:
        result = train(self.config, self.recorder, self._stop.is_set, self.store, probe=self._probe.get,
                       author=self.owner, control=self.control_box.get)
        self.recorder.finished(result, stopped=self._stop.is_set())

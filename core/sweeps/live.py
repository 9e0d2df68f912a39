"""The sweeps running in this process, findable by id (a reloaded tab finds its sweep again), one per visitor.

`start_sweep` checks the sweep (SweepError, nothing queued) and the visitor's turn, records it and starts it.
Finished sweeps are read back from the record (core.sweeps.records) when this process no longer holds them.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from core.sweeps.records import SweepBook, SweepRecord
from core.sweeps.runner import Sweep
from core.sweeps.space import SweepSpec
from core.sweeps.values import SweepError

if TYPE_CHECKING:
    from core.workshop.lessons import LessonStep


class SweepRegistry:
    """Every sweep this process started; a named visitor may have one running at a time."""

    def __init__(self, book: SweepBook | None = None):
        self.book = book or SweepBook()
        self._sweeps: dict[int, Sweep] = {}
        self._lock = threading.Lock()

    def start(self, spec: SweepSpec, registry, store, owner: str | None = None, step: "LessonStep | None" = None,
              parallel: int | None = None, poll: float | None = None) -> Sweep:
        """Check, record and start a sweep; SweepError (nothing queued) when it cannot run."""
        spec.check(step)
        with self._lock:
            if owner is not None:
                mine = [s for s in self._sweeps.values() if s.owner == owner and not s.done]
                if mine:
                    raise SweepError([f"{owner} already has sweep {mine[0].id} running: wait for it to end, "
                                      "or stop it."])
            extra = {} if poll is None else {"poll": poll}
            sweep = Sweep(spec, registry, store, self.book, owner=owner, parallel=parallel, **extra)
            self._sweeps[sweep.id] = sweep
        return sweep.start()

    def get(self, sweep_id: int) -> Sweep | None:
        with self._lock:
            return self._sweeps.get(sweep_id)

    def active(self) -> list[Sweep]:
        with self._lock:
            return [s for s in self._sweeps.values() if not s.done]

    def record(self, sweep_id: int) -> SweepRecord | None:
        """The sweep as it stands: live while this process runs it, else as kept."""
        sweep = self.get(sweep_id)
        return sweep.snapshot() if sweep is not None else self.book.get(sweep_id)


_default: SweepRegistry | None = None
_default_lock = threading.Lock()


def default_sweeps() -> SweepRegistry:
    """The process-wide sweeps (the pages'), kept in the default sweeps file."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SweepRegistry()
        return _default

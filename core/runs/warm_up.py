"""A spare worker, while it waits, warms the kinds of run a room is about to start.

A worker's first run of a kind pays about a second its later runs do not (benchmarks section 14: tracing
Keras' training, test and snapshot functions, the first build of the architecture): that second is what the
first visitors of a class wait on. The pool remembers the kinds of its latest runs (a presenter's demo run of
a lesson step, say); each spare it starts trains two batches of each, into a throwaway store, as soon as it
is ready, and keeps the compiled model warm (core.fit.warm). A real run resets that model to its own fresh
weights, so it trains exactly as on a cold worker (tests/test_worker_reuse.py). A run handed to the worker
meanwhile ends the warm-up at its next batch and is trained at once; newer kinds to warm (the run a Train page
shows, WorkerPool.expect) end it too, and the kinds it left are warmed after them (core.runs.workers).
"""
from __future__ import annotations

import json
import tempfile
import time
from collections import OrderedDict
from typing import Callable

from core.fit.config import TrainConfig
from core.runs.sizing import SHORT_RUN_WORK, run_work

WARM_BATCHES = 2  # traces the training step, the snapshots' passes, the validation and the test
REMEMBERED = 2    # kinds of run the pool keeps to warm
# What a new spare warms while no kind of run is known yet (a fresh server): the smallest network. Its first run
# of any kind then skips TensorFlow's and Keras' own first-time costs, about 0.3 s of mlp-128-64's first 1.4 s.
FIRST_WARM_UP = TrainConfig.for_preset("linear", epochs=1, limit=1000, name="warm-up")


def kind_of(config) -> str | None:
    """What a warm-up must share with a run to warm it: everything but its name and seed. None for what a warm-up
    would cost more than it saves: a fine-tune (from a stored model or on the drawings), a run with stroke-drawn
    copies (drawing them takes minutes before the first batch), a long run (it trains on every core, not in a
    room's short-run slots), and what is not a training run (a learning-rate finder)."""
    if not isinstance(config, TrainConfig) or config.start_from is not None or config.drawings_weight \
            or config.stroke_copies or run_work(config) > SHORT_RUN_WORK:
        return None
    values = config.to_dict()
    for personal in ("name", "seed"):
        values.pop(personal, None)
    return json.dumps(values, sort_keys=True, default=str)


class RecentKinds:
    """The kinds of the latest runs, newest last, at most REMEMBERED."""

    def __init__(self):
        self._kinds: OrderedDict[str, dict] = OrderedDict()

    def remember(self, config) -> None:
        kind = kind_of(config)
        if kind is None:
            return
        self._kinds.pop(kind, None)
        self._kinds[kind] = config.replace(name=None).to_dict()
        while len(self._kinds) > REMEMBERED:
            self._kinds.popitem(last=False)

    def configs(self) -> list[dict]:
        return list(self._kinds.values())

    def items(self) -> list[tuple[str, dict]]:
        """(kind, its config as a dict), oldest first."""
        return list(self._kinds.items())


def warm_up(config: TrainConfig, run_waiting: Callable[[], bool]) -> float:
    """Train WARM_BATCHES batches of `config` in this worker, keeping its compiled model warm; nothing is kept
    but that. Ends early when `run_waiting()` is true. Returns the seconds it took."""
    from core.fit.progress import ProgressRecorder
    from core.fit.training import train
    from core.store import ModelStore

    started = time.perf_counter()
    recorder = ProgressRecorder("warm-up", config)

    def enough() -> bool:
        return run_waiting() or recorder.snapshot().steps >= WARM_BATCHES

    with tempfile.TemporaryDirectory(prefix="digit-studio-warm-") as folder:
        train(config.replace(name="warm-up"), recorder, enough, ModelStore(folder), keep_warm=True,
              stop_now=run_waiting)
    return time.perf_counter() - started

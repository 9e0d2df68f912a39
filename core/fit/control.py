"""Taking the wheel of a run while it trains: Pause, Resume, Step and mid-run changes (learning rate,
augmentation), as plain data that travels from the server to wherever the run trains.

The server keeps a run's ControlState (core.runs.steering) and hands every change on: in this process
(ControlBox, read by a thread's run), through shared memory (SharedControl, a worker process) or a Ray
channel. Counters rather than one-shot messages, so a change is never lost however often the trainer
reads: `steps` counts the steps asked for in all, and each change of rate or augmentation has its own
version. The trainer (core.fit.steering) sends back what it did: a StepReport per Step.
TensorFlow-free.
"""
from __future__ import annotations

import math
import threading
from dataclasses import astuple, dataclass, replace

import numpy as np

MAX_STEP_IMAGES = 64        # a Step report carries at most this many of its batch's images


class ControlError(ValueError):
    """A control that cannot be applied (a finished run, a bad learning rate, someone else's run); the
    message says why in plain words and nothing was changed."""


@dataclass(frozen=True)
class ControlState:
    """What the server asks of a run now. Plain numbers, so it fits in shared memory."""

    paused: bool = False
    steps: int = 0                  # steps asked for since the run began (the trainer does those it has not done)
    learning_rate: float = 0.0      # the rate asked for last (0: none asked for)
    rate_version: int = 0           # +1 for each rate asked for
    augment: bool = False           # augmentation asked for last
    augment_version: int = 0        # +1 for each switch of augmentation

    def as_floats(self) -> tuple[float, ...]:
        return tuple(float(v) for v in astuple(self))

    @classmethod
    def from_floats(cls, values) -> "ControlState":
        paused, steps, rate, rate_version, augment, augment_version = (float(v) for v in values)
        return cls(bool(paused), int(steps), rate, int(rate_version), bool(augment), int(augment_version))

    def changed(self, **changes) -> "ControlState":
        return replace(self, **changes)


FIELDS = len(ControlState().as_floats())


class ControlBox:
    """A run's ControlState in this process, under a lock: the server's copy, and a thread's run reads it."""

    def __init__(self, state: ControlState | None = None):
        self._lock = threading.Condition()
        self._state = state or ControlState()

    def get(self) -> ControlState:
        with self._lock:
            return self._state

    def set(self, state: ControlState) -> None:
        with self._lock:
            self._state = state
            self._lock.notify_all()

    def update(self, **changes) -> ControlState:
        with self._lock:
            self._state = replace(self._state, **changes)
            self._lock.notify_all()
            return self._state

    def wait(self, timeout: float) -> None:
        """Until the state changes or `timeout` seconds pass (the trainer's hold waits here)."""
        with self._lock:
            self._lock.wait(timeout)


class SharedControl:
    """The ControlState in shared memory for a worker process (made by the server before the worker starts).
    A reused worker's next run is handed its own state before it starts, so nothing carries over."""

    def __init__(self, context):
        import ctypes

        self._array = context.Array(ctypes.c_double, FIELDS)

    def set(self, state: ControlState) -> None:
        with self._array.get_lock():
            np.frombuffer(self._array.get_obj(), dtype=np.float64)[:] = state.as_floats()

    def get(self) -> ControlState:
        with self._array.get_lock():
            values = np.frombuffer(self._array.get_obj(), dtype=np.float64).copy()
        return ControlState.from_floats(values)

    def reset(self) -> None:
        self.set(ControlState())


def checked_learning_rate(value) -> float:
    """A learning rate from a person: a number above 0 and at most the settings table's bound
    (core.fit.config SETTINGS), else ControlError saying so."""
    from core.fit.config import SETTINGS

    setting = SETTINGS["learning_rate"]
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ControlError(f"A learning rate must be a number (got {str(value)[:40]!r}).") from None
    if isinstance(value, bool) or not math.isfinite(rate) or not setting.low < rate <= setting.high:
        raise ControlError(f"A learning rate must be above {setting.low:g} and at most {setting.high:g} "
                           f"(got {str(value)[:40]}).")
    return rate


@dataclass(frozen=True, eq=False)
class LayerMove:
    """One layer with weights, over one Step: the gradient's size and how far its weights moved."""

    name: str
    gradient_norm: float       # L2 norm of the gradient of its weights on the step's batch
    moved: float               # L2 norm of the change of its weights
    relative: float            # moved / the L2 norm of its weights before the step


@dataclass(frozen=True, eq=False)
class StepReport:
    """What one Step did: its batch, the loss on that batch before and after, each layer's move, and which of
    the panel's digits changed their answer. Losses are with dropout off, so before and after compare."""

    number: int                        # 1 for the run's first Step, 2 for the next ...
    step: int                          # batches trained in all, this one included
    epoch: int                         # 0-based epoch it was taken in
    batch_size: int
    images: np.ndarray                 # uint8 (k, 28, 28): the batch's first k images as trained
    labels: np.ndarray                 # int (k,)
    predicted_before: np.ndarray       # int (k,): the network's answers for them before the step
    predicted_after: np.ndarray        # and after
    loss_before: float                 # mean loss on the whole batch, before the step
    loss_after: float                  # and after
    learning_rate: float               # the optimizer's rate for this step
    augmented: bool
    layers: tuple[LayerMove, ...]
    changed: tuple[tuple[int, int, int], ...]   # (panel index, answer before, answer after)
    digest_before: str                 # of every weight: the same digest means bit-identical weights
    digest_after: str
    seconds: float                     # what the step took, its figures included

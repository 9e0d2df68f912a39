"""Helpers for the sweep tests: a fake job that 'trains' a made-up curve through the real JobRegistry.

The job's validation accuracy per epoch comes from a function of its config (the learning rate, say), so a
test knows which run is clearly worse; it reports each epoch as a real run does (ProgressRecorder) and
honours Stop between epochs, in milliseconds and without TensorFlow.
"""
from __future__ import annotations

import math
import threading
import time

from core.fit.progress import JobResult
from core.runs.queue import JobRegistry, QueuedJob

EPOCH_SECONDS = 0.25


def lr_curve(config, epoch: int) -> float:
    """Best at a learning rate of 1e-3; each step of ten away costs 30 points; a little better every epoch."""
    return max(0.05, 0.9 - 0.3 * abs(math.log10(config.learning_rate) + 3)) + 0.01 * epoch


class CurveJob(QueuedJob):
    """A run whose epochs follow `curve(config, epoch)`; its start order goes to `log`."""

    def __init__(self, job_id, config, store, registry, log: list, curve=lr_curve, epoch_seconds=EPOCH_SECONDS):
        super().__init__(job_id, config, store, registry)
        self._log, self._curve, self._epoch_seconds = log, curve, epoch_seconds

    def _execute(self) -> None:
        self._log.append(self.id)
        self.recorder.planned(4, 400)
        epochs = 0
        for epoch in range(self.config.epochs):
            if self._stop.is_set():
                break
            self.recorder.epoch_began(epoch)
            for batch in range(4):
                time.sleep(self._epoch_seconds / 4)
                self.recorder.batch_ended(batch, 1.0, 0.5)
            value = self._curve(self.config, epoch)
            self.recorder.epoch_ended(epoch, {"loss": 1 - value, "accuracy": value, "val_loss": 1 - value,
                                              "val_accuracy": value}, self.config.learning_rate)
            epochs += 1
        self.recorder.finished(JobResult(self.config.name or self.id, 0.5, 0.5, [], 0.1, epochs),
                               stopped=self._stop.is_set())


class GateJob(QueuedJob):
    """A run that does nothing until `release()`d (or stopped); its start goes to `log`."""

    def __init__(self, job_id, config, store, registry, log: list):
        super().__init__(job_id, config, store, registry)
        self._log = log
        self.gate = threading.Event()

    def release(self) -> None:
        self.gate.set()

    def _execute(self) -> None:
        self._log.append(self.id)
        while not self.gate.wait(0.02):
            if self._stop.is_set():
                break
        self.recorder.epoch_ended(0, {"loss": 0.5, "accuracy": 0.5, "val_loss": 0.5, "val_accuracy": 0.5}, 0.001)
        self.recorder.finished(None, stopped=self._stop.is_set())


def curve_registry(slots: int = 1, max_per_owner: int | None = None, store=None, **job_options):
    log: list[str] = []
    registry = JobRegistry(slots, store, job_factory=lambda *args: CurveJob(*args, log=log, **job_options),
                           max_per_owner=max_per_owner)
    return registry, log


def gate_registry(slots: int = 1, max_per_owner: int | None = None, store=None):
    log: list[str] = []
    registry = JobRegistry(slots, store, job_factory=lambda *args: GateJob(*args, log=log),
                           max_per_owner=max_per_owner)
    return registry, log

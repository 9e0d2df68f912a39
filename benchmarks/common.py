"""Shared pieces of the benchmarks: settings per mode, statistics, a timing callback, the report."""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REPORT_PATH = ROOT / "docs" / "benchmarks.md"
NOTES_PATH = Path(__file__).resolve().parent / "notes.md"  # hand-written: what was tried, appended at the end


@dataclass(frozen=True)
class Settings:
    """How much work each section does; `quick` is a smoke run (figures meaningless, headings all there)."""

    quick: bool = False
    runs: int = 3                 # repetitions of every timed training comparison
    seeds: int = 3                # cnn-best seeds
    limit: int | None = None      # training samples (None: all)
    max_epochs: int | None = None  # cap on epochs per run (None: the preset's own)
    latency_calls: int = 300
    robustness_n: int = 3000
    startup_runs: int = 3

    @classmethod
    def for_mode(cls, quick: bool) -> "Settings":
        if quick:
            return cls(quick=True, runs=1, seeds=1, limit=1000, max_epochs=1, latency_calls=20,
                       robustness_n=30, startup_runs=1)
        return cls()


def median(values) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


class EpochClock(keras.callbacks.Callback):
    """Per-epoch training seconds (first batch to last batch, so validation is not counted).

    With test data it also evaluates the test set after each epoch, off the clock, and
    records `time_to_target`: training seconds (from the start of fit, compile and tracing
    included, evaluations excluded) until test accuracy first reached `target`; then it stops.
    """

    def __init__(self, test: tuple[np.ndarray, np.ndarray] | None = None, target: float | None = None):
        super().__init__()
        self.test, self.target = test, target
        self.epoch_seconds: list[float] = []
        self.test_accuracy: list[float] = []
        self.time_to_target: float | None = None
        self._off_clock = 0.0

    def on_train_begin(self, logs=None):
        self._fit_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._last_batch = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(self._last_batch - self._epoch_start)
        if self.test is None:
            return
        trained = self._last_batch - self._fit_start - self._off_clock
        start = time.perf_counter()
        accuracy = float(self.model.evaluate(*self.test, batch_size=1000, verbose=0, return_dict=True)["accuracy"])
        self.test_accuracy.append(accuracy)
        self._off_clock += time.perf_counter() - start
        if self.target is not None and accuracy >= self.target and self.time_to_target is None:
            self.time_to_target = trained
            self.model.stop_training = True


def machine() -> str:
    """One line about where the figures were measured."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    gpus = len(tf.config.list_physical_devices("GPU"))
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {gpus} GPU(s); Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}; load average at start {load}")


@dataclass
class Report:
    """The sections of docs/benchmarks.md in order; written after every section so a long run is not lost."""

    settings: Settings
    path: Path = REPORT_PATH
    sections: dict[str, str] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)   # figures other sections reuse
    started: float = field(default_factory=time.perf_counter)
    header: str = ""
    note: str = ""           # e.g. which sections a partial re-run replaced

    def add(self, title: str, body: str) -> None:
        self.sections[title] = body.strip() + "\n"
        self.write()

    def write(self, finished: bool = False) -> None:
        elapsed = time.perf_counter() - self.started
        mode = "quick smoke run (`python -m benchmarks --quick`): figures are NOT meaningful" \
            if self.settings.quick else ("partial re-run (`--only`)" if self.note else "full run (`make bench`)")
        status = f"finished in {elapsed / 60:.1f} min" if finished else f"in progress ({elapsed / 60:.1f} min so far)"
        lines = ["# Benchmarks", "",
                 "Written by `make bench` (`python -m benchmarks`); do not edit by hand. Timing figures are "
                 "medians of repeated runs and every comparison is a ratio of figures measured in this same run "
                 "on this same machine.", "",
                 f"- Mode: {mode}; {status}.",
                 f"- Machine: {self.header}.",
                 f"- Date: {time.strftime('%Y-%m-%d %H:%M')}.", *([f"- Note: {self.note}."] if self.note else []), ""]
        for title, body in self.sections.items():
            lines += [f"## {title}", "", body]
        if finished and NOTES_PATH.exists():
            lines += [NOTES_PATH.read_text()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines))
        tmp.replace(self.path)

"""The learning-rate finder's settings and result, and the rule that picks a rate from its curve
(fastai's lr_find after Smith, 2017, "Cyclical Learning Rates for Training Neural Networks", section 3.3).

A throw-away copy of the network trains for about FinderConfig.finder_batches batches while the learning
rate grows exponentially from finder_low to finder_high (core.fit.lr_find runs it); the loss of each batch
is smoothed, and the suggestion is where the smoothed loss falls fastest against the rate on a log axis,
before its lowest point. TensorFlow-free: the server and the pages read these.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.fit.config import ConfigError, TrainConfig

SMOOTHING = 0.9           # exponential moving average of the batch losses (bias-corrected)
DIVERGED = 4.0            # the sweep ends once the smoothed loss is this many times its lowest
RULE = ("where the smoothed loss falls fastest as the rate grows (the steepest descent on the log axis), "
        "before the loss is at its lowest")
BATCHES = (10, 1000)


@dataclass(frozen=True)
class FinderConfig(TrainConfig):
    """A run's settings plus the sweep: from finder_low to finder_high over finder_batches batches."""

    finder_low: float = 1e-5
    finder_high: float = 1.0
    finder_batches: int = 100

    def problems(self) -> list[str]:
        problems = super().problems()
        low, high, batches = self.finder_low, self.finder_high, self.finder_batches
        rates_ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       for v in (low, high))
        if not rates_ok or not 0 < low < high <= 10:
            problems.append(f"The finder's range must run from a rate above 0 to a larger one of at most 10 "
                            f"(got {low!r} to {high!r}).")
        elif high / low < 10:
            problems.append(f"The finder's range must span at least a factor of 10 (got {low:g} to {high:g}).")
        if isinstance(batches, bool) or not isinstance(batches, int) or not BATCHES[0] <= batches <= BATCHES[1]:
            problems.append(f"The finder trains for {BATCHES[0]} to {BATCHES[1]} batches (got {batches!r}).")
        return problems

    @classmethod
    def sweeping(cls, config: TrainConfig, low: float = 1e-5, high: float = 1.0, batches: int = 100) -> "FinderConfig":
        """The finder for `config`'s network and data: a constant schedule, no callbacks, never saved."""
        values = {**config.to_dict(), "schedule": "constant", "reduce_lr": False, "early_stopping": False,
                  "name": None, "finder_low": low, "finder_high": high, "finder_batches": batches}
        return cls(**values)

    def rate_at(self, index: int) -> float:
        """The rate of batch `index` (0-based): exponential from finder_low to finder_high."""
        share = index / max(1, self.finder_batches - 1)
        return float(self.finder_low * (self.finder_high / self.finder_low) ** share)


def config_from_dict(values: Any) -> TrainConfig:
    """A run's settings as sent to a worker: a FinderConfig when they hold the finder's, else a TrainConfig."""
    if isinstance(values, dict) and any(str(key).startswith("finder_") for key in values):
        return FinderConfig.from_dict(values)
    return TrainConfig.from_dict(values)


@dataclass(frozen=True)
class FinderResult:
    """The finder's curve and its suggestion (None when the loss never fell)."""

    learning_rates: tuple[float, ...]
    losses: tuple[float, ...]          # each batch's own loss
    smoothed: tuple[float, ...]
    suggestion: float | None
    rule: str
    low: float
    high: float
    ended: str                         # "swept", "diverged" or "stopped"

    @property
    def lowest(self) -> float | None:
        """The rate where the smoothed loss was lowest."""
        finite = [i for i, v in enumerate(self.smoothed) if math.isfinite(v)]
        return self.learning_rates[min(finite, key=lambda i: self.smoothed[i])] if finite else None


def smooth(losses, beta: float = SMOOTHING) -> np.ndarray:
    """Bias-corrected exponential moving average (as fastai's Recorder smooths its losses)."""
    out, average = [], 0.0
    for i, loss in enumerate(np.asarray(losses, dtype=float)):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return np.asarray(out)


def diverged(smoothed: np.ndarray) -> bool:
    """The sweep should end: the smoothed loss is no longer finite, or DIVERGED times its lowest."""
    if not len(smoothed):
        return False
    last = smoothed[-1]
    return not math.isfinite(last) or last > DIVERGED * np.nanmin(smoothed)


def suggest(rates, losses) -> tuple[float | None, np.ndarray]:
    """(the suggested rate, the smoothed losses): the steepest descent of the smoothed loss against log10(rate),
    among the batches before its lowest point; None when the curve is too short or never falls."""
    rates, smoothed = np.asarray(rates, dtype=float), smooth(losses)
    finite = np.isfinite(smoothed)
    if len(rates) < 5 or finite.sum() < 5:
        return None, smoothed
    lowest = int(np.nanargmin(np.where(finite, smoothed, np.nan)))
    skip = max(1, len(rates) // 20)      # the first few points: the average is still finding its level
    segment = np.arange(skip, lowest + 1)
    if len(segment) < 3:
        return None, smoothed
    slopes = np.gradient(smoothed[segment], np.log10(rates[segment]))
    best = int(np.argmin(slopes))
    if not slopes[best] < 0:
        return None, smoothed
    return float(rates[segment[best]]), smoothed


def finder_result(config: FinderConfig, rates, losses, ended: str) -> FinderResult:
    suggestion, smoothed = suggest(rates, losses)
    return FinderResult(tuple(float(r) for r in rates), tuple(float(v) for v in losses),
                        tuple(float(v) for v in smoothed), suggestion, RULE, config.finder_low, config.finder_high,
                        ended)

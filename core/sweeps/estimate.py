"""How long a sweep will take, before it starts: each run's training samples × epochs at its network's speed,
plus each run's fixed cost (start, testing on 10,000 images, saving), over the runs that train at once.

The speed comes from this machine's own past runs (the saved models' metadata: training seconds per sample
and epoch, median per architecture) and, for a network never trained here, from the benchmark figures
in docs/benchmarks.md (§3, measured on this project's 2-core machine).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from core.data.datasets import DATASETS
from core.sweeps.space import MAX_COMBINATIONS_CHECKED, SweepSpec

if TYPE_CHECKING:
    from core.fit.config import TrainConfig
    from core.store import ModelInfo

# docs/benchmarks.md §3: training samples per second of each preset on its own settings (2 cores, no GPU).
BENCHMARK_SAMPLES_PER_SECOND = {"linear": 70_229, "mlp-512": 28_114, "mlp-128-64": 57_529, "tiny-20px": 40_433,
                                "cnn-basic": 7_610, "cnn-bn": 3_153, "cnn-fast": 6_320, "cnn-best": 1_421,
                                "custom-mlp": 37_839, "custom-cnn": 2_180}
RUN_OVERHEAD_SECONDS = 4.0       # start, build, test on the test set, save: a tiny run's total on this machine
SAMPLE_RUNS = 200                # a random or guided search is estimated on this many combinations


@dataclass(frozen=True)
class Estimate:
    runs: int
    seconds: float                  # wall time
    parallel: int                   # runs that train side by side on separate machines (a Ray cluster)
    measured_archs: tuple[str, ...]  # whose speed came from this machine's past runs

    def text(self) -> str:
        basis = ("from this machine's past runs" if self.measured_archs
                 else "from the benchmark figures of this app")
        at_once = f", {self.parallel} at a time" if self.parallel > 1 else ""
        return f"{self.runs} run{'s' if self.runs != 1 else ''}, about {_duration(self.seconds)}{at_once} ({basis})"


def train_samples(config: "TrainConfig") -> int:
    size = DATASETS[config.dataset].train_size if config.dataset in DATASETS else 60_000
    samples = min(config.limit or size, size)
    return int(samples * (1 - config.validation_split)) + int(config.stroke_copies)


def measured_speeds(models: Iterable["ModelInfo"]) -> dict[str, float]:
    """Training samples per second per architecture, the median of the saved models that say enough."""
    speeds: dict[str, list[float]] = {}
    for info in models:
        meta = info.meta
        if meta is None or not meta.train_seconds or not meta.history:
            continue
        try:
            from core.fit.config import TrainConfig

            config = TrainConfig.from_dict({k: tuple(v) if isinstance(v, list) else v for k, v in meta.config.items()
                                            if k != "options"} | {"options": meta.config.get("options") or {}})
        except (ValueError, TypeError):
            continue
        seconds = meta.train_seconds
        if seconds > 0:
            speeds.setdefault(meta.arch, []).append(train_samples(config) * len(meta.history) / seconds)
    return {arch: statistics.median(values) for arch, values in speeds.items()}


def run_seconds(config: "TrainConfig", speeds: dict[str, float]) -> float:
    speed = speeds.get(config.arch) or BENCHMARK_SAMPLES_PER_SECOND.get(config.arch, 5_000)
    return RUN_OVERHEAD_SECONDS + train_samples(config) * config.epochs / speed


def estimate(spec: SweepSpec, parallel: int = 1, models: Iterable["ModelInfo"] = ()) -> Estimate:
    """The sweep's run count and wall time; a random or guided search at the mean of its space's runs.

    `parallel`: runs that train at once on machines of their own (a Ray cluster's nodes). Runs side by
    side on one machine share its cores and finish no sooner in all (docs/benchmarks.md §10): pass 1."""
    speeds = measured_speeds(models)
    if spec.search == "grid" or spec.combinations <= MAX_COMBINATIONS_CHECKED:
        every = list(spec.grid())
    else:
        every = []
    if spec.search != "grid" and len(every) > SAMPLE_RUNS:
        picks = np.random.default_rng(0).choice(len(every), SAMPLE_RUNS, replace=False)
        every = [every[i] for i in picks]
    times = []
    for params in every:
        try:
            times.append(run_seconds(spec.config(params), speeds))
        except ValueError:
            continue
    mean = statistics.fmean(times) if times else RUN_OVERHEAD_SECONDS
    total = mean * spec.runs
    archs = tuple(sorted({a for a in spec.archs() if a in speeds}))
    return Estimate(spec.runs, total / max(1, min(parallel, spec.runs or 1)), parallel, archs)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"

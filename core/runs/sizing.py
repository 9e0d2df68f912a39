"""How many cores a run trains on: a short run on one, side by side with others; a long one on all of them.

Measured on the 2-core machine (docs/benchmarks.md, section 15): a short run trains as fast on one TensorFlow
thread as on two, so two short runs side by side finish in about the time of one, while a long convnet
run gains from every core. A run's size is its sample-epochs (training samples times epochs), weighted by
how much more a convnet costs per sample than a dense network. TensorFlow-free: the queue decides before
any worker is chosen.
"""
from __future__ import annotations

import os

from core.data import datasets
from core.fit.config import TrainConfig

# Cost of one training sample relative to a dense network's (cnn-fast measured at about 4x mlp-128-64 per
# sample on one thread; the larger convnets several times more).
CONV_COST = 8
# Weighted sample-epochs above which a run takes every core: a dense network on 60,000 digits for 5 epochs
# is still short; cnn-best on the full set is long.
SHORT_RUN_WORK = 400_000


def _is_convnet(arch: str) -> bool:
    return arch.startswith("cnn") or arch == "custom-cnn"


def run_work(config: TrainConfig) -> float:
    """The run's weighted sample-epochs (its training samples, stroke copies included, times its epochs)."""
    spec = datasets.DATASETS.get(config.dataset)
    available = spec.train_size if spec is not None else 60000
    samples, _ = datasets.split_sizes(available, config.validation_split, config.limit)
    samples += config.stroke_copies or 0
    return samples * config.epochs * (CONV_COST if _is_convnet(config.arch) else 1)


def cores_for(config: TrainConfig, cores: int | None = None) -> int:
    """Cores (TensorFlow threads) the run trains on: 1 for a short run, all `cores` (default: this
    machine's) for a long one."""
    cores = cores or os.cpu_count() or 1
    return 1 if run_work(config) <= SHORT_RUN_WORK else cores

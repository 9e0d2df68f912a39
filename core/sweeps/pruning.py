"""When a run is hopeless: Optuna's pruners, and the margin that makes the median rule mean "clearly worse".

Optuna's MedianPruner stops a run whose validation accuracy at an epoch is below the median of the finished
runs at that epoch, by any amount. On a sweep of near-equal runs that is a coin toss: at epoch 1 of a 2-epoch
grid (mlp-128-64, 10,000 samples) the runs lay within 3 points of each other, the 1,000 validation images
measure each to about ±0.9 points, and a batch of 128 has made a quarter of the updates a batch of 32 has, so it
starts behind and ends best. The old rule pruned exactly that run (benchmarks/notes.md, "Pruning").

So the median rule here asks for a margin: a run is pruned only when it is below the median by more than
NOISE_SIGMAS standard errors of the difference between two accuracies measured on its validation images,
sqrt(2 p (1 - p) / n) with p the median: 2.5 points on 1,000 images, 1 point on 6,000. Optuna's own
MedianPruner decides first (its start-up runs and steps are kept), the margin can only spare a run.
Successive halving is Optuna's as it is: it keeps the best third, however close the runs are.
"""
from __future__ import annotations

import math
import statistics

import optuna
from optuna.trial import TrialState

from core.data.datasets import DATASETS, split_sizes

MEDIAN_STARTUP_RUNS = 2      # the median rule judges once this many runs have finished
HALVING_FACTOR = 3           # successive halving keeps the best third at epochs 1, 3, 9
NOISE_SIGMAS = 2.0           # "clearly worse": further below the median than two standard errors of a difference
VALIDATION_IMAGES = "validation_images"   # a trial's user attribute: how many images measure its accuracy
DEFAULT_VALIDATION_IMAGES = 1000


def validation_images(config) -> int:
    """How many validation images a run's accuracy is measured on (its dataset, limit and validation split)."""
    spec = DATASETS.get(config.dataset)
    available = spec.train_size if spec is not None else 60000
    return split_sizes(available, config.validation_split, config.limit)[1]


def noise_margin(accuracy: float, images: int) -> float:
    """How far below the median a run must be to be clearly worse: NOISE_SIGMAS standard errors of the
    difference between two accuracies near `accuracy`, each measured on `images` images."""
    p = min(max(accuracy, 0.0), 1.0)
    return NOISE_SIGMAS * math.sqrt(2 * p * (1 - p) / max(1, images))


def finished_at(study, step: int) -> list[float]:
    """The finished runs' validation accuracies at `step` (what the median rule compares with)."""
    return [t.intermediate_values[step] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if step in t.intermediate_values]


class ClearlyWorsePruner(optuna.pruners.BasePruner):
    """Optuna's median rule, sparing a run that is below the median by no more than its validation set's noise."""

    def __init__(self, n_startup_trials: int = MEDIAN_STARTUP_RUNS, n_warmup_steps: int = 0):
        self.median_rule = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials,
                                                       n_warmup_steps=n_warmup_steps)

    def prune(self, study, trial) -> bool:
        if not self.median_rule.prune(study, trial):
            return False
        step = trial.last_step
        finished = finished_at(study, step)
        if step is None or not finished:
            return False
        reached = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
        if not reached:
            return True                                  # only NaN so far: Optuna's median rule prunes it too
        median, best = statistics.median(finished), max(reached)       # as Optuna: the run's best so far
        images = int(trial.user_attrs.get(VALIDATION_IMAGES, DEFAULT_VALIDATION_IMAGES))
        return best < median - noise_margin(median, images)


def pruner_for(prune: str):
    if prune == "median":
        return ClearlyWorsePruner()
    if prune == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=HALVING_FACTOR)
    return optuna.pruners.NopPruner()

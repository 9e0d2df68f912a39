"""What mattered: how much of the spread in validation accuracy each varied setting explains.

Optuna's fANOVA (`optuna.importance.FanovaImportanceEvaluator`: a random forest fitted to the runs, its
variance split between the settings; scikit-learn underneath) on a study rebuilt from any runs: a sweep's,
or models chosen by hand. fANOVA splits the variance itself, so "explains 71% of the spread" is what it
measures; Optuna's default, PED-ANOVA, asks which settings the top 10% share, which says little on a
sweep of a dozen runs. A plain sentence says the largest share.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Mapping, Sequence

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

optuna.logging.set_verbosity(logging.WARNING)

MIN_RUNS = 4                      # fewer finished runs say nothing about what mattered
LABELS = {"learning_rate": "the learning rate", "batch_size": "the batch size", "epochs": "the number of epochs",
          "arch": "the architecture", "dropout": "dropout", "optimizer": "the optimizer", "limit": "the sample limit",
          "validation_split": "the validation split", "schedule": "the learning-rate schedule"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _distribution(values: Sequence[Any]):
    """The range of a varied setting (None when it did not vary): numbers as numbers, the rest as categories."""
    distinct = {_key(v) for v in values}
    if len(distinct) < 2:
        return None
    if all(_is_number(v) for v in values):
        low, high = min(values), max(values)
        if all(isinstance(v, int) for v in values):
            return IntDistribution(int(low), int(high), log=low > 0 and high / low >= 10)
        return FloatDistribution(float(low), float(high), log=low > 0 and high / low >= 10)
    return CategoricalDistribution(sorted(distinct))


def _key(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return value if _is_number(value) or isinstance(value, str) else str(value)


def importances(runs: Sequence[tuple[Mapping[str, Any], float | None]], seed: int = 0) -> dict[str, float]:
    """{setting: share of the importance (they add up to 1)}, largest first, from (values, validation accuracy)
    of each run; runs without a figure (pruned, failed) are left out. Empty when there are too few runs
    or nothing varied."""
    finished = [(params, value) for params, value in runs if value is not None and math.isfinite(value)]
    if len(finished) < MIN_RUNS:
        return {}
    names = sorted({name for params, _ in finished for name in params})
    distributions = {}
    for name in names:
        values = [params.get(name) for params, _ in finished]
        if any(v is None for v in values):
            continue
        dist = _distribution(values)
        if dist is not None:
            distributions[name] = dist
    if not distributions:
        return {}
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
    for params, value in finished:
        values = {}
        for name, dist in distributions.items():
            v = params[name]
            values[name] = _key(v) if isinstance(dist, CategoricalDistribution) else (
                int(v) if isinstance(dist, IntDistribution) else float(v))
        study.add_trial(optuna.trial.create_trial(params=values, distributions=distributions, value=float(value)))
    if len(distributions) == 1:
        return {next(iter(distributions)): 1.0}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    shares = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {name: float(share) for name, share in sorted(shares.items(), key=lambda kv: -kv[1])}


def sentence(shares: Mapping[str, float]) -> str:
    """The largest share in plain words; '' when there is none."""
    if not shares:
        return ""
    name, share = next(iter(shares.items()))
    label = LABELS.get(name, name.replace("_", " "))
    return f"{label[0].upper()}{label[1:]} explains {share:.0%} of the spread in validation accuracy."

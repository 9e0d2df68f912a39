"""Which run comes next, and whether a run is hopeless: an Optuna study behind every sweep.

grid: every combination, in order. random: `trials` distinct combinations drawn with the sweep's seed
(numpy's generator, without replacement: Optuna's RandomSampler draws with replacement, and on a finite
space a repeat is a wasted run). tpe: Optuna's TPESampler through the ask-and-tell interface, so each
new trial is chosen from what the earlier ones reached; the first third of the trials (2 to 10) explore
at random, as TPE needs. Pruning is Optuna's too (core/sweeps/pruning.py: the median rule with a margin for the
validation set's noise, or successive halving), fed each run's validation accuracy at each epoch's end,
whatever the search.
"""
from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState

from core.sweeps.pruning import VALIDATION_IMAGES, finished_at, noise_margin, pruner_for, validation_images
from core.sweeps.space import Params, SweepSpec
from core.sweeps.values import Axis

optuna.logging.set_verbosity(logging.WARNING)

MAX_REPEATS = 30             # TPE asked again this often when it proposes settings already tried


@dataclass
class Trial:
    """One run of the sweep as the search sees it: its number (from 1), its values, Optuna's trial."""

    number: int
    params: Params
    optuna_trial: Any


def tpe_startup_trials(trials: int) -> int:
    return max(2, min(10, trials // 3))


def _distribution(axis: Axis):
    """Numbers by their place in the sorted values (TPE then knows 0.001 lies between 0.0003 and 0.003);
    anything else as a category."""
    if axis.numeric:
        return IntDistribution(0, len(axis.values) - 1)
    return CategoricalDistribution([_category(v) for v in axis.values])


def _category(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


class Search:
    """The sweep's Optuna study (in memory: the sweep's own record is what is kept) and its plan of runs."""

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        sampler = (optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=tpe_startup_trials(spec.runs),
                                              constant_liar=True)
                   if spec.search == "tpe" else optuna.samplers.RandomSampler(seed=spec.seed))
        self.study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner_for(spec.prune))
        self._planned = planned_params(spec)
        self._asked = 0
        self._tried: dict[tuple, int] = {}          # TPE: params already asked -> their Optuna trial's number
        self._sorted = {a.name: sorted(a.values) if a.numeric else list(a.values) for a in spec.axes}

    @property
    def total(self) -> int:
        return self.spec.runs

    @property
    def remaining(self) -> int:
        return self.total - self._asked

    def ask(self) -> Trial | None:
        """The next run to train, or None when the sweep has made all its runs."""
        if self._asked >= self.total:
            return None
        self._asked += 1
        if self._planned is not None:
            return self._measured(Trial(self._asked, dict(self._planned[self._asked - 1]), self.study.ask()))
        distributions = {a.name: _distribution(a) for a in self.spec.axes}
        for attempt in range(MAX_REPEATS + 1):
            if attempt == MAX_REPEATS:           # TPE keeps proposing what was tried: a random untried one
                self.study.enqueue_trial(self._untried_index_params())
            trial = self.study.ask(distributions)
            key = tuple(sorted(trial.params.items()))
            if key not in self._tried or attempt == MAX_REPEATS:
                break
            # the same settings and seed again would train the same network: the study hears the earlier
            # run's figure (or, while it trains, that it is taken) and is asked again
            earlier = self.study.get_trials(deepcopy=False)[self._tried[key]]
            if earlier.state == TrialState.COMPLETE:
                self.study.tell(trial, earlier.value)
            else:
                self.study.tell(trial, state=TrialState.FAIL)
        self._tried[key] = trial.number
        params = {}
        for axis in self.spec.axes:
            chosen = trial.params[axis.name]
            if axis.numeric:
                params[axis.name] = self._sorted[axis.name][chosen]
            else:
                params[axis.name] = next(v for v in axis.values if _category(v) == chosen)
        return self._measured(Trial(self._asked, params, trial))

    def _measured(self, trial: Trial) -> Trial:
        """The trial, told how many validation images measure its run (the pruner's margin depends on it)."""
        try:
            images = validation_images(self.spec.config(trial.params))
        except ValueError:
            return trial
        trial.optuna_trial.set_user_attr(VALIDATION_IMAGES, images)
        return trial

    def _untried_index_params(self) -> dict[str, Any]:
        """A seeded random combination not asked yet (Optuna's own values: places and categories)."""
        rng = np.random.default_rng(self.spec.seed + self._asked)
        for _ in range(1000):
            params = {}
            for axis in self.spec.axes:
                i = int(rng.integers(len(axis.values)))
                params[axis.name] = i if axis.numeric else _category(axis.values[i])
            if tuple(sorted(params.items())) not in self._tried:
                return params
        return params

    def report(self, trial: Trial, epoch: int, value: float) -> bool:
        """A run's validation accuracy at the end of `epoch` (from 1); True when the pruner says stop it."""
        trial.optuna_trial.report(float(value), epoch)
        return bool(trial.optuna_trial.should_prune())

    def finished(self, trial: Trial, value: float | None) -> None:
        if value is None or not np.isfinite(value):
            self.study.tell(trial.optuna_trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial.optuna_trial, float(value))

    def pruned(self, trial: Trial) -> None:
        self.study.tell(trial.optuna_trial, state=TrialState.PRUNED)

    def failed(self, trial: Trial) -> None:
        self.study.tell(trial.optuna_trial, state=TrialState.FAIL)

    def prune_reason(self, trial: Trial, epoch: int, value: float, epochs: int) -> str:
        """Why the pruner stopped a run, in a sentence with the figures it compared."""
        others = [t.intermediate_values[epoch] for t in self.study.get_trials(deepcopy=False)
                  if t.number != trial.optuna_trial.number and epoch in t.intermediate_values
                  and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)]
        finished = finished_at(self.study, epoch)
        where = f"at epoch {epoch} of {epochs}"
        if self.spec.prune == "median" and finished:
            median = statistics.median(finished)
            images = int(trial.optuna_trial.user_attrs.get(VALIDATION_IMAGES, 0)) or None
            margin = noise_margin(median, images) if images else None
            noise = (f", more than the {margin * 100:.1f} points its {images:,} validation images' noise allows"
                     if margin is not None else "")
            return (f"Pruned {where} by the median rule: validation accuracy {value:.1%} was below the median of the "
                    f"{len(finished)} finished run{'s' if len(finished) != 1 else ''} at that epoch "
                    f"({median:.1%}) by {(median - value) * 100:.1f} points{noise}.")
        if self.spec.prune == "halving":
            best = max(others) if others else None
            than = f" (best {best:.1%})" if best is not None else ""
            return (f"Pruned {where} by successive halving: validation accuracy {value:.1%} was not among the best "
                    f"third of the {len(others) + 1} runs that reached that epoch{than}.")
        return f"Pruned {where}: validation accuracy {value:.1%}."


def planned_params(spec: SweepSpec) -> list[Params] | None:
    """Every run's values up front for grid and random (None for tpe: chosen as it goes)."""
    if spec.search == "grid":
        return list(spec.grid())
    if spec.search == "random":
        rng = np.random.default_rng(spec.seed)
        sizes = [len(a.values) for a in spec.axes]
        picks = rng.choice(spec.combinations, size=spec.runs, replace=False)
        return [{a.name: a.values[i] for a, i in zip(spec.axes, np.unravel_index(int(p), sizes))} for p in picks]
    return None

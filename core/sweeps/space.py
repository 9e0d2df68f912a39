"""What a sweep is before it runs: the base settings, the axes it varies, the search, its caps.

`SweepSpec.check()` refuses, with every reason and before anything is queued, a sweep that cannot run:
too many runs for its cap, an option some of its architectures lack, a value beyond a lesson step's caps,
a combination TrainConfig refuses. `configs()` gives each run's TrainConfig from its values.
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from core.fit.config import MAX_SEED, SETTINGS, ConfigError, TrainConfig
from core.nets.presets import PRESETS
from core.sweeps.values import Axis, SweepError, short_number
from core.workshop.setting_text import config_from_values, link_text

if TYPE_CHECKING:
    from core.workshop.lessons import LessonStep

SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("off", "median", "halving")
SEARCH_TITLES = {"grid": "grid (every combination)", "random": "random (seeded)",
                 "tpe": "guided (Optuna TPE)"}
MAX_RUNS_ENV = "DIGIT_STUDIO_SWEEP_MAX_RUNS"
DEFAULT_MAX_RUNS = 48           # a sweep's own cap: a room's afternoon, not a cluster's week
HARD_MAX_RUNS = 1000            # no setting raises a sweep beyond this
MAX_COMBINATIONS_CHECKED = 20_000


def max_runs_from_env() -> int:
    """$DIGIT_STUDIO_SWEEP_MAX_RUNS (default 48, at most 1000); a bad value falls back to the default."""
    try:
        return min(HARD_MAX_RUNS, max(1, int(os.environ.get(MAX_RUNS_ENV, DEFAULT_MAX_RUNS))))
    except ValueError:
        return DEFAULT_MAX_RUNS


Params = dict[str, Any]          # one run's values: axis name -> value


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: `base` (TrainConfig fields the runs share), `axes` (what varies), the search and its caps.

    search: grid (every combination), random (`trials` distinct combinations, drawn with `seed`) or
    tpe (Optuna's TPE, `trials` runs, each chosen from what the earlier ones reached).
    prune: off, median or halving (Optuna's MedianPruner or SuccessiveHalvingPruner at each epoch's end).
    """

    base: Mapping[str, Any]
    axes: tuple[Axis, ...]
    search: str = "grid"
    trials: int | None = None
    seed: int = 0
    prune: str = "off"
    max_runs: int = field(default_factory=max_runs_from_env)

    @property
    def combinations(self) -> int:
        return math.prod(len(a.values) for a in self.axes)

    @property
    def runs(self) -> int:
        """How many runs the sweep makes (before pruning)."""
        return self.combinations if self.search == "grid" else int(self.trials or 0)

    def grid(self) -> Iterable[Params]:
        """Every combination, the first axis slowest."""
        for values in itertools.product(*(a.values for a in self.axes)):
            yield {a.name: v for a, v in zip(self.axes, values)}

    def config(self, params: Params, name: str | None = None) -> TrainConfig:
        """The run with `params` on top of the base settings (the preset's own under both)."""
        values = {k: v for k, v in self.base.items() if k not in ("name",)}
        options = dict(values.pop("options", None) or {})
        for axis in self.axes:
            if axis.name not in params:
                continue
            if axis.kind == "option":
                options[axis.name] = params[axis.name]
            else:
                values[axis.name] = params[axis.name]
        arch = values.get("arch")
        if arch in PRESETS and not PRESETS[arch].configurable:
            options = {}
        return config_from_values({**values, "options": options, "name": name})

    def archs(self) -> tuple[str, ...]:
        for axis in self.axes:
            if axis.kind == "arch":
                return tuple(axis.values)
        return (self.base.get("arch") or TrainConfig().arch,)

    def check(self, step: "LessonStep | None" = None) -> None:
        """SweepError with every reason this sweep cannot run (within `step`'s limits, in a lesson)."""
        problems = self._shape_problems()
        if problems:
            raise SweepError(problems)
        problems = self._arch_problems() + (self._step_problems(step) if step is not None else [])
        if problems:
            raise SweepError(problems)
        if self.combinations <= MAX_COMBINATIONS_CHECKED:
            problems = self._combination_problems()
        if problems:
            raise SweepError(problems)

    def _shape_problems(self) -> list[str]:
        problems = []
        if self.search not in SEARCHES:
            problems.append(f"The search is one of {', '.join(SEARCHES)} (got {str(self.search)[:40]!r}).")
        if self.prune not in PRUNERS:
            problems.append(f"Pruning is one of {', '.join(PRUNERS)} (got {str(self.prune)[:40]!r}).")
        if not self.axes:
            problems.append("A sweep varies at least one setting: give two or more values for it.")
        names = [a.name for a in self.axes]
        problems += [f"{n} is varied twice: give all its values once." for n in sorted(set(names)) if names.count(n) > 1]
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            problems.append(f"The sweep's seed must be a whole number from 0 to {MAX_SEED} (got {self.seed!r}).")
        if self.search in ("random", "tpe"):
            trials = self.trials
            if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
                problems.append(f"A {self.search} search needs a number of trials, at least 1 (got {trials!r}).")
            elif self.search == "random" and self.axes and trials > self.combinations:
                problems.append(f"A random search of {trials} trials over only {self.combinations} combinations "
                                "would repeat runs: use a grid, or fewer trials.")
        if isinstance(self.base.get("validation_split"), (int, float)) and self.base.get("validation_split") == 0 \
                and "validation_split" not in names:
            problems.append("A sweep compares runs by validation accuracy: set a validation split above 0.")
        if self.base.get("start_from"):
            problems.append("A sweep trains new networks: it cannot start from a stored model.")
        if not problems and self.runs > self.max_runs:
            many = f"{self.runs:,}"
            how = (" × ".join(str(len(a.values)) for a in self.axes) + f" = {many}") if self.search == "grid" else many
            problems.append(f"This sweep makes {how} runs; at most {self.max_runs} are allowed. "
                            "Try fewer values, or a random or guided search with fewer trials.")
        return problems

    def _arch_problems(self) -> list[str]:
        """Options are varied only where every architecture of the sweep takes them."""
        problems = []
        for axis in self.axes:
            if axis.kind != "option":
                continue
            lacking = [a for a in self.archs() if axis.name not in PRESETS[a].default_options]
            if lacking:
                takes = [n for n, p in PRESETS.items() if axis.name in p.default_options]
                problems.append(f"{axis.name} is an option of {', '.join(takes)}; {', '.join(lacking)} "
                                f"{'has' if len(lacking) == 1 else 'have'} no such option: sweep it on its own.")
        return problems

    def _step_problems(self, step: "LessonStep") -> list[str]:
        """A lesson step's caps hold for every run: its architectures, its fixed settings, epochs and samples."""
        problems = []
        varied = {a.name: a for a in self.axes}
        for name in step.fixed:
            if name in varied or (name == "options" and any(a.kind == "option" for a in self.axes)):
                problems.append(f"This step fixes {name}: a sweep cannot vary it.")
        refused = [a for a in self.archs() if a not in step.allowed_archs]
        if refused:
            problems.append(f"This step offers {', '.join(step.allowed_archs)}; not {', '.join(refused)}.")
        for name, cap in (("epochs", step.max_epochs), ("limit", step.max_limit)):
            if cap is None:
                continue
            values = varied[name].values if name in varied else (self._base_value(name),)
            over = [v for v in values if v is None or v > cap]
            if over:
                shown = ", ".join("all" if v is None else f"{v:,}" for v in over)
                problems.append(f"This step allows at most {cap:,} {SETTINGS[name].label.lower()} per run "
                                f"(this sweep asks for {shown}).")
        return problems

    def _base_value(self, name: str) -> Any:
        if name in self.base:
            return self.base[name]
        return getattr(config_from_values({"arch": self.archs()[0]}), name)

    def _combination_problems(self) -> list[str]:
        """Combinations TrainConfig refuses (a one-cycle schedule with reduce-LR), the first few named."""
        bad: dict[str, list[str]] = {}
        for params in self.grid():
            try:
                self.config(params)
            except ConfigError as exc:
                for problem in exc.problems:
                    bad.setdefault(problem, []).append(params_text(params))
        return [f"{problem} (with {runs[0]}{f' and {len(runs) - 1} more' if len(runs) > 1 else ''})"
                for problem, runs in bad.items()]

    def varied_names(self) -> list[str]:
        return [a.name for a in self.axes]

    def to_json(self) -> dict[str, Any]:
        base = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.base.items()}
        return {"base": base, "axes": [a.to_json() for a in self.axes], "search": self.search,
                "trials": self.trials, "seed": self.seed, "prune": self.prune, "max_runs": self.max_runs}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SweepSpec":
        base = dict(data.get("base") or {})
        if isinstance(base.get("options"), dict):
            base["options"] = {k: tuple(v) if isinstance(v, list) else v for k, v in base["options"].items()}
        return cls(base, tuple(Axis.from_json(a) for a in data.get("axes", [])), data.get("search", "grid"),
                   data.get("trials"), data.get("seed", 0), data.get("prune", "off"),
                   data.get("max_runs", DEFAULT_MAX_RUNS))


def params_text(params: Params) -> str:
    """One run's values in a short line: 'lr 0.001 · batch 32'."""
    return " · ".join(f"{short_name(k)} {short_number(v) if isinstance(v, float) else link_text(v)}"
                      for k, v in params.items())


def short_name(name: str) -> str:
    return {"learning_rate": "lr", "batch_size": "batch", "validation_split": "validation"}.get(name, name)

"""The values a sweep tries for one setting (an Axis): a list ("0.0003, 0.001, 0.003") or a range with a
count on a log or linear scale ("1e-4:1e-2:5:log"), each value checked in the settings table's own words.

A setting is named as links and the command line name it: a TrainConfig field (`batch_size`), its flag
(`lr`, `batch-size`), `arch`, or an architecture option (`dropout`, `hidden`, `kernel-size`). Text is
never evaluated: each value goes through core.workshop.setting_text, as a link's value does. A `hidden`
option's values are layer lists separated by ';' ("128;256,128"), since ',' separates its layers.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.fit.config import SETTINGS
from core.nets.presets import PRESETS, ArchitectureError, get_preset, validate_options
from core.workshop.setting_text import (
    OPTION_KINDS,
    link_text,
    number_from,
    option_value,
    parse_setting,
    shortened,
    with_short_value,
)

MAX_VALUES = 50                                   # per setting: more is a typo, not a question
NOT_SWEPT = ("name", "start_from")                # every run needs its own name; a sweep trains new networks
SCALES = ("linear", "log")
_RANGE = re.compile(r"\s*([^:]+):([^:]+):([^:]+)(?::\s*([A-Za-z]+)\s*)?")


class SweepError(ValueError):
    """A sweep that cannot run; `problems` lists each reason in plain words (nothing was queued)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


@dataclass(frozen=True)
class Axis:
    """One setting a sweep varies and the values it tries, in order. `kind` is 'setting', 'arch' or 'option'."""

    name: str                      # the TrainConfig field, 'arch', or the option's key
    kind: str
    values: tuple[Any, ...]
    scale: str | None = None       # 'log' or 'linear' for a range; None for a list

    @property
    def label(self) -> str:
        if self.kind == "setting":
            return SETTINGS[self.name].label
        return "Architecture" if self.kind == "arch" else f"{self.name.replace('_', ' ').capitalize()} (option)"

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def text(self) -> str:
        """The values as the command line and the page take them back."""
        if self.kind == "option" and OPTION_KINDS.get(self.name) in (tuple, list):
            return "; ".join(link_text(v) for v in self.values)
        return ", ".join(short_number(v) if isinstance(v, float) else link_text(v) for v in self.values)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "values": [list(v) if isinstance(v, tuple) else v
                                                                  for v in self.values], "scale": self.scale}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Axis":
        values = tuple(tuple(v) if isinstance(v, list) else v for v in data["values"])
        return cls(data["name"], data["kind"], values, data.get("scale"))


def short_number(value: float) -> str:
    """A float as few digits as tell it apart (0.000316 rather than 0.00031622776601683794)."""
    return f"{value:.3g}" if value != 0 else "0"


def target(name: str) -> tuple[str, str]:
    """(kind, field) for a setting's spelling; SweepError naming the sweepable ones when unknown."""
    key = name.strip().lower() if isinstance(name, str) else ""
    if key == "arch":
        return "arch", "arch"
    for field, setting in SETTINGS.items():
        if key in (field, field.replace("_", "-"), setting.flag):
            if field in NOT_SWEPT:
                raise SweepError([f"{setting.label} cannot be swept: "
                                  + ("each run is named by the sweep." if field == "name"
                                     else "a sweep trains new networks.")])
            return "setting", field
    for option in OPTION_KINDS:
        if key in (option, option.replace("_", "-")):
            return "option", option
    known = ["arch", *(f for f in SETTINGS if f not in NOT_SWEPT), *OPTION_KINDS]
    raise SweepError([f"{shortened(str(name))!r} is not a setting a sweep can vary; choose from {', '.join(known)}."])


def _check_value(kind: str, field: str, value: Any, archs: Sequence[str]) -> str | None:
    """What is wrong with one typed value (None when fine), in the words of the settings table or the presets."""
    if kind == "setting":
        problem = SETTINGS[field].problem(value)
        return with_short_value(problem, value) if problem else None
    if kind == "arch":
        try:
            get_preset(value)
            return None
        except ArchitectureError as exc:
            return str(exc)
    for arch in archs:
        try:
            validate_options(arch, {field: value})
        except ArchitectureError as exc:
            return with_short_value(str(exc), value)
    return None


def _typed(kind: str, field: str, text: str) -> Any:
    if kind == "arch":
        return text.lower()
    if kind == "option":
        return option_value(field, text)
    value, problem = parse_setting(field, text)
    return text if problem else value


def _is_whole(kind: str, field: str) -> bool:
    if kind == "setting":
        return SETTINGS[field].kind is int
    return OPTION_KINDS.get(field) is int


def range_values(low: Any, high: Any, count: Any, scale: str, whole: bool) -> tuple[list[Any], list[str]]:
    """`count` values from `low` to `high` (both included) on a log or linear scale, and the problems."""
    problems = []
    if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= MAX_VALUES:
        problems.append(f"A range needs a count from 2 to {MAX_VALUES} values (got {shortened(repr(count))}).")
    if scale not in SCALES:
        problems.append(f"A range's scale is log or linear (got {shortened(repr(scale))}).")
    bounds_ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high))
    if not bounds_ok:
        problems.append(f"A range goes from one number to another (got {shortened(repr(low))} to "
                        f"{shortened(repr(high))}).")
    elif low >= high:
        problems.append(f"A range's low end must be below its high end (got {low:g} to {high:g}).")
    elif scale == "log" and low <= 0:
        problems.append(f"A log range must start above 0 (got {low:g}).")
    if problems:
        return [], problems
    points = np.geomspace(low, high, count) if scale == "log" else np.linspace(low, high, count)
    if whole:
        values = sorted({int(round(p)) for p in points})
        if len(values) < count:
            problems.append(f"{low:g} to {high:g} holds only {len(values)} different whole numbers on that scale, "
                            f"not {count}: ask for fewer.")
        return values, problems
    return [float(f"{p:.6g}") for p in points], problems


def axis_from_values(name: str, values: Sequence[Any], archs: Sequence[str] = (), scale: str | None = None) -> Axis:
    """An axis from typed values (a lesson file, the page's list); SweepError with every problem."""
    kind, field = target(name)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise SweepError([f"{field}: give a list of values (got {shortened(repr(values))})."])
    values = [tuple(v) if isinstance(v, list) else v for v in values]
    if kind == "arch":
        values = [v.lower() if isinstance(v, str) else v for v in values]
    problems = [f"{field}: {p}" for v in values if (p := _check_value(kind, field, v, archs or _option_archs(field)))]
    problems += _count_problems(field, values)
    if problems:
        raise SweepError(problems)
    return Axis(field, kind, tuple(values), scale)


def axis_from_text(name: str, text: Any, archs: Sequence[str] = ()) -> Axis:
    """An axis from text: 'a, b, c' or 'low:high:count[:log|linear]' (a range: linear unless it says log)."""
    kind, field = target(name)
    if not isinstance(text, str) or not text.strip():
        raise SweepError([f"{field}: give at least two values, such as 0.001, 0.01 (got nothing)."])
    if len(text) > 2000:
        raise SweepError([f"{field}: too long ({len(text)} characters; at most 2000)."])
    match = _RANGE.fullmatch(text)
    if match and kind != "arch":
        low, high, count, scale = (part.strip() if part else part for part in match.groups())
        whole = _is_whole(kind, field)
        values, problems = range_values(number_from(low, whole=False), number_from(high, whole=False),
                                        number_from(count, whole=True), (scale or "linear").lower(), whole)
        if problems:
            raise SweepError([f"{field}: {p}" for p in problems])
        return axis_from_values(field, values, archs, scale=(scale or "linear").lower())
    separator = ";" if kind == "option" and OPTION_KINDS.get(field) in (tuple, list) else ","
    parts = [part.strip() for part in text.split(separator)]
    if any(part == "" for part in parts) and len(parts) > 1:
        raise SweepError([f"{field}: an empty value in {shortened(text)!r}; separate values with '{separator}'."])
    return axis_from_values(field, [_typed(kind, field, part) for part in parts], archs)


def is_several(name: str, text: str) -> bool:
    """Whether a flag's text gives several values (a list or a range) rather than the one value every run shares."""
    try:
        kind, field = target(name)
    except SweepError:
        return False
    if not isinstance(text, str):
        return False
    separator = ";" if kind == "option" and OPTION_KINDS.get(field) in (tuple, list) else ","
    return separator in text or (kind != "arch" and _RANGE.fullmatch(text) is not None)


def _count_problems(field: str, values: list[Any]) -> list[str]:
    if len(values) < 2:
        return [f"{field}: a sweep tries at least two values (got {len(values)}); "
                "a single value is an ordinary setting."]
    if len(values) > MAX_VALUES:
        return [f"{field}: at most {MAX_VALUES} values per setting (got {len(values)})."]
    repeated = sorted({link_text(v) for v in values if values.count(v) > 1})
    if repeated:
        return [f"{field}: {', '.join(repeated)} given more than once."]
    return []


def _option_archs(option: str) -> list[str]:
    """The configurable architectures that take `option` (to check a value when no architecture is known yet)."""
    return [name for name, preset in PRESETS.items() if option in preset.default_options][:1]

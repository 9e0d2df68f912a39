"""A setting's value from text, as links and lessons give it, and back: typed values checked in the
settings table's own words (core/fit/config.py SETTINGS, core/nets/presets.py validate_options).

Nothing is ever evaluated: numbers are matched against plain ASCII patterns before int()/float(),
JSON is parsed with NaN/Infinity refused. Booleans: 1/0, true/false, yes/no, on/off. `limit=0`,
`limit=all` or an empty `limit` = all samples. Values fine alone but not together (a one-cycle
schedule with reduce-LR) are dropped by `resolve_clashes`, the latest given first.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from core.fit.config import SETTINGS, ConfigError, TrainConfig
from core.nets.presets import PRESETS, ArchitectureError, get_preset

MAX_VALUE_CHARS = 200
DEFAULT_ARCH = TrainConfig().arch
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")      # lesson names, job ids
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# Option kinds, from the presets' own defaults (hidden -> tuple of ints, dropout -> float, ...).
OPTION_KINDS: dict[str, type] = {key: type(value) for preset in PRESETS.values()
                                 for key, value in preset.default_options.items()}


@dataclass(frozen=True)
class Refusal:
    """One parameter that was not used, and why, in plain words."""

    parameter: str
    message: str

    def __str__(self) -> str:
        return f"{self.parameter}: {self.message}"


def config_from_values(values: Mapping[str, Any]) -> TrainConfig:
    """TrainConfig from partial values: preset settings under them; None is kept (limit None = all)."""
    values = dict(values)
    arch = values.pop("arch", DEFAULT_ARCH)
    try:
        preset = get_preset(arch)
    except ArchitectureError as exc:
        raise ConfigError([str(exc)]) from None
    return TrainConfig(arch=arch, **{**preset.settings, **values})


def shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def with_short_value(message: str, value: Any) -> str:
    """A message with a long value shortened, so a 200-digit number does not fill the page."""
    shown = repr(value)
    return message.replace(shown, shortened(shown)) if len(shown) > 40 else message


def single_text(raw: Any) -> tuple[str | None, str | None]:
    """The one text value of a parameter, or why there is not one."""
    if isinstance(raw, (list, tuple)):
        if len(raw) > 1:
            return None, f"Given {len(raw)} times; give it once."
        raw = raw[0] if raw else ""
    if not isinstance(raw, str):
        return None, f"Must be text (got {type(raw).__name__})."
    if len(raw) > MAX_VALUE_CHARS:
        return None, f"Too long ({len(raw)} characters; at most {MAX_VALUE_CHARS})."
    return raw.strip(), None


def number_from(text: str, whole: bool) -> Any:
    """int or float when `text` is plainly one, else `text` itself (for the setting's own message)."""
    if whole and _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)      # may be inf for 1e999: refused as not finite
    return text


def boolean_from(text: str) -> Any:
    low = text.lower()
    return True if low in _TRUE else False if low in _FALSE else text


def parse_setting(name: str, text: str) -> tuple[Any, str | None]:
    """A setting's value from text, and what is wrong with it (None when fine)."""
    setting = SETTINGS[name]
    if name == "limit" and text.lower() in ("", "0", "all"):
        return None, None
    if setting.choices:
        value: Any = text.lower() if text.lower() in setting.choices else text
    elif setting.kind is bool:
        value = boolean_from(text)
    elif setting.kind in (int, float):
        value = number_from(text, whole=setting.kind is int)
        if isinstance(value, float) and not math.isfinite(value):
            value = text                                     # 1e999: refused in the setting's own words
    else:
        value = text
    problem = setting.problem(value)
    return (None, with_short_value(problem, value)) if problem else (value, None)


def option_value(key: str, text: str) -> Any:
    kind = OPTION_KINDS[key]
    if kind in (tuple, list):
        return tuple(number_from(part.strip(), whole=True) for part in text.split(",")) if text else ()
    if kind is bool:
        return boolean_from(text)
    if kind in (int, float):
        return number_from(text, whole=kind is int)
    return text


def options_json(text: str) -> Any:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number")

    def finite(number: str) -> float:
        value = float(number)
        if not math.isfinite(value):
            raise ValueError(f"{number} is not a finite number")
        return value

    def no_repeats(pairs: list) -> dict:
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} given more than once")
        return {key: tuple(v) if isinstance(v, list) else v for key, v in pairs}

    return json.loads(text, parse_constant=refuse_constant, parse_float=finite, object_pairs_hook=no_repeats)


def _config_problems(values: Mapping[str, Any]) -> list[str]:
    try:
        config_from_values(values)
        return []
    except ConfigError as exc:
        return exc.problems


def without_clashes(values: dict[str, Any], given: dict[str, str], refusals: list[Refusal],
                     keep: tuple[str, ...] = ("arch",)) -> dict[str, Any]:
    """Drop values that are fine alone but not together, the latest given first, saying which and why."""
    problems = _config_problems(values)
    while problems:
        for name in reversed([n for n in given if n in values and n not in keep]):
            trial = {k: v for k, v in values.items() if k != name}
            left = _config_problems(trial)
            if len(left) < len(problems):
                solved = [p for p in problems if p not in left] or problems
                refusals.append(Refusal(given[name], " ".join(solved)))
                values, problems = trial, left
                break
        else:                                                # nothing single helps: keep only what must stay
            for name in [n for n in given if n in values and n not in keep]:
                refusals.append(Refusal(given[name], " ".join(problems)))
                del values[name]
            break
    return values


def resolve_clashes(values: Mapping[str, Any], keep: tuple[str, ...] = ("arch",)) -> tuple[dict, list[Refusal]]:
    """`values` less those that make no valid run together (never those in `keep`), with the refusals."""
    refusals: list[Refusal] = []
    given = {name: name for name in values}
    return without_clashes(dict(values), given, refusals, keep), refusals


def link_text(value: Any) -> str:
    """A value as a link spells it: booleans 1/0, no limit 0, lists comma-separated, floats exactly."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(link_text(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)

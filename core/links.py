"""Settings in links: URL query parameters (all text) <-> typed TrainConfig values, and back.

`settings_from_query` reads what a link asks for and refuses, one `Refusal` per parameter, what
the app would refuse (messages come from the settings table, core/config.py SETTINGS, and
core/presets.py validate_options, so they read the same as everywhere else). Nothing is ever
evaluated: numbers are matched against plain ASCII patterns before int()/float(), JSON is parsed
with NaN/Infinity refused. `query_from_config` gives the parameters for a link to a config, and
`link` puts them on an address. Round trip: settings_from_query(query_from_config(c)).config() == c
(the model name is not carried: `name` in a link is the visitor's name, see PAGE_PARAMETERS).

Parameter spellings: a setting's field name (`batch_size`), its command-line flag (`batch-size`,
`lr`), `arch`, `options` (JSON object) or one option by name (`hidden=256,128`, `dropout=0.2`,
`kernel-size=5`). Booleans: 1/0, true/false, yes/no, on/off. `limit=0`, `limit=all` or an empty
`limit` = all samples.
"""
from __future__ import annotations

import json
import math
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Mapping

from core.config import SETTINGS, ConfigError, TrainConfig
from core.presets import PRESETS, ArchitectureError, get_preset, validate_options
from core.store import StoreError, validate_name

MAX_VALUE_CHARS = 200
PAGE_PARAMETERS = ("job", "lesson", "step", "present", "name", "model")
LINK_SETTINGS = tuple(name for name in SETTINGS if name != "name")   # `name` is the visitor's, not the model's
DEFAULT_ARCH = TrainConfig().arch
MAX_STEP = 999

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")      # lesson names, job ids
VISITOR_NAME = re.compile(r"[^\W_][\w-]{0,23}")                  # letters (any script), digits, '-', '_'
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# Option kinds, from the presets' own defaults (hidden -> tuple of ints, dropout -> float, ...).
OPTION_KINDS: dict[str, type] = {key: type(value) for preset in PRESETS.values()
                                 for key, value in preset.default_options.items()}


def _spellings() -> dict[str, tuple[str, str]]:
    """Every accepted parameter name (lower case) -> (what it is, which one)."""
    names: dict[str, tuple[str, str]] = {p: ("page", p) for p in PAGE_PARAMETERS}
    names.update({"arch": ("arch", "arch"), "options": ("options", "options")})
    for key in OPTION_KINDS:
        names[key] = names[key.replace("_", "-")] = ("option", key)
    for name in LINK_SETTINGS:
        for spelling in (name, name.replace("_", "-"), SETTINGS[name].flag):
            if spelling:
                names[spelling] = ("setting", name)
    return names


SPELLINGS = _spellings()


@dataclass(frozen=True)
class Refusal:
    """One parameter that was not used, and why, in plain words."""

    parameter: str
    message: str

    def __str__(self) -> str:
        return f"{self.parameter}: {self.message}"


@dataclass(frozen=True)
class LinkSettings:
    """What a link asked for: accepted TrainConfig values, accepted page parameters, and refusals.

    values: arch, options and settings by field name (only those given and accepted).
    page:   job (str), lesson (str), step (int), present (bool), name (str), model (str), as given.
    """

    values: dict[str, Any] = field(default_factory=dict)
    page: dict[str, Any] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)

    def config(self) -> TrainConfig:
        """The run this link describes: the preset's own settings with the accepted values on top."""
        return config_from_values(self.values)

    def message(self) -> str:
        """One plain-text message naming each refused parameter ('' when none); show it as text."""
        if not self.refusals:
            return ""
        return "Not used from the link (defaults kept): " + " ".join(str(r) for r in self.refusals)


def config_from_values(values: Mapping[str, Any]) -> TrainConfig:
    """TrainConfig from partial values: preset settings under them; None is kept (limit None = all)."""
    values = dict(values)
    arch = values.pop("arch", DEFAULT_ARCH)
    try:
        preset = get_preset(arch)
    except ArchitectureError as exc:
        raise ConfigError([str(exc)]) from None
    return TrainConfig(arch=arch, **{**preset.settings, **values})


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _problem(message: str, value: Any) -> str:
    """A message with a long value shortened, so a 200-digit number does not fill the page."""
    shown = repr(value)
    return message.replace(shown, _short(shown)) if len(shown) > 40 else message


def _single_text(raw: Any) -> tuple[str | None, str | None]:
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


def _number(text: str, whole: bool) -> Any:
    """int or float when `text` is plainly one, else `text` itself (for the setting's own message)."""
    if whole and _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)      # may be inf for 1e999: refused as not finite
    return text


def _boolean(text: str) -> Any:
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
        value = _boolean(text)
    elif setting.kind in (int, float):
        value = _number(text, whole=setting.kind is int)
        if isinstance(value, float) and not math.isfinite(value):
            value = text                                     # 1e999: refused in the setting's own words
    else:
        value = text
    problem = setting.problem(value)
    return (None, _problem(problem, value)) if problem else (value, None)


def _option_value(key: str, text: str) -> Any:
    kind = OPTION_KINDS[key]
    if kind in (tuple, list):
        return tuple(_number(part.strip(), whole=True) for part in text.split(",")) if text else ()
    if kind is bool:
        return _boolean(text)
    if kind in (int, float):
        return _number(text, whole=kind is int)
    return text


def _options_json(text: str) -> Any:
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


def _page_value(name: str, text: str) -> tuple[Any, str | None]:
    if name == "step":
        value = _number(text, whole=True)
        if isinstance(value, int) and 1 <= value <= MAX_STEP:
            return value, None
        return None, f"Step must be a whole number from 1 to {MAX_STEP} (got {_short(text)!r})."
    if name == "present":
        value = _boolean(text)
        return (value, None) if isinstance(value, bool) else (None, f"present must be 1 or 0 (got {_short(text)!r}).")
    if name == "name":
        if VISITOR_NAME.fullmatch(text):
            return text, None
        return None, (f"A name is 1-24 letters, digits, '-' or '_', starting with a letter or digit "
                      f"(got {_short(text)!r}).")
    if name == "model":
        try:
            return validate_name(text), None
        except StoreError as exc:
            return None, _problem(str(exc), text)
    if PLAIN_NAME.fullmatch(text):                      # job, lesson
        return text, None
    return None, (f"A {name} is named by 1-64 letters, digits, '-' or '_', starting with a letter or digit "
                  f"(got {_short(text)!r}).")


def settings_from_query(params: Mapping[str, Any]) -> LinkSettings:
    """Typed settings and page parameters from URL query parameters; every refusal names its parameter.

    `params` maps names to text or to lists of text (a list of more than one = a repeated key,
    refused). Refused values are dropped; so are values that only clash with each other (a
    one-cycle schedule with reduce-LR), the later one given going first.
    """
    refusals: list[Refusal] = []
    found: dict[tuple[str, str], tuple[str, str]] = {}       # (kind, which) -> (parameter, text)
    clashing: set[tuple[str, str]] = set()
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of names to text (got {type(params).__name__})")
    for key, raw in params.items():
        shown = _short(str(key))
        target = SPELLINGS.get(key.strip().lower()) if isinstance(key, str) else None
        if target is None:
            refusals.append(Refusal(shown, "Unknown parameter: not a setting of Digit Studio."))
            continue
        text, problem = _single_text(raw)
        if problem:
            refusals.append(Refusal(shown, problem))
        elif target in found or target in clashing:          # lr=...&learning_rate=...: neither is used
            other = "another spelling"
            if target in found:
                other, _ = found.pop(target)
                refusals.append(Refusal(other, f"Given more than once (also as {shown})."))
            refusals.append(Refusal(shown, f"Given more than once (also as {other})."))
            clashing.add(target)
        else:
            found[target] = (shown, text)

    values: dict[str, Any] = {}
    page: dict[str, Any] = {}
    given: dict[str, str] = {}                               # field -> parameter, in the order given
    arch_refused = False
    for (kind, which), (shown, text) in found.items():
        if kind == "page":
            value, problem = _page_value(which, text)
            target = page
        elif kind == "setting":
            value, problem = parse_setting(which, text)
            target = values
        elif kind == "arch":
            value = text.lower()
            try:
                get_preset(value)
                problem = None
            except ArchitectureError as exc:
                problem, arch_refused = str(exc), True
            target = values
        else:
            continue                                         # options: below, once the arch is known
        if problem:
            refusals.append(Refusal(shown, problem))
        else:
            target[which] = value
            given[which] = shown
    arch = values.get("arch", DEFAULT_ARCH)
    options = _link_options(found, arch, arch_refused, refusals)
    if options:
        values["options"] = options
        given["options"] = "options"
    values = _without_clashes(values, given, refusals)
    return LinkSettings(values=values, page=page, refusals=refusals)


def _link_options(found: dict, arch: str, arch_refused: bool, refusals: list[Refusal]) -> dict[str, Any]:
    """Architecture options from `options` (JSON) and from one parameter per option, each checked alone."""
    pieces: list[tuple[str, str, Any]] = []                  # (parameter, option key, value)
    if ("options", "options") in found:
        shown, text = found["options", "options"]
        try:
            parsed = _options_json(text) if text else {}
        except ValueError as exc:
            refusals.append(Refusal(shown, f"options must be a JSON object such as {{\"hidden\": [256, 128]}} "
                                           f"({_short(str(exc), 80)})."))
            parsed = {}
        if not isinstance(parsed, dict):
            try:
                validate_options(arch, parsed)
            except ArchitectureError as exc:
                refusals.append(Refusal(shown, _problem(str(exc), parsed)))
            parsed = {}
        pieces += [(shown, str(key), value) for key, value in parsed.items()]
    pieces += [(shown, which, _option_value(which, text))
               for (kind, which), (shown, text) in found.items() if kind == "option"]
    options: dict[str, Any] = {}
    for shown, key, value in pieces:
        if arch_refused:
            refusals.append(Refusal(shown, "Not used: the architecture was refused."))
        elif key in options:
            refusals.append(Refusal(shown, f"Option {key} given more than once."))
            del options[key]
        else:
            try:
                validate_options(arch, {key: value})
                options[key] = value
            except ArchitectureError as exc:
                refusals.append(Refusal(shown, _problem(str(exc), value)))
    return options


def _config_problems(values: Mapping[str, Any]) -> list[str]:
    try:
        config_from_values(values)
        return []
    except ConfigError as exc:
        return exc.problems


def _without_clashes(values: dict[str, Any], given: dict[str, str], refusals: list[Refusal],
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
    return _without_clashes(dict(values), given, refusals, keep), refusals


def link_text(value: Any) -> str:
    """A value as a link spells it: booleans 1/0, no limit 0, lists comma-separated, floats exactly."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(link_text(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def setting_parameter(name: str) -> str:
    """How a link spells a setting: its command-line flag (`lr`, `batch-size`)."""
    return SETTINGS[name].flag or name.replace("_", "-")


def query_from_config(config: TrainConfig, base: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Query parameters for a link to exactly `config`: `base` (page parameters such as lesson, step,
    name; any setting spellings in it are dropped), then arch, the settings that differ from the
    preset's own, and every option in config.options (all of them, so the link pins the network)."""
    params = {str(k): link_text(v) if not isinstance(v, str) else v for k, v in (base or {}).items()
              if not isinstance(k, str) or SPELLINGS.get(k.strip().lower(), ("page",))[0] == "page"}
    params["arch"] = config.arch
    preset = config_from_values({"arch": config.arch})
    for name in LINK_SETTINGS:
        value = getattr(config, name)
        if value != getattr(preset, name):
            params[setting_parameter(name)] = link_text(value)
    for key, value in config.options.items():
        params[key.replace("_", "-")] = link_text(value)
    return params


def link(base_url: str, params: Mapping[str, Any]) -> str:
    """`base_url` with `params` as its query, URL-encoded. Parameters already on `base_url` are kept
    unless `params` gives them again or they are settings (a link's settings all come from `params`)."""
    parts = urllib.parse.urlsplit(base_url)
    new = [(str(k), v if isinstance(v, str) else link_text(v)) for k, v in params.items()]
    given = {k for k, _ in new}
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if k not in given and SPELLINGS.get(k.strip().lower(), ("page",))[0] == "page"]
    query = urllib.parse.urlencode(kept + new, quote_via=urllib.parse.quote, safe=",")
    return urllib.parse.urlunsplit(parts._replace(query=query))

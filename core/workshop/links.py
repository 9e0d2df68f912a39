"""Settings in links: URL query parameters (all text) <-> typed TrainConfig values, and back.

`settings_from_query` reads what a link asks for and refuses, one `Refusal` per parameter, what
the app would refuse (messages come from the settings table, core/fit/config.py SETTINGS, and
core/nets/presets.py validate_options, so they read the same as everywhere else). Nothing is ever
evaluated: numbers are matched against plain ASCII patterns before int()/float(), JSON is parsed
with NaN/Infinity refused. `query_from_config` gives the parameters for a link to a config, and
`link` puts them on an address. Round trip: settings_from_query(query_from_config(c)).config() == c
(the model name is not carried: `name` in a link is the visitor's name, see PAGE_PARAMETERS; nor is a run's
key, core.workshop.run_keys, which only the starter's own address holds).
How one value's text becomes a typed value is core.workshop.setting_text, which lessons use too.

Parameter spellings: a setting's field name (`batch_size`), its command-line flag (`batch-size`,
`lr`), `arch`, `options` (JSON object) or one option by name (`hidden=256,128`, `dropout=0.2`,
`kernel-size=5`).
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Mapping

from core.fit.config import SETTINGS, TrainConfig
from core.nets.presets import ArchitectureError, get_preset, validate_options
from core.store import VISITOR_NAME, StoreError, validate_name
from core.workshop import run_keys
from core.workshop.setting_text import (
    DEFAULT_ARCH,
    OPTION_KINDS,
    PLAIN_NAME,
    Refusal,
    boolean_from,
    config_from_values,
    link_text,
    number_from,
    option_value,
    options_json,
    parse_setting,
    shortened,
    single_text,
    with_short_value,
    without_clashes,
)

PAGE_PARAMETERS = ("job", "lesson", "step", "present", "name", "model", "sweep", "search", "trials", "prune",
                   run_keys.PARAMETER)
PRIVATE_PARAMETERS = (run_keys.PARAMETER,)   # only ever in the starter's own address: no link carries them
VARY_PREFIX = "vary."                          # vary.lr=0.001,0.01: a sweep's values (core.sweeps checks them)
SEARCHES, PRUNERS = ("grid", "random", "tpe"), ("off", "median", "halving")
MAX_TRIALS = 1000
LINK_SETTINGS = tuple(name for name in SETTINGS if name != "name")   # `name` is the visitor's, not the model's
MAX_STEP = 999


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
class LinkSettings:
    """What a link asked for: accepted TrainConfig values, accepted page parameters, and refusals.

    values: arch, options and settings by field name (only those given and accepted).
    page:   job (str), lesson (str), step (int), present (bool), name (str), model (str), sweep (int),
            search (str), trials (int), prune (str), run_key (str), as given; vary ({setting: text}) for a sweep's values.
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


def _page_value(name: str, text: str) -> tuple[Any, str | None]:
    if name == "step":
        value = number_from(text, whole=True)
        if isinstance(value, int) and 1 <= value <= MAX_STEP:
            return value, None
        return None, f"Step must be a whole number from 1 to {MAX_STEP} (got {shortened(text)!r})."
    if name == "present":
        value = boolean_from(text)
        return (value, None) if isinstance(value, bool) else (None, f"present must be 1 or 0 (got {shortened(text)!r}).")
    if name == "name":
        if VISITOR_NAME.fullmatch(text):
            return text, None
        return None, (f"A name is 1-24 letters, digits, '-' or '_', starting with a letter or digit "
                      f"(got {shortened(text)!r}).")
    if name == "model":
        try:
            return validate_name(text), None
        except StoreError as exc:
            return None, with_short_value(str(exc), text)
    if name == "search":
        return (text.lower(), None) if text.lower() in SEARCHES else (
            None, f"search is one of {', '.join(SEARCHES)} (got {shortened(text)!r}).")
    if name == "prune":
        return (text.lower(), None) if text.lower() in PRUNERS else (
            None, f"prune is one of {', '.join(PRUNERS)} (got {shortened(text)!r}).")
    if name == "trials":
        value = number_from(text, whole=True)
        if isinstance(value, int) and 1 <= value <= MAX_TRIALS:
            return value, None
        return None, f"trials must be a whole number from 1 to {MAX_TRIALS} (got {shortened(text)!r})."
    if name == "sweep":
        if text.isdigit() and len(text) < 10:
            return int(text), None
        return None, f"A sweep is named by its number (got {shortened(text)!r})."
    if PLAIN_NAME.fullmatch(text):                      # job, lesson
        return text, None
    return None, (f"A {name} is named by 1-64 letters, digits, '-' or '_', starting with a letter or digit "
                  f"(got {shortened(text)!r}).")


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
        shown = shortened(str(key))
        target = SPELLINGS.get(key.strip().lower()) if isinstance(key, str) else None
        if isinstance(key, str) and key.strip().lower().startswith(VARY_PREFIX) and len(key.strip()) > len(VARY_PREFIX):
            target = ("vary", key.strip().lower()[len(VARY_PREFIX):])
        if target is None:
            refusals.append(Refusal(shown, "Unknown parameter: not a setting of Digit Studio."))
            continue
        text, problem = single_text(raw)
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
        if kind == "vary":                                   # a sweep's values, as text: the Train page checks them
            page.setdefault("vary", {})[which] = text
            continue
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
    values = without_clashes(values, given, refusals)
    return LinkSettings(values=values, page=page, refusals=refusals)


def _link_options(found: dict, arch: str, arch_refused: bool, refusals: list[Refusal]) -> dict[str, Any]:
    """Architecture options from `options` (JSON) and from one parameter per option, each checked alone."""
    pieces: list[tuple[str, str, Any]] = []                  # (parameter, option key, value)
    if ("options", "options") in found:
        shown, text = found["options", "options"]
        try:
            parsed = options_json(text) if text else {}
        except ValueError as exc:
            refusals.append(Refusal(shown, f"options must be a JSON object such as {{\"hidden\": [256, 128]}} "
                                           f"({shortened(str(exc), 80)})."))
            parsed = {}
        if not isinstance(parsed, dict):
            try:
                validate_options(arch, parsed)
            except ArchitectureError as exc:
                refusals.append(Refusal(shown, with_short_value(str(exc), parsed)))
            parsed = {}
        pieces += [(shown, str(key), value) for key, value in parsed.items()]
    pieces += [(shown, which, option_value(which, text))
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
                refusals.append(Refusal(shown, with_short_value(str(exc), value)))
    return options


def setting_parameter(name: str) -> str:
    """How a link spells a setting: its command-line flag (`lr`, `batch-size`)."""
    return SETTINGS[name].flag or name.replace("_", "-")


def query_from_config(config: TrainConfig, base: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Query parameters for a link to exactly `config`: `base` (page parameters such as lesson, step,
    name; any setting spellings in it are dropped), then arch, the settings that differ from the
    preset's own, and every option in config.options (all of them, so the link pins the network)."""
    params = {str(k): link_text(v) if not isinstance(v, str) else v for k, v in (base or {}).items()
              if not isinstance(k, str) or _shareable_page_parameter(k)}
    params["arch"] = config.arch
    preset = config_from_values({"arch": config.arch})
    for name in LINK_SETTINGS:
        value = getattr(config, name)
        if value != getattr(preset, name):
            params[setting_parameter(name)] = link_text(value)
    for key, value in config.options.items():
        params[key.replace("_", "-")] = link_text(value)
    return params


def _shareable_page_parameter(key: str) -> bool:
    """A parameter a link may carry over: a page parameter (or one the app does not know), not a private one."""
    low = key.strip().lower()
    return SPELLINGS.get(low, ("page",))[0] == "page" and low not in PRIVATE_PARAMETERS


def link(base_url: str, params: Mapping[str, Any]) -> str:
    """`base_url` with `params` as its query, URL-encoded. Parameters already on `base_url` are kept
    unless `params` gives them again or they are settings (a link's settings all come from `params`).
    A run's key (PRIVATE_PARAMETERS) is never put on a link, from either."""
    parts = urllib.parse.urlsplit(base_url)
    new = [(str(k), v if isinstance(v, str) else link_text(v)) for k, v in params.items()]
    given = {k for k, _ in new}
    kept = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if k not in given and _shareable_page_parameter(k)]
    new = [(k, v) for k, v in new if k.strip().lower() not in PRIVATE_PARAMETERS]
    query = urllib.parse.urlencode(kept + new, quote_via=urllib.parse.quote, safe=",")
    return urllib.parse.urlunsplit(parts._replace(query=query))

"""The Train page and links: a link's settings put into the widgets (once per link), refusals in one
message, the link to what is on screen, and the lesson step's limits checked when Start is pressed.

A link's settings are applied when the page first sees that link (and again when the link or the
lesson step changes), never on later reruns, so the visitor can change them afterwards.
"""
from __future__ import annotations

import threading
from typing import Any

import streamlit as st

from core.fit import finetune
from core.fit.config import SETTINGS, ConfigError, TrainConfig
from core.nets.presets import validate_options
from core.store import StoreError
from core.workshop.links import SPELLINGS, link, query_from_config, setting_parameter, settings_from_query
from core.workshop.setting_text import DEFAULT_ARCH, Refusal, config_from_values, link_text
from pages.parts import resources, visitor
from pages.parts.lesson_view import LessonAt
from pages.parts.train_state import LINK_GIVEN_KEY, MISSING_KEY, widget_state

SEEN_KEY = "train_link_seen"        # (the link's settings, the lesson step) last applied
STEP_KEY = "train_step_seen"        # the lesson step whose settings were last put into the widgets
MESSAGE_KEY = "train_link_message"
EXPECTED_KEY = "train_expected_run"  # the run last told to the executor (expect_shown)


def _kind(parameter: str) -> str:
    return SPELLINGS.get(parameter.strip().lower(), ("unknown", ""))[0]


def query() -> dict[str, list[str]]:
    """The URL's parameters, each with all its values (a repeated one is refused, not guessed)."""
    return {key: st.query_params.get_all(key) for key in st.query_params}


def apply_link(at: LessonAt | None) -> None:
    """Put a link's settings (and a newly opened step's) into the widgets, once; show what was refused."""
    params = query()
    settings = tuple(sorted((key, tuple(values)) for key, values in params.items() if _kind(key) != "page"))
    step = (at.lesson.name, at.number) if at else None
    if step != st.session_state.get(STEP_KEY):
        st.session_state[STEP_KEY] = step
        if at is not None:
            seed_step(at)
    if settings and (settings, step) != st.session_state.get(SEEN_KEY):
        st.session_state[MESSAGE_KEY] = _apply(params, at)
    st.session_state[SEEN_KEY] = (settings, step)
    if not settings:
        st.session_state.pop(MESSAGE_KEY, None)
    message = st.session_state.get(MESSAGE_KEY)
    if message:
        st.warning("Some settings in this link were not used; their defaults are used instead.",
                   icon=":material/link_off:")
        st.text(message)                         # from the URL: shown as text, never as markdown or HTML


def _apply(params: dict[str, list[str]], at: LessonAt | None) -> str:
    """Set the widgets' state from the link; returns the one message naming each refused parameter ('' if none)."""
    parsed = settings_from_query(params)
    refusals = [r for r in parsed.refusals if _kind(r.parameter) != "page"]   # name, lesson...: reported where used
    values = dict(parsed.values)
    if at is not None:
        values, more = at.step.apply(values)
        refusals += more
    st.session_state.pop(MISSING_KEY, None)
    if values.get("start_from") and at is None:
        st.session_state[LINK_GIVEN_KEY] = dict(values)   # kept for a model chosen in place of a missing one
        whole, more = _from_stored(values)
        refusals += [Refusal(_parameter(params, field), why) for field, why in more]
    else:
        st.session_state.pop(LINK_GIVEN_KEY, None)
        whole = _whole_config(values)
    state, unshown = widget_state(whole)
    refusals += [Refusal(_parameter(params, field), why) for field, why in unshown]
    st.session_state.update(state)
    return "\n".join(str(r) for r in refusals)


def expect_shown(arch: str, options: dict, training: dict) -> None:
    """The run this page shows is the one its visitor is likely to start next (a step just opened, a link's
    settings, or settings chosen by hand while the room waits for "now press Train"): each time it changes, the
    runs' executor is told, and its idle workers warm that kind of run (core.runs.workers.WorkerPool.expect; a
    long run, or one from a stored model, warms nothing). In a thread of its own: on a fresh server that waits
    until the first worker has imported TensorFlow (seconds), and the page, often a room's very first, must not
    (it took 7 s to render instead of 2.5; benchmarks section 19)."""
    try:
        config = TrainConfig(arch=arch, options=options, **training)
    except ConfigError:
        return
    if st.session_state.get(EXPECTED_KEY) == config:
        return
    st.session_state[EXPECTED_KEY] = config
    registry = resources.registry()
    threading.Thread(target=registry.expect, args=(config,), name="expect-run", daemon=True).start()


def _parameter(params: dict[str, list[str]], field: str) -> str:
    """The link's own spelling of setting or option `field` (else its usual one), to name it in a refusal."""
    for key in params:
        if _kind(key) in ("setting", "option", "options", "arch") and SPELLINGS[key.strip().lower()][1] == field:
            return key
    return setting_parameter(field) if field in SETTINGS else field


def _from_stored(values: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Every setting of a run from the stored model values["start_from"], as choosing that model on the page
    gives: its architecture, options and dataset, the fine-tune defaults, then the link's own settings; and
    the link's values that cannot be used, as (field, why). For a model that is not here, the link's settings
    as given: the page warns, chooses another model and puts the link's settings over its defaults."""
    name = values["start_from"]
    try:
        meta = resources.model_store().read_meta(name)
    except StoreError:
        return _whole_config(values), []
    refused = []
    values = dict(values)
    if values.get("arch", meta.arch) != meta.arch:
        refused.append(("arch", f"{name} is a {meta.arch} network: a run that starts from it keeps its "
                                f"architecture (not {values['arch']})."))
    values.pop("arch", None)
    values.pop("options", None)
    try:
        config = finetune.config_for(name, meta, **{k: v for k, v in values.items() if k != "start_from"})
    except ConfigError as exc:
        return _whole_config(values), refused + [("start_from", " ".join(exc.problems))]
    return {"arch": config.arch, "options": dict(config.options),
            **{field: getattr(config, field) for field in SETTINGS}}, refused


def _whole_config(values: dict[str, Any]) -> dict[str, Any]:
    """Every setting of the run `values` describe (the preset's own under them): a link pins them all."""
    try:
        config = config_from_values(values)
    except ConfigError:                          # cannot happen after settings_from_query; keep what was given
        return {"arch": DEFAULT_ARCH, **values}
    return {"arch": config.arch, "options": validate_options(config.arch, config.options),
            **{name: getattr(config, name) for name in SETTINGS}}


def seed_step(at: LessonAt) -> None:
    """A step was opened: every architecture it offers starts at the step's fixed settings and caps."""
    for arch in at.step.allowed_archs:
        values, _ = at.step.apply({"arch": arch})
        state, _ = widget_state(values)
        state.pop("train_arch")
        st.session_state.update(state)


def step_problems(at: LessonAt, values: dict[str, Any]) -> list[str]:
    """Why Start refuses `values` (arch, options, settings) in this step: outside its architectures or caps."""
    step, problems = at.step, []
    if values["arch"] not in step.allowed_archs:
        problems.append(f"This step offers {', '.join(step.allowed_archs)} (not {values['arch']}).")
    for name, cap in (("epochs", step.max_epochs), ("limit", step.max_limit)):
        value = values.get(name)
        if cap is not None and (value is None or value > cap):
            asked = "all samples" if value is None else f"{value:,}"
            problems.append(f"{SETTINGS[name].label}: this step allows at most {cap:,} (you asked for {asked}).")
    for name, value in step.fixed.items():
        if name != "arch" and values.get(name) != value:
            problems.append(f"{name} is fixed to {value} in this step.")
    return problems


def link_query(config: TrainConfig, base: dict[str, Any] | None = None) -> dict[str, str]:
    """query_from_config, plus, for a run from a stored model, each fine-tune setting that is at the preset's
    value (so left out) but not at the fine-tune default a link from a stored model starts from."""
    params = query_from_config(config, base)
    if config.start_from:
        preset = config_from_values({"arch": config.arch})
        for name, default in finetune.FINE_TUNE_DEFAULTS.items():
            value = getattr(config, name)
            if value == getattr(preset, name) and value != default:
                params[setting_parameter(name)] = link_text(value)
    return params


def copy_link_ui(arch: str, options: dict, training: dict, at: LessonAt | None) -> None:
    """The link to the settings on screen (not the model name; in a lesson, to this step), ready to copy."""
    with st.expander("Copy a link to these settings", icon=":material/link:"):
        try:
            config = TrainConfig(arch=arch, options=options, **{**training, "name": None})
        except ConfigError:
            st.caption("Settings the page would refuse make no link: fix them first.")
            return
        base = at.lesson.step_params(at.number) if at else {}
        root = visitor.join_url()[0] or ""       # the address others can open, not this browser's localhost
        st.code(link(f"{root.rstrip('/')}/train", link_query(config, base)), language=None, wrap_lines=True)
        st.caption("Copy it with the button at its right. Whoever opens it starts from these settings.")

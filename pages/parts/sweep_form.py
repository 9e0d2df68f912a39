"""The Train page's sweep: pick settings to vary and their values (a list, or a range with a count on a log or
linear scale), the search and pruning; see how many runs that makes and about how long, then start it.

The settings panel above gives everything the runs share; this part only adds what varies. Every check is
core's (core.sweeps: SweepSpec.check, within a lesson step's caps): problems show before Start, which stays
off until there are none, and nothing is queued.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from core.fit.config import SETTINGS
from core.nets.presets import PRESETS
from core.sweeps.estimate import estimate
from core.sweeps.space import PRUNERS, SEARCH_TITLES, SEARCHES, SweepSpec, max_runs_from_env
from core.sweeps.values import SweepError, axis_from_text, axis_from_values, range_values, target
from core.workshop.setting_text import OPTION_KINDS, link_text
from pages.parts import resources, sweep_state, visitor
from pages.parts.formatting import plain

if TYPE_CHECKING:
    from pages.parts.lesson_view import LessonAt

VARY_KEY = "sweep_vary"
LINK_KEY, LINK_PROBLEMS_KEY = "sweep_link_seen", "sweep_link_problems"
START_KEY = "sweep_start"
SETTING_CHOICES = ("arch", "learning_rate", "batch_size", "epochs", "optimizer", "schedule", "limit",
                   "validation_split", "augment", "early_stopping", "seed")
SUGGESTED = {"learning_rate": "0.0003, 0.001, 0.003", "batch_size": "32, 128", "epochs": "1, 2, 3",
             "limit": "1000, 5000, 10000", "validation_split": "0.1, 0.2", "seed": "0, 1, 2",
             "dropout": "0, 0.2, 0.4", "filters": "16, 32", "kernel_size": "3, 5", "blocks": "1, 2",
             "dense_units": "64, 128", "hidden": "128; 256,128"}
PRUNE_TITLES = {"off": "off", "median": "median rule", "halving": "successive halving"}


def _label(name: str) -> str:
    if name == "arch":
        return "Architecture"
    if name in SETTINGS:
        return SETTINGS[name].label
    return f"{name.replace('_', ' ').capitalize()} (option)"


def _choices(name: str) -> tuple[Any, ...] | None:
    """The values a categorical setting can take (None for numbers)."""
    if name == "arch":
        return tuple(PRESETS)
    if name in SETTINGS and SETTINGS[name].choices:
        return SETTINGS[name].choices
    if name in SETTINGS and SETTINGS[name].kind is bool:
        return (True, False)
    if name == "activation":
        from core.nets.presets import ACTIVATIONS

        return ACTIVATIONS
    if name == "batch_norm":
        return (True, False)
    return None


def values_ui(name: str, archs: tuple[str, ...]):
    """One varied setting's values: categories to tick, or numbers as a list or a range. An Axis, or the
    problems with what was typed."""
    choices = _choices(name)
    key = f"sweep_values_{name}"
    if choices is not None:
        default = {} if key in st.session_state else {"default": list(choices[:2])}
        picked = st.multiselect(_label(name), choices, key=key, **default,
                                format_func=lambda v: {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v)
        return axis_from_values(name, picked, archs)
    how = st.radio(_label(name), ("list", "range"), key=f"{key}_how", horizontal=True,
                   format_func={"list": "a list of values", "range": "a range"}.get)
    if how == "list":
        default = {} if key in st.session_state else {"value": SUGGESTED.get(name, "")}
        text = st.text_input("Values, separated by " + ("';'" if name == "hidden" else "commas"),
                             key=key, label_visibility="collapsed", **default,
                             placeholder="e.g. " + (SUGGESTED.get(name) or "1, 2, 3"))
        return axis_from_text(name, text, archs)
    low_col, high_col = st.columns(2)
    count_col, scale_col = st.columns(2)
    low = low_col.number_input("from", value=0.0001 if name == "learning_rate" else 1.0, format="%g",
                               key=f"{key}_low")
    high = high_col.number_input("to", value=0.01 if name == "learning_rate" else 4.0, format="%g", key=f"{key}_high")
    count = int(count_col.number_input("values", 0, 10_000, 3, key=f"{key}_count"))
    scale = scale_col.selectbox("scale", ("log", "linear"), key=f"{key}_scale",
                                index=0 if name == "learning_rate" else 1)
    whole = (SETTINGS[name].kind is int) if name in SETTINGS else OPTION_KINDS.get(name) is int
    values, problems = range_values(low, high, count, scale, whole)
    if problems:
        raise SweepError([f"{_label(name)}: {p}" for p in problems])
    return axis_from_values(name, values, archs, scale=scale)


def search_ui(runs_in_grid: int, preset: dict[str, Any]) -> tuple[str, int | None, int, str]:
    """(search, trials, seed, pruner) from the search, trials and pruning widgets."""
    if "sweep_search" not in st.session_state:
        st.session_state["sweep_search"] = preset.get("search", "grid")
    search = st.selectbox("Search", SEARCHES,
                            format_func=SEARCH_TITLES.get, key="sweep_search",
                            help="grid: every combination. random: some of them, drawn with the seed. "
                                 "guided: Optuna's TPE, each run chosen from what the earlier ones reached.")
    trials = seed = None
    if search != "grid":
        left, right = st.columns(2)
        if "sweep_trials" not in st.session_state:
            st.session_state["sweep_trials"] = int(preset.get("trials", min(8, max(1, runs_in_grid))))
        trials = int(left.number_input("Runs", 0, 10_000, key="sweep_trials"))
        seed = int(right.number_input("Search seed", 0, 2**31 - 1, 0, key="sweep_seed"))
    if "sweep_prune" not in st.session_state:
        st.session_state["sweep_prune"] = preset.get("prune", "off") != "off"
    prune = st.toggle("Stop hopeless runs early (pruning)", key="sweep_prune", help="At each epoch's end Optuna's pruner compares a run with the others "
                                              "at the same epoch; a run it gives up on is stopped and kept, marked pruned.")
    pruner = "off"
    if prune:
        if "sweep_pruner" not in st.session_state:
            st.session_state["sweep_pruner"] = preset["prune"] if preset.get("prune") in PRUNERS[1:] else "median"
        pruner = st.radio("Pruner", PRUNERS[1:], format_func=PRUNE_TITLES.get, horizontal=True, key="sweep_pruner")
    return search, trials, seed or 0, pruner


def sweep_ui(arch: str, options: dict[str, Any], training: dict[str, Any], at: "LessonAt | None" = None) -> None:
    """The sweep form under the settings panel: what varies, the search, runs and time, Start."""
    step = at.step if at else None
    offered = getattr(step, "sweep", None) or {}
    from_link = any(key.lower().startswith("vary.") for key in st.query_params)
    with st.expander(":material/tune: Try several values (a sweep)", expanded=bool(offered) or from_link):
        spec, problems = _spec_ui(arch, options, training, step, offered)
        if spec is not None and not problems:
            parallel = 1
            st.markdown(f"**{plain(estimate(spec, parallel, _models()).text())}**")
        for problem in problems:
            st.error(plain(problem))
        if st.button("▶ Start the sweep", key=START_KEY, type="primary", disabled=bool(problems) or spec is None,
                     width="stretch"):
            _start(spec, step)
        if spec is not None and not problems:
            _link_ui(spec, at)


def _spec_ui(arch, options, training, step, offered) -> tuple[SweepSpec | None, list[str]]:
    names = [n for n in SETTING_CHOICES if step is None or step.control(n) == "free"]
    names += [o for o in PRESETS[arch].default_options]
    link_problems = _apply_link(names)
    given = [n for n in (offered.get("vary") or {}) if n in names]
    if VARY_KEY not in st.session_state and given:
        st.session_state[VARY_KEY] = given
        for name, values in offered["vary"].items():
            st.session_state[f"sweep_values_{name}"] = (list(values) if _choices(name) is not None
                                                        else ("; " if name == "hidden" else ", ").join(
                                                            link_text(v) for v in values))
    vary = st.multiselect("Settings to vary", names, key=VARY_KEY, format_func=_label,
                          placeholder="Choose the settings whose values to try",
                          help="The settings above stay as they are for every run; these take each value below.")
    axes, problems = [], []
    archs = (arch,)                      # options are offered for the chosen network's own
    for name in vary:
        try:
            axes.append(values_ui(name, archs))
        except SweepError as exc:
            problems += exc.problems
    grid = 1
    for axis in axes:
        grid *= len(axis.values)
    search, trials, seed, prune = search_ui(grid, offered)
    problems = link_problems + problems
    if not vary:
        return None, problems
    if problems:
        return None, problems
    base = {"arch": arch, "options": options, **{k: v for k, v in training.items() if k not in ("name", "start_from")}}
    max_runs = min(max_runs_from_env(), int(offered.get("max_runs", max_runs_from_env())))
    spec = SweepSpec(base, tuple(axes), search, trials, seed, prune, max_runs)
    try:
        spec.check(step)
    except SweepError as exc:
        return spec, exc.problems
    return spec, []


def _apply_link(names: list[str]) -> list[str]:
    """A link's sweep (vary.lr=0.001,0.01&search=tpe&trials=8&prune=median) into the widgets, once per link;
    the link's names that are not settings to vary here, as problems (its values are checked like typed ones)."""
    from core.workshop.links import settings_from_query

    params = {key: st.query_params.get_all(key) for key in st.query_params}
    parsed = settings_from_query(params)
    page = parsed.page
    given = (tuple(sorted((page.get("vary") or {}).items())), page.get("search"), page.get("trials"), page.get("prune"))
    if not page.get("vary") or st.session_state.get(LINK_KEY) == given:
        return list(st.session_state.get(LINK_PROBLEMS_KEY, [])) if page.get("vary") else []
    st.session_state[LINK_KEY] = given
    chosen = []
    problems = [str(r) for r in parsed.refusals if r.parameter in ("search", "trials", "prune")]
    for spelling, text in page["vary"].items():
        try:
            _, field = target(spelling)
        except SweepError as exc:
            problems += [f"vary.{spelling}: {p}" for p in exc.problems]
            continue
        if field not in names:
            problems.append(f"vary.{spelling}: not a setting to vary here.")
            continue
        chosen.append(field)
        if _choices(field) is not None:
            values = [v.strip() for v in text.split(",")]
            known = {str(c).lower(): c for c in _choices(field)} | {"on": True, "off": False, "1": True, "0": False}
            st.session_state[f"sweep_values_{field}"] = [known[v.lower()] for v in values if v.lower() in known]
            problems += [f"vary.{spelling}: {v!r} is not one of {', '.join(map(str, _choices(field)))}."
                         for v in values if v.lower() not in known]
        else:
            st.session_state[f"sweep_values_{field}_how"] = "list"
            st.session_state[f"sweep_values_{field}"] = text
    st.session_state[VARY_KEY] = chosen
    if page.get("search"):
        st.session_state["sweep_search"] = page["search"]
    if page.get("trials"):
        st.session_state["sweep_trials"] = page["trials"]
    if page.get("prune") in PRUNERS[1:]:
        st.session_state["sweep_prune"], st.session_state["sweep_pruner"] = True, page["prune"]
    st.session_state[LINK_PROBLEMS_KEY] = problems
    return problems


def link_params(spec: SweepSpec) -> dict[str, str]:
    """The link parameters of a sweep's values and search (on top of the Train page's settings link)."""
    params = {f"vary.{a.name}": a.text().replace(" ", "") for a in spec.axes}
    if spec.search != "grid":
        params.update(search=spec.search, trials=str(spec.trials))
    if spec.prune != "off":
        params["prune"] = spec.prune
    return params


def _models():
    try:
        return resources.model_store().list()
    except Exception:  # no speeds from past runs: the benchmark figures serve
        return []


def _link_ui(spec: SweepSpec, at) -> None:
    """The link to this sweep (its settings, values and search), ready to copy: a teacher can hand it out."""
    from core.workshop.links import link
    from pages.parts.train_links import link_query

    base = at.lesson.step_params(at.number) if at else {}
    config = spec.config({a.name: a.values[0] for a in spec.axes})
    root = visitor.join_url()[0] or ""
    with st.popover("Copy a link to this sweep", icon=":material/link:", width="stretch"):
        st.code(link(f"{root.rstrip('/')}/train", {**link_query(config, base), **link_params(spec)}), language=None,
                wrap_lines=True)
        st.caption("Whoever opens it finds these settings and values filled in, ready to start.")


def _start(spec: SweepSpec, step) -> None:
    try:
        sweep = sweep_state.sweeps().start(spec, resources.registry(), resources.model_store(), owner=visitor.name(),
                                           step=step)
    except SweepError as exc:
        for problem in exc.problems:
            st.error(plain(problem))
        return
    sweep_state.attach(sweep.id, mine=True)

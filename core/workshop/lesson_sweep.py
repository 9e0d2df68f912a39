"""A lesson step that offers a sweep (`[steps.sweep]` in a lesson file): what it varies and how it searches.

Checked here in the settings table's words, each value alone, so a typo is reported with its file and line;
the sweep as a whole (its run count, the step's caps on every run) is core.sweeps' SweepSpec.check, which
the Train page runs before Start.
"""
from __future__ import annotations

from typing import Any, Callable

from core.fit.config import SETTINGS
from core.nets.presets import PRESETS, ArchitectureError, validate_options
from core.workshop.setting_text import OPTION_KINDS

SWEEP_KEYS = {"vary": dict, "search": str, "trials": int, "prune": str, "max_runs": int}
SEARCHES, PRUNERS = ("grid", "random", "tpe"), ("off", "median", "halving")
UNSWEPT = ("name", "start_from")


def check_sweep(table: Any, archs: list[str], report: Callable[[str, int | None], None],
                line: Callable[[str], int | None]) -> dict[str, Any]:
    """The step's sweep as plain data ({'vary': {setting: [values]}, 'search', 'trials', 'prune', 'max_runs'}),
    every problem reported with its line."""
    if not isinstance(table, dict):
        report("sweep must be a table ([steps.sweep]).", line("sweep"))
        return {}
    sweep: dict[str, Any] = {}
    for key, value in table.items():
        kind = SWEEP_KEYS.get(key)
        if kind is None:
            report(f"sweep: unknown key {key!r} (known: {', '.join(SWEEP_KEYS)}).", line(key))
        elif not isinstance(value, kind) or isinstance(value, bool):
            report(f"sweep: {key} should be {'a table' if kind is dict else kind.__name__}.", line(key))
        else:
            sweep[key] = value
    if sweep.get("search", "grid") not in SEARCHES:
        report(f"sweep: search must be one of {', '.join(SEARCHES)}.", line("search"))
    if sweep.get("prune", "off") not in PRUNERS:
        report(f"sweep: prune must be one of {', '.join(PRUNERS)}.", line("prune"))
    for key in ("trials", "max_runs"):
        if key in sweep and sweep[key] < 1:
            report(f"sweep: {key} must be at least 1.", line(key))
    if sweep.get("search", "grid") != "grid" and "trials" not in sweep:
        report("sweep: a random or tpe search needs trials.", line("search"))
    vary = sweep.get("vary") or {}
    if not vary:
        report("sweep: vary names at least one setting and its values.", line("sweep"))
    sweep["vary"] = {name: _values(name, values, archs, report, line) for name, values in vary.items()}
    return sweep


def _values(name: str, values: Any, archs: list[str], report, line) -> list[Any]:
    where = line(name)
    if not isinstance(values, list) or len(values) < 2:
        report(f"sweep: {name} needs a list of at least two values.", where)
        return []
    if name == "arch":
        for value in values:
            if value not in PRESETS:
                report(f"sweep: unknown architecture {value!r}.", where)
        return values
    if name in SETTINGS and name not in UNSWEPT:
        for value in values:
            problem = SETTINGS[name].problem(value)
            if problem:
                report(f"sweep: {problem}", where)
        return values
    if name in OPTION_KINDS:
        values = [tuple(v) if isinstance(v, list) else v for v in values]
        for arch in archs or [a for a, p in PRESETS.items() if name in p.default_options][:1]:
            for value in values:
                try:
                    validate_options(arch, {name: value})
                except ArchitectureError as exc:
                    report(f"sweep: {exc}", where)
        return values
    report(f"sweep: {name!r} is not a setting a sweep can vary.", where)
    return []

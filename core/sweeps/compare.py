"""Runs side by side, from a sweep's record or from saved models chosen by hand: one row per run with its
settings, figures and curve; which settings vary; what differs between two runs.

The Compare page and the sweep report read these rows, so both show the same runs the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from core.fit.config import SETTINGS
from core.sweeps.values import short_number

if TYPE_CHECKING:
    from core.store import ModelInfo
    from core.sweeps.records import SweepRecord

SHOWN_SETTINGS = tuple(name for name in SETTINGS if name not in ("name", "start_from"))


@dataclass
class RunRow:
    """One run to compare: its label, every setting (arch, options and the settings table's), its figures."""

    label: str
    settings: dict[str, Any]
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    seconds: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    state: str = "finished"
    note: str | None = None
    model: str | None = None


def flat_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A TrainConfig's values in one level: arch, each option by its key, each setting of the table."""
    flat = {"arch": config.get("arch")}
    for key, value in (config.get("options") or {}).items():
        flat[key] = tuple(value) if isinstance(value, list) else value
    flat.update({name: config.get(name) for name in SHOWN_SETTINGS if name in config})
    return flat


def rows_from_sweep(record: "SweepRecord") -> list[RunRow]:
    """The runs of a sweep that have started, in the order the search chose them."""
    rows = []
    for run in record.runs:
        if run.state == "waiting":
            continue
        try:
            settings = flat_settings(record.spec.config(run.params).to_dict())
        except ValueError:
            settings = dict(run.params)
        rows.append(RunRow(f"run {run.number}", settings, run.val_accuracy, run.test_accuracy, run.seconds,
                           list(run.history), run.state, run.note, run.model))
    return rows


def rows_from_models(infos: Iterable["ModelInfo"]) -> list[RunRow]:
    """Saved models as runs (those whose metadata is readable); a model from a sweep says if it was pruned."""
    rows = []
    for info in infos:
        meta = info.meta
        if meta is None:
            continue
        history = [dict(entry) for entry in meta.history]
        val = history[-1].get("val_accuracy") if history else None
        mark = meta.extra.get("sweep") if isinstance(meta.extra.get("sweep"), dict) else {}
        state = "pruned" if mark.get("pruned") else ("stopped" if meta.stopped_early else "finished")
        rows.append(RunRow(info.name, flat_settings({**meta.config, "arch": meta.arch}), val, meta.test_accuracy,
                           meta.train_seconds, history, state, mark.get("pruned_reason"), info.name))
    return rows


def varied(rows: Sequence[RunRow]) -> list[str]:
    """The settings whose values are not the same in every row, in the settings' own order."""
    names: list[str] = []
    for row in rows:
        names += [n for n in row.settings if n not in names]
    return [n for n in names if len({repr(row.settings.get(n)) for row in rows}) > 1]


def differences(first: RunRow, second: RunRow) -> list[tuple[str, Any, Any, bool]]:
    """(setting, first's value, second's, whether they differ) for every setting either has."""
    names = list(dict.fromkeys([*first.settings, *second.settings]))
    return [(n, first.settings.get(n), second.settings.get(n), first.settings.get(n) != second.settings.get(n))
            for n in names]


def importance_input(rows: Sequence[RunRow]) -> list[tuple[dict[str, Any], float | None]]:
    """(varied settings, validation accuracy) of the runs that finished, for core.sweeps.importance."""
    names = varied(rows)
    return [({n: row.settings.get(n) for n in names}, row.val_accuracy) for row in rows if row.state == "finished"]


# --- parallel coordinates: where each run crosses each axis ----------------------------------------------------

FIGURES = ("validation accuracy", "test accuracy", "seconds")


def value_text(value: Any) -> str:
    """A setting's value as a table or an axis shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return short_number(value)
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return "all" if value is None else str(value)


def figure_value(row: RunRow, name: str) -> Any:
    return {"validation accuracy": row.val_accuracy, "test accuracy": row.test_accuracy, "seconds": row.seconds}[name]


def colour_value(row: RunRow, by: str) -> Any:
    """What colours a run's curve when coloured by `by` (a setting, or one of FIGURES): a number, or its text."""
    if by in FIGURES:
        return figure_value(row, by)
    value = row.settings.get(by)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else value_text(value)


def axis_positions(values: Sequence[Any]) -> tuple[list[float | None], list[tuple[float, Any]]]:
    """Each value's place on its axis, 0 (lowest, or first category) to 1 (highest), None where a run has none;
    and the axis's ticks as (place, value). Numbers spread over a factor of ten or more go on a log scale."""
    known = [v for v in values if v is not None]
    numbers = [v for v in known if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if known and len(numbers) == len(known):
        low, high = min(numbers), max(numbers)
        log = low > 0 and high / low >= 10

        def place(v: float) -> float:
            if high == low:
                return 0.5
            if log:
                return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low))
            return (v - low) / (high - low)
        distinct = sorted(set(numbers))
        ticks = distinct if len(distinct) <= 6 else [low, high]
        return [None if v is None else place(v) for v in values], [(place(t), t) for t in ticks]
    categories = sorted({value_text(v) for v in known})
    step = 1 / max(1, len(categories) - 1)
    where = {c: (i * step if len(categories) > 1 else 0.5) for i, c in enumerate(categories)}
    return [None if v is None else where[value_text(v)] for v in values], [(where[c], c) for c in categories]


def axis_text(axis: str, value: Any) -> str:
    """A value as an axis of `axis` labels it: accuracies as percentages, seconds with their unit."""
    if axis.endswith("accuracy") and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if axis == "seconds" and isinstance(value, (int, float)):
        return f"{value:.1f} s"
    return value_text(value)


def parallel_points(rows: Sequence[RunRow], names: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """(one point per run and axis: run, axis, place, value, accuracy, state; the ticks: axis, place, label)
    for the axes `names` then validation and test accuracy and seconds."""
    points, ticks = [], []
    for axis in [*names, *FIGURES]:
        values = [figure_value(r, axis) if axis in FIGURES else r.settings.get(axis) for r in rows]
        if axis in FIGURES and all(v is None for v in values):
            continue
        places, labels = axis_positions(values)
        for row, value, place in zip(rows, values, places):
            if place is not None:
                points.append({"run": row.label, "axis": axis, "place": place, "value": axis_text(axis, value),
                               "accuracy": row.val_accuracy, "state": row.state})
        ticks += [{"axis": axis, "place": p, "label": axis_text(axis, t)} for p, t in labels]
    return points, ticks


def runs_in_box(points: Sequence[dict], box: dict[str, Any] | None) -> set[str] | None:
    """The runs a brushed box keeps ({'axis': [axes], 'place': [low, high]}, as an interval selection gives it):
    on every axis it covers, their place is inside. None when nothing is brushed."""
    if not box or not box.get("place") or not box.get("axis"):
        return None
    places = sorted(float(p) for p in box["place"])
    low, high = places[0], places[-1]
    axes = box["axis"] if isinstance(box["axis"], list) else [box["axis"]]
    kept = {p["run"] for p in points}
    for axis in axes:
        kept &= {p["run"] for p in points if p["axis"] == axis and low - 1e-9 <= p["place"] <= high + 1e-9}
    return kept

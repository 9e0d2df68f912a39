"""Runs side by side, from a sweep's record or from saved models chosen by hand: one row per run with its
settings, figures and curve; which settings vary; what differs between two runs.

The Compare page and the sweep report read these rows, so both show the same runs the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from core.fit.config import SETTINGS

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

"""A saved model's metadata (`<name>.json`): typed, so a wrong type anywhere makes that one entry
unreadable, with the field named, while every other model still lists and loads."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.store.names import VISITOR_NAME


class MetaError(ValueError):
    """A metadata file holds a value of the wrong type; the message names the field."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(data: dict, key: str, check, expected: str, default: Any = None) -> Any:
    """data[key] if present and accepted by `check`, `default` if absent; otherwise a MetaError."""
    if key not in data:
        return default
    value = data[key]
    if not check(value):
        raise MetaError(f"'{key}' should be {expected}, not {json.dumps(value)[:60]}")
    return value


@dataclass(frozen=True)
class TestMetrics:
    """A model's figures on its dataset's test set."""

    __test__ = False  # not a pytest test class, despite its name

    accuracy: float
    loss: float | None = None
    precision: tuple[float, ...] = ()
    recall: tuple[float, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()
    images: int | None = None   # how many test images the figures are on (a stopped run: a sample); None: all

    @classmethod
    def from_json(cls, data: Any) -> "TestMetrics":
        if not isinstance(data, dict):
            raise MetaError(f"'test_metrics' should be an object, not {json.dumps(data)[:60]}")
        accuracy = _field(data, "accuracy", lambda v: _number(v) and 0 <= v <= 1, "a number from 0 to 1")
        if accuracy is None:
            raise MetaError("'test_metrics' has no 'accuracy'")
        numbers = lambda v: isinstance(v, list) and all(_number(x) for x in v)  # noqa: E731
        matrix = lambda v: isinstance(v, list) and all(  # noqa: E731
            isinstance(row, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in row) for row in v)
        return cls(float(accuracy),
                   _field(data, "loss", lambda v: v is None or _number(v), "a number"),
                   tuple(_field(data, "precision", numbers, "a list of numbers", [])),
                   tuple(_field(data, "recall", numbers, "a list of numbers", [])),
                   tuple(tuple(row) for row in _field(data, "confusion", matrix, "a matrix of counts", [])),
                   _field(data, "images", lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)
                                                                 and v > 0), "a whole number of images"))

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "loss": self.loss, "precision": list(self.precision),
                "recall": list(self.recall), "confusion": [list(row) for row in self.confusion],
                "images": self.images}


def _history_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and all(isinstance(k, str) and _number(v) for k, v in entry.items())


@dataclass(frozen=True)
class ModelMeta:
    """Everything stored about a saved model besides its weights; written in one place (ModelStore.save)."""

    arch: str
    dataset: str = "mnist"
    config: dict[str, Any] = field(default_factory=dict)       # TrainConfig.to_dict() of the run
    history: tuple[dict[str, float], ...] = ()                 # one entry per epoch: loss, accuracy, val_...
    test_metrics: TestMetrics | None = None
    parameters: int | None = None
    created: str = ""
    created_unix: float = 0.0
    train_seconds: float | None = None
    stopped_early: bool = False
    note: str | None = None
    author: str | None = None                                  # the visitor who trained it (a plain name)
    extra: dict[str, Any] = field(default_factory=dict)        # any other stored keys, kept as they are

    FIELDS = ("arch", "dataset", "config", "history", "test_metrics", "parameters", "created", "created_unix",
              "train_seconds", "stopped_early", "note", "author")

    @property
    def test_accuracy(self) -> float | None:
        return self.test_metrics.accuracy if self.test_metrics else None

    @classmethod
    def from_json(cls, data: Any) -> "ModelMeta":
        """Typed metadata from a parsed JSON file; old files lack fields (defaults), bad values raise MetaError."""
        if not isinstance(data, dict):
            raise MetaError("the file is not a JSON object")
        text = lambda v: isinstance(v, str)  # noqa: E731
        metrics = _field(data, "test_metrics", lambda v: True, "")
        return cls(
            arch=_field(data, "arch", text, "text", "unknown"),
            dataset=_field(data, "dataset", text, "text", "mnist"),
            config=_field(data, "config", lambda v: isinstance(v, dict), "an object", {}),
            history=tuple(_field(data, "history", lambda v: isinstance(v, list) and all(map(_history_entry, v)),
                                 "a list of per-epoch numbers", [])),
            test_metrics=None if metrics is None else TestMetrics.from_json(metrics),
            parameters=_field(data, "parameters", lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
                              "a whole number"),
            created=_field(data, "created", text, "text", ""),
            created_unix=float(_field(data, "created_unix", _number, "a number", 0.0)),
            train_seconds=_field(data, "train_seconds", lambda v: v is None or (_number(v) and v >= 0),
                                 "a number of seconds"),
            stopped_early=_field(data, "stopped_early", lambda v: isinstance(v, bool), "true or false", False),
            note=_field(data, "note", lambda v: v is None or isinstance(v, str), "text"),
            author=_field(data, "author", lambda v: v is None or (isinstance(v, str) and VISITOR_NAME.fullmatch(v)),
                          "a plain name (1-24 letters, digits, '-' or '_')"),
            extra={k: v for k, v in data.items() if k not in cls.FIELDS and k != "name"},
        )

    def to_json(self, name: str) -> dict[str, Any]:
        data = {key: getattr(self, key) for key in self.FIELDS}
        data["history"] = list(self.history)
        data["test_metrics"] = self.test_metrics.to_json() if self.test_metrics else None
        return {**self.extra, **data, "name": name}


@dataclass
class ModelInfo:
    """One listed model: its metadata, or the error that stops it from loading."""

    name: str
    path: Path
    meta: ModelMeta | None = None
    error: str | None = None

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.test_accuracy if self.meta else None

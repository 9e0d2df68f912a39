"""The one place pages read a saved model's metadata.

Works on core.store's typed ModelMeta (attributes) and on an older plain dict alike, and
never trusts a value's type: a page shows "?" or leaves a figure out rather than crash.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _get(meta: Any, key: str) -> Any:
    if meta is None:
        return None
    if isinstance(meta, Mapping):
        return meta.get(key)
    return getattr(meta, key, None)


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def arch(meta: Any) -> str:
    value = _get(meta, "arch")
    return value if isinstance(value, str) and value else "?"


def dataset(meta: Any) -> str:
    """The dataset the model was trained on; older files, saved before there was a choice, mean MNIST."""
    value = _get(meta, "dataset")
    return value if isinstance(value, str) and value else "mnist"


def config(meta: Any) -> dict[str, Any]:
    """The TrainConfig of the run that made the model, as a dict ({} when unknown)."""
    value = _get(meta, "config")
    return dict(value) if isinstance(value, Mapping) else {}


def history(meta: Any) -> list[dict[str, Any]]:
    """One dict per epoch (loss, accuracy, val_loss, val_accuracy...); entries that are not dicts left out."""
    value = _get(meta, "history")
    return [dict(entry) for entry in value if isinstance(entry, Mapping)] if isinstance(value, (list, tuple)) else []


def test_accuracy(meta: Any) -> float | None:
    metrics = _get(meta, "test_metrics")
    return _number(_get(metrics, "accuracy"))


def parameters(meta: Any) -> int | None:
    value = _get(meta, "parameters")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def train_seconds(meta: Any) -> float | None:
    return _number(_get(meta, "train_seconds"))


def created(meta: Any) -> str:
    value = _get(meta, "created")
    return value if isinstance(value, str) else ""


def stopped_early(meta: Any) -> bool:
    return _get(meta, "stopped_early") is True

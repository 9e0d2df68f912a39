"""Saved models: `<name>.keras` plus `<name>.json` metadata, written atomically.

A model is listed only once its metadata exists, and the metadata is written last,
so a crash mid-save never leaves a half-written model listed.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"
STORE_ENV = "DIGIT_STUDIO_MODELS"
DEFAULT_MODEL = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class StoreError(RuntimeError):
    """A model cannot be saved, found or loaded; the message says which and why."""


def validate_name(name: str) -> str:
    """Model names are plain file stems: letters, digits, '-', '_', '.', no path tricks."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name or name.endswith(".keras"):
        raise StoreError(
            f"Invalid model name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit."
        )
    return name


@dataclass
class ModelInfo:
    """One listed model: its metadata, or the error that stops it from loading."""

    name: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.get("test_metrics", {}).get("accuracy")


def _atomic_write(path: Path, write) -> None:
    """Write through a hidden temporary file in the same folder, then rename over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a saved model is an ordinary file
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelStore:
    """A folder of saved models (default `models/`, or $DIGIT_STUDIO_MODELS); the shipped default is always found."""

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root or os.environ.get(STORE_ENV) or SHIPPED_DIR)
        self._lock = threading.Lock()

    def _dir_for(self, name: str) -> Path:
        if name == DEFAULT_MODEL and not (self.root / f"{name}.json").exists():
            return SHIPPED_DIR
        return self.root

    def paths(self, name: str) -> tuple[Path, Path]:
        """The .keras and .json paths of `name`."""
        folder = self._dir_for(validate_name(name))
        return folder / f"{name}.keras", folder / f"{name}.json"

    def exists(self, name: str) -> bool:
        return self.paths(name)[1].exists()

    def read_meta(self, name: str) -> dict[str, Any]:
        model_path, meta_path = self.paths(name)
        if not meta_path.exists():
            raise StoreError(f"No model named {name!r} in {self.root}.")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"The metadata of {name!r} ({meta_path.name}) is unreadable: {exc}") from exc
        if not isinstance(meta, dict):
            raise StoreError(f"The metadata of {name!r} ({meta_path.name}) is not a JSON object.")
        if not model_path.exists():
            raise StoreError(f"{name!r} has metadata but its model file {model_path.name} is missing.")
        if not zipfile.is_zipfile(model_path):  # a .keras file is a zip archive; cheap to check
            raise StoreError(f"{model_path.name} is not a valid .keras file (damaged or truncated).")
        return meta

    def list(self) -> list[ModelInfo]:
        """Every listed model, newest first, the default first of all; broken ones carry an error."""
        names = {p.stem for p in self.root.glob("*.json") if not p.name.startswith(".")}
        if (SHIPPED_DIR / f"{DEFAULT_MODEL}.json").exists():
            names.add(DEFAULT_MODEL)
        infos = []
        for name in names:
            try:
                validate_name(name)
                infos.append(ModelInfo(name, self.paths(name)[0], self.read_meta(name)))
            except StoreError as exc:
                infos.append(ModelInfo(name, self.root / f"{name}.keras", error=str(exc)))
        infos.sort(key=lambda i: (i.name != DEFAULT_MODEL, -_created(i)))
        return infos

    def unique_name(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`... whichever is free."""
        validate_name(base)
        name, n = base, 1
        while self.exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def save(self, name: str, model, meta: dict[str, Any]) -> Path:
        """Save model then metadata, each atomically; returns the .keras path."""
        validate_name(name)
        self.root.mkdir(parents=True, exist_ok=True)
        model_path, meta_path = self.root / f"{name}.keras", self.root / f"{name}.json"
        with self._lock:
            _atomic_write(model_path, lambda tmp: model.save(tmp))
            text = json.dumps({**meta, "name": name}, indent=2, default=_jsonable)
            _atomic_write(meta_path, lambda tmp: tmp.write_text(text))
        return model_path

    def load(self, name: str):
        """Load a model with safe_mode=True; any failure becomes a StoreError naming the file."""
        import keras

        model_path, _ = self.paths(name)
        self.read_meta(name)
        try:
            return keras.saving.load_model(model_path, safe_mode=True, compile=False)
        except Exception as exc:
            raise StoreError(f"Model {name!r} ({model_path.name}) could not be loaded: {exc}") from exc

    def delete(self, name: str) -> None:
        """Remove a saved model; the shipped default cannot be deleted."""
        if name == DEFAULT_MODEL:
            raise StoreError("The shipped default model cannot be deleted.")
        model_path, meta_path = self.paths(name)
        if not meta_path.exists() and not model_path.exists():
            raise StoreError(f"No model named {name!r} in {self.root}.")
        meta_path.unlink(missing_ok=True)  # unlist first, then remove the weights
        model_path.unlink(missing_ok=True)


def _created(info: ModelInfo) -> float:
    return float(info.meta.get("created_unix", 0.0))


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

"""Saved models: `<name>.keras` plus `<name>.json` metadata, written atomically (and `<name>.replay.npz`,
the run's snapshots, when it has them; `<name>.eval.npz` and `<name>.map.npz`, figures kept once made, see
core.store.kept).

A model is listed once its metadata exists, and the metadata is written last, so a crash
mid-save never leaves a half-written model listed as healthy: a model file without metadata
is listed as broken (so it can be deleted), and temporary files of killed saves are swept.
The metadata's types are core.store.schema; the names it accepts, core.store.names.
"""
from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import tempfile
import threading
import zipfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from core.store.kept import EVALUATION_SUFFIX, keep_evaluation
from core.store.names import VISITOR_NAME, StoreError, validate_name
from core.store.schema import ModelInfo, ModelMeta

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "models"
STORE_ENV = "DIGIT_STUDIO_MODELS"
DEFAULT_MODEL = "default"
REPLAY_SUFFIX = ".replay.npz"  # a run's snapshots, saved beside its model
MAP_SUFFIX = ".map.npz"  # a t-SNE map of the test set, kept beside its model (core.explain.projector)


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


class KerasFileBytes:
    """A model as the bytes of its .keras file (made with Keras' own saving); ModelStore.save writes it like a
    model. A run makes it while the model is tested (core.fit.training); a Ray node sends it to the server."""

    def __init__(self, data: bytes):
        self.data = data

    @classmethod
    def of(cls, model) -> "KerasFileBytes":
        """Keras' own .keras writer (saving_lib.save_model, which `model.save` calls for a path ending in .keras)
        into memory: no temporary file to leave behind when the process is killed mid-save (a second Ctrl-C),
        and a third quicker than through a file."""
        from keras.src.saving import saving_lib

        buffer = io.BytesIO()
        saving_lib.save_model(model, buffer)
        return cls(buffer.getvalue())

    def save(self, path) -> None:
        Path(path).write_bytes(self.data)


class ModelStore:
    """A folder of saved models (default `models/`, or $DIGIT_STUDIO_MODELS); the shipped default is always found.

    Choosing a name and saving happen under a lock that holds across threads and processes
    (an flock on `.lock` in the folder), so two runs finishing at once never overwrite each other.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root or os.environ.get(STORE_ENV) or SHIPPED_DIR)
        self._thread_lock = threading.Lock()

    @contextmanager
    def locked(self, wait: bool = True):
        """Hold the store's lock (threads and processes); yields False if `wait` is False and it is taken."""
        if not self._thread_lock.acquire(blocking=wait):
            yield False
            return
        try:
            self._ensure_root()
            with open(self.root / ".lock", "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _ensure_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"The model store {self.root} is a file, not a folder: set {STORE_ENV} to a folder.")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"The model store {self.root} cannot be created ({exc.strerror}).") from None

    def _dir_for(self, name: str) -> Path:
        if name == DEFAULT_MODEL and not (self.root / f"{name}.json").exists():
            return SHIPPED_DIR
        return self.root

    def paths(self, name: str) -> tuple[Path, Path]:
        """The .keras and .json paths of `name`."""
        folder = self._dir_for(validate_name(name))
        return folder / f"{name}.keras", folder / f"{name}.json"

    def exists(self, name: str) -> bool:
        model_path, meta_path = self.paths(name)
        return meta_path.exists() or model_path.exists()

    def read_meta(self, name: str) -> ModelMeta:
        """The typed metadata of `name`; StoreError saying why if it or its model file is unusable."""
        model_path, meta_path = self.paths(name)
        if not meta_path.exists():
            if model_path.exists():
                raise StoreError(f"{model_path.name} has no metadata (a save that was interrupted?); delete it.")
            raise StoreError(f"No model named {name!r} in {self.root}.")
        try:
            meta = ModelMeta.from_json(json.loads(meta_path.read_text()))
        except (OSError, ValueError) as exc:  # MetaError and JSON errors are ValueErrors
            raise StoreError(f"The metadata of {name!r} ({meta_path.name}) is unreadable: {exc}.") from exc
        if not model_path.exists():
            raise StoreError(f"{name!r} has metadata but its model file {model_path.name} is missing.")
        problem = _model_file_problem(model_path)
        if problem:
            raise StoreError(f"{model_path.name} {problem}")
        return meta

    def list(self) -> list[ModelInfo]:
        """Every model, newest first, the default first of all; broken ones (and stray files) carry an error."""
        self.sweep()
        if self.root.is_file():
            raise StoreError(f"The model store {self.root} is a file, not a folder: set {STORE_ENV} to a folder.")
        files = list(self.root.glob("*.json")) + list(self.root.glob("*.keras")) if self.root.is_dir() else []
        names = {p.stem for p in files if not p.name.startswith(".")}
        if (SHIPPED_DIR / f"{DEFAULT_MODEL}.json").exists():
            names.add(DEFAULT_MODEL)
        infos = []
        for name in names:
            try:
                validate_name(name)
                infos.append(ModelInfo(name, self.paths(name)[0], self.read_meta(name)))
            except StoreError as exc:
                infos.append(ModelInfo(name, self.root / f"{name}.keras", error=str(exc)))
        infos.sort(key=lambda i: (i.name != DEFAULT_MODEL, -(i.meta.created_unix if i.meta else 0.0), i.name))
        return infos

    def sweep(self) -> list[str]:
        """Remove the temporary files of saves that were killed (only when no save is running)."""
        if not self.root.is_dir():
            return []
        removed = []
        with self.locked(wait=False) as got_it:
            if not got_it:
                return []
            for path in self.root.glob(".*.*"):
                if path.name != ".lock" and path.suffix in (".keras", ".json", ".npz") and path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path.name)
        return removed

    def _free_name(self, base: str) -> str:
        name, n = base, 1
        while self.exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def unique_name(self, base: str) -> str:
        """`base`, or `base-2`, `base-3`... whichever is free now (save_new reserves it for good)."""
        validate_name(base)
        return self._free_name(base)

    def save(self, name: str, model, meta: ModelMeta, *, new: bool = False, replay=None,
             evaluation: tuple | None = None) -> str:
        """Save model (a Keras model, or anything whose .save(path) writes a .keras file, like KerasFileBytes),
        replay (a core.store.snapshots.Replay or its bytes, if any) then metadata, each atomically, under the
        store lock; returns the name used. `evaluation`: (dataset name, core.nets.evaluation.Evaluation of
        its whole test set), kept beside the model (core.store.kept) for the Mistakes page.

        With `new`, `name` is a base: the first free of `name`, `name-2`, ... is chosen and
        written under the same lock, so concurrent savers never pick the same name.
        """
        replay_bytes = replay if replay is None or isinstance(replay, bytes) else replay.to_bytes()
        validate_name(name)
        if not isinstance(meta, ModelMeta):
            raise TypeError("meta must be a ModelMeta")
        with self.locked():
            if new:
                name = self._free_name(name)
            model_path, meta_path = self.root / f"{name}.keras", self.root / f"{name}.json"
            _atomic_write(model_path, lambda tmp: model.save(tmp))
            for suffix in (MAP_SUFFIX, EVALUATION_SUFFIX):  # made for the weights saved before
                (self.root / f"{name}{suffix}").unlink(missing_ok=True)
            replay_path = self.root / f"{name}{REPLAY_SUFFIX}"
            if replay_bytes is None:
                replay_path.unlink(missing_ok=True)  # a model saved again without one: no stale replay
            else:
                _atomic_write(replay_path, lambda tmp: tmp.write_bytes(replay_bytes))
            if evaluation is not None:
                keep_evaluation(model_path, *evaluation)
            text = json.dumps(meta.to_json(name), indent=2, default=_jsonable)
            _atomic_write(meta_path, lambda tmp: tmp.write_text(text))
        return name

    def replay_path(self, name: str) -> Path:
        return self._dir_for(validate_name(name)) / f"{name}{REPLAY_SUFFIX}"

    def map_path(self, name: str) -> Path:
        """Where the t-SNE map of `name` is kept: in this store's folder (the shipped default's too, so a
        read-only install still has a writable place for it when the store is elsewhere)."""
        return self.root / f"{validate_name(name)}{MAP_SUFFIX}"

    def load_replay(self, name: str):
        """The snapshots saved with `name` (a core.store.snapshots.Replay), or None if it has none;
        StoreError if the file is damaged."""
        from core.store.snapshots import Replay

        path = self.replay_path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"The replay of {name!r} ({path.name}) cannot be read ({exc.strerror}).") from None
        try:
            return Replay.from_bytes(data)
        except ValueError as exc:
            raise StoreError(f"The replay of {name!r} ({path.name}) is unreadable: {exc}.") from None

    def load(self, name: str):
        """Load a model with safe_mode=True; any failure becomes a StoreError naming the file."""
        import keras

        model_path, _ = self.paths(name)
        self.read_meta(name)
        try:
            return keras.saving.load_model(model_path, safe_mode=True, compile=False)
        except Exception as exc:
            raise StoreError(f"Model {name!r} ({model_path.name}) could not be loaded: {exc}") from exc

    def set_author(self, name: str, author: str | None) -> None:
        """Record who trained `name` in its metadata (rewritten atomically under the store lock)."""
        if author is not None and not (isinstance(author, str) and VISITOR_NAME.fullmatch(author)):
            raise StoreError(f"An author is a plain name of 1-24 letters, digits, '-' or '_' (got {str(author)[:40]!r}).")
        with self.locked():
            meta = self.read_meta(name)
            if meta.author == author:
                return
            _, meta_path = self.paths(name)
            text = json.dumps(dataclasses.replace(meta, author=author).to_json(name), indent=2, default=_jsonable)
            _atomic_write(meta_path, lambda tmp: tmp.write_text(text))

    def annotate(self, name: str, key: str, value) -> None:
        """Keep `value` (plain JSON data) under `key` in `name`'s metadata, beside what training wrote
        (e.g. the sweep a model belongs to); rewritten atomically under the store lock."""
        if key in ModelMeta.FIELDS or key == "name":
            raise StoreError(f"{key!r} is written by training, not annotated.")
        with self.locked():
            meta = self.read_meta(name)
            _, meta_path = self.paths(name)
            changed = dataclasses.replace(meta, extra={**meta.extra, key: value})
            text = json.dumps(changed.to_json(name), indent=2, default=_jsonable)
            _atomic_write(meta_path, lambda tmp: tmp.write_text(text))

    def delete(self, name: str) -> None:
        """Remove a saved model, or a broken entry listed under any file name; not the shipped default."""
        if name == DEFAULT_MODEL:
            raise StoreError("The shipped default model cannot be deleted.")
        if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
            raise StoreError(f"No model named {name!r} in {self.root}.")
        model_path, meta_path = self.root / f"{name}.keras", self.root / f"{name}.json"
        if not meta_path.exists() and not model_path.exists():
            raise StoreError(f"No model named {name!r} in {self.root}.")
        with self.locked():
            meta_path.unlink(missing_ok=True)  # unlist first, then remove the weights
            model_path.unlink(missing_ok=True)
            (self.root / f"{name}{REPLAY_SUFFIX}").unlink(missing_ok=True)
            for suffix in (MAP_SUFFIX, EVALUATION_SUFFIX):
                (self.root / f"{name}{suffix}").unlink(missing_ok=True)


@lru_cache(maxsize=256)
def _checked_model_file(path: str, mtime: float, size: int) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names:
                return "is a zip file but not a Keras model (it has no config.json)."
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError):
        return "is not a valid .keras file (damaged or truncated)."
    except ValueError:
        return "is not a valid .keras file: its config.json is damaged."
    if not isinstance(config, dict) or "class_name" not in config:
        return "is not a valid .keras file: its config.json describes no model."
    if '"__lambda__"' in json.dumps(config):
        return "holds Python code (a Lambda layer) that safe mode refuses to load."
    return None


def _model_file_problem(path: Path) -> str | None:
    """Why a .keras file cannot be a loadable model, without importing Keras; None if it looks sound."""
    try:
        stat = path.stat()
    except OSError:
        return "is missing."
    return _checked_model_file(str(path), stat.st_mtime, stat.st_size)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

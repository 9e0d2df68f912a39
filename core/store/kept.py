"""Figures kept beside a model because they take seconds to make, valid only for that model file's bytes.

Each kept file is an .npz with a `key`: the model file's SHA-256 and what else the figures were made for
(dataset, number of images, settings). A model saved again under the same name, or a file replaced by
hand, gives another key, and the kept figures are made afresh. What is kept:
- `<name>.eval.npz`: the test-set evaluation (core.nets.evaluation), written when a run is tested
  (core.fit.training) or a page or `python -m core evaluate` first tests a model; the Mistakes page
  reads it without importing TensorFlow. The shipped default's is shipped beside it.
- `<name>.map.npz`: a t-SNE map of the test set (core.explain.projector).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from core.nets.evaluation import Evaluation

EVALUATION_SUFFIX = ".eval.npz"
EVALUATION_FORMAT = 1


def model_digest(model_file: Path) -> str:
    """SHA-256 of a model file's bytes (a few ms for the shipped default's 1.3 MB)."""
    with open(model_file, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_kept(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays kept at `path` if they were made for `key`; None if there are none, they are stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as kept:
            if str(kept["key"]) != key:
                return None
            return {name: kept[name] for name in kept.files if name != "key"}
    except (OSError, KeyError, ValueError, EOFError):
        return None


def write_kept(path: Path, key: str, **arrays) -> bool:
    """Keep `arrays` at `path` for `key` (written whole, then renamed); False if the folder is not writable."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, key=np.str_(key), **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False


def evaluation_path(model_file: Path) -> Path:
    """Where a model's test-set evaluation is kept: beside its file."""
    return model_file.with_name(model_file.name.removesuffix(".keras") + EVALUATION_SUFFIX)


def evaluation_key(model_file: Path, dataset: str, count: int) -> str:
    return f"v{EVALUATION_FORMAT}:{model_digest(model_file)}:{dataset}:{count}"


def read_evaluation(model_file: Path, dataset: str, labels: np.ndarray) -> Evaluation | None:
    """The evaluation kept for this model file on `dataset`'s test set (whose `labels` are given), or None."""
    try:
        key = evaluation_key(model_file, dataset, len(labels))
    except OSError:
        return None
    kept = read_kept(evaluation_path(model_file), key)
    if kept is None or "probabilities" not in kept:
        return None
    probabilities = kept["probabilities"].astype(np.float32)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        return None
    return Evaluation(np.asarray(labels), probabilities)


def keep_evaluation(model_file: Path, dataset: str, evaluation: Evaluation) -> bool:
    """Keep `evaluation` (of the whole test set of `dataset`) beside `model_file`; False if it could not be."""
    try:
        key = evaluation_key(model_file, dataset, len(evaluation.labels))
    except OSError:
        return False
    return write_kept(evaluation_path(model_file), key, probabilities=evaluation.probabilities.astype(np.float32))

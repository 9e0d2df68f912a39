"""Bundled MNIST: load once per process, check it, split it, normalise it."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_PATH = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"
MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
EXPECTED = {
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}


class DatasetError(RuntimeError):
    """The MNIST file is missing or damaged; the message says what to do."""


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays as uint8, exactly as stored."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Split:
    """Training and validation arrays, float32 (N, 28, 28, 1) in [0, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


_cache: dict[Path, Mnist] = {}
_lock = threading.Lock()


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check(arrays: dict[str, np.ndarray], source: str) -> Mnist:
    for key, (shape, dtype) in EXPECTED.items():
        if key not in arrays:
            raise DatasetError(f"{source} has no array '{key}'. {_fix_hint()}")
        arr = arrays[key]
        if arr.shape != shape or arr.dtype != dtype:
            raise DatasetError(
                f"{source}: '{key}' is {arr.dtype}{arr.shape}, expected {np.dtype(dtype)}{shape}. {_fix_hint()}"
            )
    return Mnist(*(arrays[k] for k in EXPECTED))


def _fix_hint() -> str:
    return f"Restore data/mnist.npz from the repository (git checkout -- data/mnist.npz); its sha256 is {MNIST_SHA256}."


def _read(path: Path, check_hash: bool) -> Mnist:
    if check_hash and _sha256(path) != MNIST_SHA256:
        raise DatasetError(f"{path} is corrupt (sha256 mismatch). {_fix_hint()}")
    try:
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zip or pickle errors: all mean "damaged file"
        raise DatasetError(f"{path} cannot be read ({exc}). {_fix_hint()}") from exc
    return _check(arrays, str(path))


def _download() -> Mnist:
    """Fallback for a checkout without the bundled file: Keras' own download."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:
        raise DatasetError(
            f"data/mnist.npz is missing and MNIST could not be downloaded ({exc}). {_fix_hint()}"
        ) from exc
    return _check(
        {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, "Keras' MNIST download"
    )


def load_mnist(path: Path | str | None = None) -> Mnist:
    """The full MNIST, loaded and checked once per process (sha256 for the bundled file)."""
    path = Path(path) if path is not None else DATA_PATH
    with _lock:
        if path not in _cache:
            if path.exists():
                _cache[path] = _read(path, check_hash=path == DATA_PATH)
            elif path == DATA_PATH:
                _cache[path] = _download()
            else:
                raise DatasetError(f"{path} does not exist. {_fix_hint()}")
        return _cache[path]


def split(mnist: Mnist, validation_split: float = 0.1, seed: int = 0, limit: int | None = None) -> Split:
    """Shuffle the training set with `seed`, keep at most `limit` samples, hold out a validation share."""
    order = np.random.default_rng(seed).permutation(len(mnist.y_train))
    if limit is not None:
        order = order[:limit]
    n_val = int(round(len(order) * validation_split))
    val, train = order[:n_val], order[n_val:]
    x = mnist.x_train
    return Split(normalise(x[train]), mnist.y_train[train], normalise(x[val]), mnist.y_train[val])


def mnist_test(mnist: Mnist) -> tuple[np.ndarray, np.ndarray]:
    """Normalised test images and labels."""
    return normalise(mnist.x_test), mnist.y_test

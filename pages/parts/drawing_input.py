"""The user's drawing read the one way the app reads it: the canvas (or an upload) prepared as MNIST's
digits were made (core.data.preprocess), or the reason it cannot be read; and a digest to tell whether a
drawing changed since it was last handed to a run."""
from __future__ import annotations

import hashlib

import numpy as np

from core.data.preprocess import ImageError, Preprocessed, canvas_to_mnist


def read_drawing(raw) -> tuple[Preprocessed | None, ValueError | None]:
    """(the prepared drawing, None), or (None, why): a TooSmallError, a BlankImageError or an ImageError."""
    try:
        return canvas_to_mnist(raw), None
    except (ImageError, ValueError) as exc:  # BlankImageError and TooSmallError are ValueErrors too
        return None, exc


def digest(image: np.ndarray | None) -> bytes | None:
    """A short fingerprint of a 28x28 drawing (None for none)."""
    return None if image is None else hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()

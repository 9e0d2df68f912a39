"""The handwriting-font test set: digits written in two dozen handwriting fonts, drawn on the canvas and
preprocessed as the Draw page does (data/font-digits.npz, made by data/make_font_digits.py).

A second set of drawings this project never trains on, beside the stroke-redrawn MNIST test digits: the
shapes come from people's handwriting turned into fonts, not from MNIST.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FONT_DIGITS_PATH = Path(__file__).resolve().parents[2] / "data" / "font-digits.npz"
ARRAYS = ("x", "y", "font", "form")


@dataclass(frozen=True)
class FontDigits:
    """The set as network inputs: x float32 (N, 28, 28, 1) in [0, 1], labels, and each image's font and form."""

    x: np.ndarray
    labels: np.ndarray
    fonts: np.ndarray
    forms: np.ndarray


def load(path: Path | str = FONT_DIGITS_PATH) -> FontDigits:
    """The font set, checked: one 28x28 uint8 image, a digit label, a font name and a form per drawing."""
    with np.load(path) as npz:
        missing = [key for key in ARRAYS if key not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks {', '.join(missing)}; rebuild it with `make font-digits`.")
        x, y, fonts, forms = (npz[key] for key in ARRAYS)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8 or not len(x) == len(y) == len(fonts) == len(forms):
        raise ValueError(f"{path} is damaged ({x.dtype}{x.shape} images); rebuild it with `make font-digits`.")
    return FontDigits((x.astype(np.float32) / 255)[..., None], y.astype(np.int64), fonts, forms)

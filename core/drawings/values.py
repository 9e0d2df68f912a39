"""What one kept drawing is, and the checks on every value a user can give (label, name, images)."""
from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field

import numpy as np

SIDE = 28
MAX_CANVAS_BYTES = 5 * 2**20
MAX_CANVAS_SIDE = 4096
_AUTHOR = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PNG = b"\x89PNG\r\n\x1a\n"
DRAWINGS_ENV = "DIGIT_STUDIO_DRAWINGS"


class DrawingsError(RuntimeError):
    """The drawings cannot be read or written; the message says which file, why, and what to do."""


class InvalidDrawingError(DrawingsError, ValueError):
    """A value a user gave (label, name, image, id) is refused; nothing was written."""


class DamagedDatabaseError(DrawingsError):
    """The database file is not SQLite, is truncated or damaged, or belongs to another program."""


def damaged(path, why: str) -> DamagedDatabaseError:
    return DamagedDatabaseError(
        f"The drawings database {path} is damaged or is not a drawings database ({why}). Move it aside "
        f"(for example: mv {path} {path}.damaged) and a new, empty one is created; "
        f"or set {DRAWINGS_ENV} to another file.")


def validate_label(label) -> int:
    """A digit 0-9 as an int (a single-digit string is accepted, for CSV files and the command line)."""
    if isinstance(label, str) and len(label.strip()) == 1 and label.strip() in "0123456789":
        return int(label.strip())
    if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)) and 0 <= label <= 9:
        return int(label)
    raise InvalidDrawingError(f"Label must be a whole number from 0 to 9 (got {label!r}).")


def validate_author(name) -> str | None:
    """A short plain name (letters, digits, '-', '_'; up to 32) or None; blank counts as None."""
    if name is None or (isinstance(name, str) and not name.strip()):
        return None
    if isinstance(name, str) and _AUTHOR.match(name.strip()):
        return name.strip()
    raise InvalidDrawingError(f"Name must be 1-32 letters, digits, '-' or '_' (got {str(name)[:40]!r}).")


def validate_ids(ids) -> list[int]:
    """One id or an iterable of them, as ints."""
    if isinstance(ids, (int, np.integer, str, bytes)) or not hasattr(ids, "__iter__"):
        ids = [ids]
    ids = list(ids)
    for value in ids:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise InvalidDrawingError(f"Drawing ids are whole numbers (got {value!r}).")
    return [int(v) for v in ids]


def network_input_bytes(image) -> bytes:
    """A 28x28 network input (floats in [0, 1] as core.data.preprocess makes them, or uint8) -> 784 raw uint8 bytes."""
    array = np.asarray(image)
    if array.shape == (SIDE, SIDE, 1):
        array = array[..., 0]
    if array.shape != (SIDE, SIDE):
        raise InvalidDrawingError(f"The network input must be 28x28 pixels (got an array of shape {array.shape}).")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidDrawingError("The network input holds NaN or infinite values.")
        array = np.rint(np.clip(array, 0.0, 1.0) * 255)
    elif array.dtype != np.uint8:
        raise InvalidDrawingError(f"The network input must be uint8 or floats in [0, 1] (got {array.dtype}).")
    return array.astype(np.uint8).tobytes()


def canvas_png(canvas) -> bytes | None:
    """The original drawing as PNG bytes: PNG bytes as they are, or an (H, W[, 1|3|4]) uint8 array encoded."""
    if canvas is None:
        return None
    if isinstance(canvas, (bytes, bytearray, memoryview)):
        data = bytes(canvas)
        if not data.startswith(_PNG):
            raise InvalidDrawingError("The canvas image must be PNG bytes or an image array.")
    else:
        from PIL import Image

        array = np.asarray(canvas)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise InvalidDrawingError(
                f"The canvas must be a uint8 gray, RGB or RGBA image (got {array.dtype}{array.shape}).")
        if max(array.shape[:2]) > MAX_CANVAS_SIDE or min(array.shape[:2]) < 1:
            raise InvalidDrawingError(
                f"The canvas is {array.shape[1]}x{array.shape[0]} pixels; at most {MAX_CANVAS_SIDE} a side.")
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        data = buffer.getvalue()
    if len(data) > MAX_CANVAS_BYTES:
        raise InvalidDrawingError(
            f"The canvas image is {len(data) / 2**20:.1f} MB; the limit is {MAX_CANVAS_BYTES // 2**20} MB.")
    return data


def record(label, image, canvas=None, *, author=None, model=None, predicted=None, confidence=None,
           created_unix: float | None = None) -> tuple:
    """Check and encode one drawing's values: the row DrawingStore writes (label, author, created_unix,
    model, predicted, confidence, image, canvas). Raises InvalidDrawingError naming the bad value."""
    label = validate_label(label)
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= 100 or not model.isprintable()):
        raise InvalidDrawingError(f"Model name must be printable text of 1-100 characters (got {model!r}).")
    if predicted is not None:
        predicted = validate_label(predicted)
    if confidence is not None:
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
                or not 0.0 <= float(confidence) <= 1.0:
            raise InvalidDrawingError(f"Confidence must be a number from 0 to 1 (got {confidence!r}).")
        confidence = float(confidence)
    created = time.time() if created_unix is None else float(created_unix)
    return (label, validate_author(author), created, model, predicted, confidence,
            network_input_bytes(image), canvas_png(canvas))


@dataclass(frozen=True, eq=False)  # eq=False: two drawings are the same only if they are one object
class Drawing:
    """One kept drawing: the network input, its label, who drew it, when, and what the model said then."""

    id: int
    label: int
    image: np.ndarray = field(repr=False)  # (28, 28) uint8, white ink on black: exactly what the network was given
    author: str | None
    created_unix: float
    model: str | None = None
    predicted: int | None = None
    confidence: float | None = None
    has_canvas: bool = False
    canvas_png: bytes | None = field(default=None, repr=False)  # the original; only get() and list(canvas=True)

    @property
    def created(self) -> str:
        """Local time, as the model store writes it: 2025-01-31 14:05:09."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_unix))

    @property
    def correct(self) -> bool | None:
        """Whether the model that saw it read it right; None if no prediction was kept."""
        return None if self.predicted is None else self.predicted == self.label

    def network_input(self) -> np.ndarray:
        """float32 (28, 28) in [0, 1], ready for core.nets.predict.predict_digit."""
        return self.image.astype(np.float32) / 255.0

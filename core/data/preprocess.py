"""Any drawing or photo -> a 28x28 MNIST-style network input.

MNIST digits were made by fitting each digit's ink into a 20x20 box (aspect kept,
anti-aliased) and pasting it into a 28x28 field with its centre of mass at the
centre. A model trained on MNIST only works on drawings treated the same way, so
this module repeats those steps and keeps the intermediate images for display.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

MNIST_SIZE = 28
DIGIT_BOX = 20
NOISE_FLOOR = 0.2  # ink below this fraction of the strongest ink is paper noise
SPECK_FRACTION = 0.02  # ink blobs smaller than this fraction of the largest are dust
INK_LEVEL = 0.2  # a pixel this far from the background counts as ink
MIN_INK_PIXELS = 8  # fewer ink pixels than this is "nothing drawn"
MIN_MARK_FRACTION = 0.08  # ink spanning less than this share of the picture both ways is a dot, not a digit
MAX_UPLOAD_SIDE = 4096
ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class BlankImageError(ValueError):
    """No ink found: nothing to predict."""


class TooSmallError(BlankImageError):
    """Ink found, but far too small to be a digit (a dot, a tick): nothing worth predicting.

    A BlankImageError, so a caller that only knows "nothing to predict" still refuses it;
    `mark` and `picture` are (height, width) in pixels, for a message that names them.
    """

    def __init__(self, mark: tuple[int, int], picture: tuple[int, int]):
        self.mark, self.picture = mark, picture
        super().__init__(
            f"The mark is too small to read as a digit: {mark[1]} x {mark[0]} pixels in a "
            f"{picture[1]} x {picture[0]} picture. Draw it larger, or crop the picture closer to the digit."
        )


class ImageError(ValueError):
    """Not an image / unreadable / too large."""


@dataclass(frozen=True)
class Preprocessed:
    """The network input plus the steps that led to it, in order, for display."""

    image: np.ndarray  # (28, 28) float32 in [0, 1], white ink on black
    steps: dict[str, np.ndarray]  # "ink", "cropped", "scaled", "centred"


def _as_float_array(image) -> np.ndarray:
    """PIL image or array -> float32 array in [0, 1] with 2 (gray) or 3 dims."""
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image = image.convert("RGBA")
        elif image.mode not in ("L", "RGB", "F"):
            image = image.convert("RGB")
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array.astype(np.float32) * np.float32(1 / 255)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        top = 255 if array.max(initial=0) <= 255 else np.iinfo(array.dtype).max
        return array.astype(np.float32) / np.float32(top)
    if np.issubdtype(array.dtype, np.floating):
        array = np.nan_to_num(array.astype(np.float32))
        if array.max(initial=0) > 1:
            array = array / np.float32(255)
        return np.clip(array, 0, 1)
    raise ImageError(f"Unsupported image data type {array.dtype}.")


def _border(plane: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels of a 2-D plane."""
    return np.concatenate([plane[0], plane[-1], plane[1:-1, 0], plane[1:-1, -1]])


def _gray_to_ink(gray: np.ndarray) -> np.ndarray:
    """Grayscale -> ink, taking the dominant border value as the background."""
    background = float(np.median(_border(gray)))
    if background >= 0.5:  # dark ink on light paper
        ink = (background - gray) / max(background, 1e-6)
    else:  # light ink on a dark background
        ink = (gray - background) / max(1 - background, 1e-6)
    return np.clip(ink, 0, 1, out=ink)


def to_ink(image) -> np.ndarray:
    """Any RGBA/RGB/grayscale array or PIL image -> float32 2-D ink map in [0,1] (1 = ink).

    A canvas with a transparent background is ink where it is opaque, whatever
    the stroke colour. Otherwise the image is made grayscale and the background
    is the dominant border value, so either polarity works.
    """
    array = _as_float_array(image)
    if array.size == 0:
        raise ImageError("The image is empty.")
    if array.ndim == 2:
        return _gray_to_ink(array)
    if array.ndim != 3 or array.shape[2] > 4:
        raise ImageError(f"Expected a 2-D grayscale or (h, w, 1-4) image, got shape {array.shape}.")
    channels = array.shape[2]
    if channels in (1, 3):
        return _gray_to_ink(array[..., 0] if channels == 1 else array @ _LUMA)
    alpha = array[..., -1]
    gray = array[..., 0] if channels == 2 else array[..., :3] @ _LUMA
    if np.median(_border(alpha)) < 0.5:  # transparent background: strokes are the opaque part
        return np.ascontiguousarray(alpha)
    if alpha.min() < 1:  # composite the few see-through pixels over the paper's own colour
        paper = float(np.median(gray[alpha >= 0.5]))
        gray = gray * alpha + paper * (1 - alpha)
    return _gray_to_ink(gray)


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Zero faint noise and blobs far smaller than the largest, so dust does not widen the box."""
    ink[ink < NOISE_FLOOR] = 0
    labels, count = ndimage.label(ink > 0, structure=np.ones((3, 3), bool))
    if count > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        specks = sizes < SPECK_FRACTION * sizes.max()
        specks[0] = False
        ink[specks[labels]] = 0
    return ink


def _fit_box(cropped: np.ndarray, box: int = DIGIT_BOX) -> np.ndarray:
    """Scale so the longer side is `box` pixels, aspect kept, anti-aliased."""
    height, width = cropped.shape
    scale = box / max(height, width)
    new_h = max(1, round(height * scale))
    new_w = max(1, round(width * scale))
    resized = Image.fromarray(cropped).resize((new_w, new_h), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def _paste_centred(scaled: np.ndarray, size: int = MNIST_SIZE) -> np.ndarray:
    """Paste into a size x size field so the centre of mass lands on (size/2, size/2).

    The shift is the rounded centre-of-mass offset, as MNIST did, clamped so no
    ink falls off the field.
    """
    height, width = scaled.shape
    total = float(scaled.sum())
    row_com = float(scaled.sum(axis=1) @ np.arange(height)) / total
    col_com = float(scaled.sum(axis=0) @ np.arange(width)) / total
    top = min(max(round(size / 2 - row_com), 0), size - height)
    left = min(max(round(size / 2 - col_com), 0), size - width)
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + height, left : left + width] = scaled
    return field


def canvas_to_mnist(image) -> Preprocessed:
    """Drawing or photo -> MNIST-style 28x28 input plus the intermediate steps.

    Raises BlankImageError when (almost) no ink, and TooSmallError when the ink spans
    less than MIN_MARK_FRACTION of the picture in both directions: scaled up to 20 px,
    a dot would become a confident "0".
    """
    ink = to_ink(image)
    if np.count_nonzero(ink >= INK_LEVEL) < MIN_INK_PIXELS:
        raise BlankImageError("Nothing drawn yet: draw a digit (or upload one) to get a prediction.")
    ink = _drop_specks(ink / ink.max())
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    mark = (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))
    if mark[0] < MIN_MARK_FRACTION * ink.shape[0] and mark[1] < MIN_MARK_FRACTION * ink.shape[1]:
        raise TooSmallError(mark, ink.shape)
    cropped = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scaled = _fit_box(cropped)
    centred = _paste_centred(scaled)
    centred /= max(float(centred.max()), 1e-6)
    steps = {"ink": ink, "cropped": cropped, "scaled": scaled, "centred": centred}
    return Preprocessed(image=centred, steps=steps)


def _integer_mode_to_rgba(img: Image.Image) -> Image.Image:
    """16/32-bit grayscale -> 8-bit RGBA, stretched to its own range."""
    array = np.asarray(img, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
    return Image.fromarray(scaled.astype(np.uint8)).convert("RGBA")


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG, GIF, BMP, WEBP or JPEG header without decoding; None if unknown.

    A few hundred kilobytes of PNG can claim 20000 x 20000 pixels: the size is checked
    before anything is decompressed, and named in the refusal.
    """
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            kind = data[12:16]
            if kind == b"VP8X":
                return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
            if kind == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if kind == b"VP8 ":
                width, height = struct.unpack("<HH", data[26:30])
                return width & 0x3FFF, height & 0x3FFF
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The frame size from a JPEG's first start-of-frame marker."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _check_size(width: int, height: int) -> None:
    if max(width, height) > MAX_UPLOAD_SIDE or min(width, height) < 1:
        raise ImageError(
            f"The image is {width}x{height} pixels; it must be at most {MAX_UPLOAD_SIDE} pixels per side."
        )


def load_image_bytes(data: bytes, max_bytes: int = 5 * 2**20) -> np.ndarray:
    """Decode an uploaded PNG/JPEG into an RGBA uint8 array.

    Raises ImageError with a clear message for too-large files, non-images, or
    absurd dimensions (read from the header first, so a decompression bomb is
    refused for its size before it is opened). Phone photos are turned upright
    from their EXIF tag.
    """
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageError(f"The file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB.")
    size = header_size(data)
    if size is not None:
        _check_size(*size)
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # a header this module does not parse
        raise ImageError(f"The image is too large to open safely ({exc}); "
                         f"it must be at most {MAX_UPLOAD_SIDE} pixels per side.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError("This file is not an image we can read (use PNG or JPEG).") from exc
    with img:
        if img.format not in ACCEPTED_FORMATS:
            raise ImageError(f"Unsupported image format {img.format}: use PNG or JPEG.")
        _check_size(*img.size)
        try:
            img.load()
            img = ImageOps.exif_transpose(img)
            rgba = _integer_mode_to_rgba(img) if img.mode.startswith("I") else img.convert("RGBA")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageError("The image is damaged or truncated and cannot be decoded.") from exc
    return np.asarray(rgba, dtype=np.uint8).copy()

"""What-if: the same input moved, turned, resized, thickened or thinned, or preprocessed with one step
skipped, and what the model answers then."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from core.explain.graph import ExplainError, graph_for, probabilities

ABLATIONS = ("no centring", "no 20x20 scaling", "no anti-aliasing", "not inverted")
FULL = "full preprocessing"


@dataclass(frozen=True)
class WhatIf:
    """A changed input and the model's answer to it."""

    image: np.ndarray  # (H, W) float32 in [0, 1] (H, W, C for colour inputs)
    probabilities: np.ndarray
    predicted: int
    confidence: float


def _plane(image) -> np.ndarray:
    """One image ((H, W), (H, W, 1) or (1, H, W, 1); uint8 or float) as a 2-D float32 plane."""
    array = np.asarray(image)
    plane = array.reshape(array.shape[-3:-1]) if array.ndim >= 3 and array.size == np.prod(array.shape[-3:-1]) \
        else array
    if plane.ndim != 2:
        raise ExplainError(f"Expected one 2-D image, got an array of shape {array.shape}.")
    return plane.astype(np.float32) / np.float32(255) if plane.dtype == np.uint8 else plane.astype(np.float32)


def _pen(pixels: int) -> np.ndarray:
    """A round footprint `pixels` wide on each side of the centre (radius 1: the full 3x3 square)."""
    offsets = np.arange(-pixels, pixels + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= pixels * pixels + pixels


def change_thickness(image, pixels: int) -> np.ndarray:
    """Thicken strokes by `pixels` (grey dilation) or thin them for negative `pixels` (grey erosion)."""
    plane = _plane(image)
    if pixels == 0:
        return plane.copy()
    grow = ndimage.grey_dilation if pixels > 0 else ndimage.grey_erosion
    return grow(plane, footprint=_pen(abs(int(pixels))), mode="constant", cval=0.0)


def move(image, dx: float = 0.0, dy: float = 0.0, degrees: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Shift by (dx right, dy down) pixels, rotate anticlockwise by `degrees` and scale by `scale` about the
    centre, in one bilinear resampling (integer shifts alone move pixels exactly)."""
    plane = _plane(image)
    if scale <= 0:
        raise ExplainError(f"Scale must be positive, got {scale}.")
    if dx == 0 and dy == 0 and degrees == 0 and scale == 1:
        return plane.copy()
    theta = np.deg2rad(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    # output (row, col) -> input (row, col): undo the shift, then the rotation and scaling about the centre
    inverse = np.array([[cos, sin], [-sin, cos]]) / scale
    centre = (np.array(plane.shape, dtype=np.float64) - 1) / 2
    offset = centre - inverse @ (centre + np.array([dy, dx], dtype=np.float64))
    moved = ndimage.affine_transform(plane, inverse, offset=offset, order=1, mode="constant", cval=0.0)
    return np.clip(moved, 0, 1)


def transform(image, dx: float = 0.0, dy: float = 0.0, degrees: float = 0.0, scale: float = 1.0,
              thickness: int = 0) -> np.ndarray:
    """The what-if input: strokes thickened/thinned first, then moved, turned and resized."""
    return move(change_thickness(image, thickness), dx, dy, degrees, scale)


def answer(model, image) -> WhatIf:
    """The model's answer to one image, with the image (shape-checked against the model)."""
    graph = graph_for(model)
    x = graph.as_batch(image)
    probs = probabilities(model, x)
    predicted = int(np.argmax(probs))
    picture = x[0, ..., 0] if x.shape[-1] == 1 else x[0]
    return WhatIf(picture, probs, predicted, float(probs[predicted]))


def what_if(model, image, dx: float = 0.0, dy: float = 0.0, degrees: float = 0.0, scale: float = 1.0,
            thickness: int = 0) -> WhatIf:
    """`transform` the input and re-predict."""
    graph_for(model).as_batch(image)  # shape error before any work
    return answer(model, transform(image, dx, dy, degrees, scale, thickness))


def _resize(picture: np.ndarray, height: int, width: int, resample) -> np.ndarray:
    resized = Image.fromarray(np.ascontiguousarray(picture, dtype=np.float32)).resize((width, height), resample)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def _place(picture: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    field = np.zeros((size, size), np.float32)
    field[top:top + picture.shape[0], left:left + picture.shape[1]] = picture
    return field


def _unit_top(picture: np.ndarray) -> np.ndarray:
    return picture / max(float(picture.max()), 1e-6)


def _where_drawn(steps: dict, scaled: np.ndarray, size: int) -> np.ndarray:
    """The 20x20-fitted digit placed where it sat on the canvas instead of at the centre of mass."""
    ink = steps["ink"]
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    centre_row = (rows[0] + rows[-1] + 1) / 2 / ink.shape[0] * size
    centre_col = (cols[0] + cols[-1] + 1) / 2 / ink.shape[1] * size
    top = int(min(max(round(centre_row - scaled.shape[0] / 2), 0), size - scaled.shape[0]))
    left = int(min(max(round(centre_col - scaled.shape[1] / 2), 0), size - scaled.shape[1]))
    return _place(scaled, top, left, size)


def _box_size(height: int, width: int, box: int) -> tuple[int, int]:
    factor = box / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def preprocessing_ablations(canvas) -> dict[str, np.ndarray]:
    """The app's 28x28 input for a raw drawing ("full preprocessing") and with each step of ABLATIONS skipped.

    no centring: the 20x20 digit stays where it was drawn; no 20x20 scaling: the digit keeps its size
    relative to the canvas; no anti-aliasing: nearest-neighbour shrinking; not inverted: dark ink on
    light paper, as a photo of pen on paper would come in. Raises preprocess.BlankImageError when blank.
    """
    from core.data import preprocess

    prepared = preprocess.canvas_to_mnist(canvas)
    steps, size, box = prepared.steps, prepared.image.shape[0], getattr(preprocess, "DIGIT_BOX", 20)
    cropped, scaled = steps["cropped"], steps["scaled"]
    canvas_side = max(steps["ink"].shape)
    natural = _box_size(*cropped.shape, min(size, max(1, round(max(cropped.shape) * size / canvas_side))))
    aliased = _resize(cropped, *_box_size(*cropped.shape, box), Image.Resampling.NEAREST)
    return {
        FULL: prepared.image,
        "no centring": _unit_top(_where_drawn(steps, scaled, size)),
        "no 20x20 scaling": _unit_top(preprocess._paste_centred(
            _resize(cropped, *natural, Image.Resampling.LANCZOS), size)),
        "no anti-aliasing": _unit_top(preprocess._paste_centred(aliased, size)),
        "not inverted": 1 - prepared.image,
    }


def ablation_answers(model, canvas) -> dict[str, WhatIf]:
    """`preprocessing_ablations` of a raw drawing, each re-predicted by the model."""
    return {name: answer(model, image) for name, image in preprocessing_ablations(canvas).items()}

"""Small images shown large: nearest-neighbour enlarging, so every pixel stays a crisp square."""
from __future__ import annotations

import numpy as np
from PIL import Image


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel becomes a scale x scale block (nearest neighbour), in the image's own dtype.

    The browser would blur a 28x28 image stretched to 200 px; pixels the network sees
    should look like pixels.
    """
    image = np.asarray(image)
    return np.kron(image, np.ones((scale, scale), dtype=image.dtype)) if scale > 1 else image


def to_pil(image: np.ndarray, scale: int = 1) -> Image.Image:
    """A float [0, 1] gray image -> 8-bit PIL image, enlarged `scale` times with visible pixels."""
    gray = np.clip(np.asarray(image, dtype=np.float32) * 255, 0, 255).round().astype(np.uint8)
    return Image.fromarray(enlarge(gray, scale))  # uint8, 2-D: mode "L"


def fit_pil(image: np.ndarray, side: int) -> Image.Image:
    """A float [0, 1] gray image of any size, scaled (nearest) so its longer side is `side` px."""
    pil = to_pil(image)
    factor = side / max(pil.width, pil.height)
    size = (max(1, round(pil.width * factor)), max(1, round(pil.height * factor)))
    return pil.resize(size, Image.Resampling.NEAREST)

"""The drawing canvas: the one place that calls st_canvas, so tests can replace it.

AppTest cannot drive a custom component; tests monkeypatch `drawing_canvas`
with a function that returns a known RGBA image (or None for a blank canvas).
"""
from __future__ import annotations

import numpy as np

CANVAS_SIZE = 280


def drawing_canvas(*, stroke_width: int, key: str) -> np.ndarray | None:
    """A 280x280 canvas, white ink on black; the drawing as an RGBA uint8 array, or None before any stroke."""
    # Imported here: the component registers itself on import, which needs a running Streamlit.
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#ffffff",
        background_color="#000000",
        height=CANVAS_SIZE,
        width=CANVAS_SIZE,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
    return result.image_data

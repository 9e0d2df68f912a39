"""The drawing canvas and its controls: the one place that calls st_canvas, so tests can replace it.

AppTest cannot drive a custom component; tests monkeypatch `drawing_canvas`
with a function that returns a known RGBA image (or None for a blank canvas).

Phones: streamlit-drawable-canvas takes its size in CSS pixels and cannot learn
the screen's width, so the page picks one of two sizes. A phone is told by its
User-Agent ("Mobi", as MDN recommends) or by `?phone=1` (`?phone=0` turns it
off); the choice is kept in the session. The component's undo lives in a toolbar
that only hover reveals, so Undo is also a plain button that works by touch.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

CANVAS_SIZE = 280
# 16 px page margins: a 320 px canvas fits any phone 352 px wide or more, and leaves a
# strip beside it where a thumb can still scroll the page (the canvas itself never scrolls it).
PHONE_CANVAS_SIZE = 320
DEFAULT_PEN = 20
PHONE_PARAM = "phone"
SMALL_SCREEN = "canvas_small_screen"  # session: True/False once decided
LATEST = "canvas_latest"  # session: {"key", "objects"}: what the canvas last reported
UNDO = "canvas_undo"  # session: {"key", "revision", "objects", "before"}: the drawing the canvas was reset to
REVISION_FIELD = "digitStudioRevision"  # makes each reset a new initial_drawing, so the component reloads it
BOX_KEY = "drawing_canvas_box"
# Fixed text, never user input. The canvas's own layers already refuse touch scrolling;
# this covers the whole component (its border and the hidden toolbar over its top edge).
TOUCH_CSS = f"<style>.st-key-{BOX_KEY} {{ touch-action: none; }}</style>"


def looks_like_phone(user_agent: str) -> bool:
    """Phones' browsers put 'Mobi' in their User-Agent (Mobile Safari, Chrome's '... Mobile ...'); tablets don't."""
    return "Mobi" in user_agent


def small_screen() -> bool:
    """Whether to lay the canvas out for a phone: `?phone=1|0` if given, else the browser's User-Agent."""
    choice = st.query_params.get(PHONE_PARAM)
    if choice in ("1", "0"):
        st.session_state[SMALL_SCREEN] = choice == "1"
    if SMALL_SCREEN not in st.session_state:
        st.session_state[SMALL_SCREEN] = looks_like_phone(st.context.headers.get("User-Agent", ""))
    return bool(st.session_state[SMALL_SCREEN])


def canvas_side() -> int:
    """The canvas's width and height in CSS pixels."""
    return PHONE_CANVAS_SIZE if small_screen() else CANVAS_SIZE


def _strokes(drawing: dict | None) -> list:
    return list((drawing or {}).get("objects") or [])


def reset_drawing(key: str) -> dict | None:
    """The drawing the canvas `key` was last reset to by Undo (its initial_drawing), or None."""
    undo = st.session_state.get(UNDO)
    if not undo or undo["key"] != key:
        return None
    return {"objects": undo["objects"], REVISION_FIELD: undo["revision"]}


def remember_drawing(key: str, drawing: dict | None) -> None:
    """Record what the canvas reported. Right after Undo it still reports the drawing from before
    (until the component has reloaded), so that one is taken as the undone drawing."""
    strokes = _strokes(drawing)
    undo = st.session_state.get(UNDO)
    if undo and undo["key"] == key and undo["before"] is not None:
        if strokes == undo["before"]:
            strokes = undo["objects"]
        else:
            undo["before"] = None  # the component has caught up
    st.session_state[LATEST] = {"key": key, "objects": strokes}


def strokes_on(key: str) -> int:
    """How many strokes the canvas `key` holds, as far as the server knows."""
    latest = st.session_state.get(LATEST)
    return len(latest["objects"]) if latest and latest["key"] == key else 0


def undo_last_stroke(key: str) -> None:
    """Reload the canvas without its last stroke: the component loads a changed initial_drawing and sends it back."""
    latest = st.session_state.get(LATEST)
    if not latest or latest["key"] != key or not latest["objects"]:
        return
    previous = st.session_state.get(UNDO)
    revision = previous["revision"] + 1 if previous else 1
    objects = latest["objects"][:-1]
    st.session_state[UNDO] = {"key": key, "revision": revision, "objects": objects, "before": latest["objects"]}
    st.session_state[LATEST] = {"key": key, "objects": objects}


def drawing_canvas(*, stroke_width: int, key: str) -> np.ndarray | None:
    """A square canvas (280 px, 320 px on a phone), white ink on black; the drawing as an RGBA uint8
    array, or None before any stroke. `stroke_width` is for the 280 px canvas and scales with it."""
    # Imported here: the component registers itself on import, which needs a running Streamlit.
    from streamlit_drawable_canvas import st_canvas

    side = canvas_side()
    result = st_canvas(
        stroke_width=max(1, round(stroke_width * side / CANVAS_SIZE)),
        stroke_color="#ffffff",
        background_color="#000000",
        height=side,
        width=side,
        drawing_mode="freedraw",
        initial_drawing=reset_drawing(key),
        return_image_data=True,
        key=key,
    )
    remember_drawing(key, result.json_data)
    return result.image_data


def pen_width_slider() -> None:
    st.slider("Pen width", 8, 40, DEFAULT_PEN, step=2, key="stroke_width")


def canvas_ui(*, key: str, clear: Callable[[], None]) -> np.ndarray | None:
    """The canvas with Clear, Undo and the pen width under it; returns the drawing (see drawing_canvas).

    On a phone the canvas is larger and the controls sit in one row, so the answer below comes
    sooner; on a desktop the component's hover toolbar gets room above the canvas.
    """
    phone = small_screen()
    st.html(TOUCH_CSS)  # style only: Streamlit puts it out of the page flow
    if not phone:
        st.space(36)  # room for the canvas toolbar, which slides up above the canvas on hover
    with st.container(key=BOX_KEY, width="content"):  # no wider than the canvas: beside it, a swipe scrolls
        image = drawing_canvas(stroke_width=st.session_state.get("stroke_width", DEFAULT_PEN), key=key)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.button("Clear", icon=":material/ink_eraser:", on_click=clear, key="draw_clear")
        st.button("Undo", icon=":material/undo:", on_click=undo_last_stroke, args=(key,), key="draw_undo",
                  disabled=strokes_on(key) == 0)
        if phone:
            with st.popover("Pen width", icon=":material/line_weight:", key="draw_pen"):
                pen_width_slider()
        else:
            with st.container(width="stretch"):
                pen_width_slider()
    if not phone:
        st.caption("Redo and more: hover over the canvas for its toolbar.")
    return image

"""Inside the network's what-if controls: sliders that move, turn, scale and thicken the input, the choice
of preprocessing for a drawing, and the change described in words."""
from __future__ import annotations

import streamlit as st

from core import explain

# What-if sliders: (key, label, minimum, maximum, step, neutral value)
SLIDERS = (
    ("inside_dx", "Shift right (pixels)", -10, 10, 1, 0),
    ("inside_dy", "Shift down (pixels)", -10, 10, 1, 0),
    ("inside_degrees", "Rotate (degrees)", -60, 60, 5, 0),
    ("inside_scale", "Scale", 0.5, 1.6, 0.05, 1.0),
    ("inside_thickness", "Thicken or thin (pixels)", -2, 3, 1, 0),
)
VARIANT_KEY = "inside_variant"


def _reset_what_if() -> None:
    for key, *_, neutral in SLIDERS:
        st.session_state[key] = neutral
    st.session_state[VARIANT_KEY] = explain.FULL


def what_if_sliders_ui() -> dict:
    """The what-if sliders in one row, and a Reset; returns their values."""
    values = {}
    columns = st.columns(len(SLIDERS) + 1, vertical_alignment="bottom")
    for column, (key, label, low, high, step, neutral) in zip(columns, SLIDERS):
        st.session_state.setdefault(key, neutral)  # set here, not as the widget's value: Reset sets it too
        values[key] = column.slider(label, low, high, step=step, key=key)
    columns[-1].button("Reset", icon=":material/restart_alt:", on_click=_reset_what_if, key="inside_reset")
    return values


def variant_ui(variants: list[str]) -> str:
    """For a drawing or photo: which preprocessing to use (all of it, or all but one step)."""
    if len(variants) < 2:
        return explain.FULL
    return st.selectbox("Preprocessing", variants, key=VARIANT_KEY,
                        help="Skip one step of the preparation that turns a drawing into a 28 x 28 MNIST-style input.")


def describe_change(values: dict) -> str:
    """The what-if changes in words, '' when there are none."""
    parts = []
    if values["inside_dx"] or values["inside_dy"]:
        parts.append(f"moved {values['inside_dx']:+d} right, {values['inside_dy']:+d} down")
    if values["inside_degrees"]:
        parts.append(f"turned {values['inside_degrees']:+d}°")
    if values["inside_scale"] != 1.0:
        parts.append(f"scaled x{values['inside_scale']:.2f}")
    if values["inside_thickness"]:
        parts.append(("thickened " if values["inside_thickness"] > 0 else "thinned ")
                     + f"by {abs(values['inside_thickness'])} px")
    if values[VARIANT_KEY] != explain.FULL:
        parts.append(values[VARIANT_KEY])
    return ", ".join(parts)

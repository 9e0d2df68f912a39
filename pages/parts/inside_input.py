"""Inside the network's input: the drawing from the Draw page, a test image (handed over by the Mistakes
page's "Look inside"), or an uploaded picture, prepared as the app prepares any drawing."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.data import datasets
from core.data.preprocess import BlankImageError, ImageError, TooSmallError, load_image_bytes
from pages.parts import resources, session
from pages.parts.drawing_input import read_drawing
from pages.parts.formatting import plain

HANDOVER_KEY = "inside_test_index"  # the Mistakes page puts a test image number here, then switches pages
SOURCE_KEY, INDEX_KEY, INDEX_KEPT, SEEN_DRAWING = "inside_source", "inside_index", "inside_index_kept", "inside_seen"
DRAWING, TEST, UPLOAD = ":material/draw: Your drawing", ":material/image: A test image", ":material/upload: Upload"
MAX_UPLOAD_MB = 5


@dataclass(frozen=True)
class Subject:
    """The input being explained: the 28x28 image, its true class if known, the raw picture if any, and its
    number if it is a test image."""

    image: np.ndarray
    title: str
    label: int | None = None
    raw: np.ndarray | None = None
    test_index: int | None = None


def _keep_index() -> None:
    st.session_state[INDEX_KEPT] = st.session_state[INDEX_KEY]


def _random_index(size: int) -> None:
    st.session_state[INDEX_KEY] = st.session_state[INDEX_KEPT] = int(np.random.default_rng().integers(size))


def choose_source(spec: datasets.DatasetSpec) -> list[str]:
    """The sources on offer, and which one is chosen: a hand-over from Mistakes or a new drawing wins."""
    options = [DRAWING, TEST, UPLOAD] if spec.is_digits else [TEST, UPLOAD]
    state = st.session_state
    handed = state.pop(HANDOVER_KEY, None)
    drawing = state.get(session.DRAWING_KEY)
    if handed is not None:
        state[SOURCE_KEY] = TEST
        state[INDEX_KEY] = state[INDEX_KEPT] = int(handed)
    elif drawing is not None and drawing is not state.get(SEEN_DRAWING) and DRAWING in options:
        state[SOURCE_KEY] = DRAWING  # drawn something new since the last visit: show it
    state[SEEN_DRAWING] = drawing
    if state.get(SOURCE_KEY) not in options:
        state[SOURCE_KEY] = TEST
    return options


def test_image_ui(spec: datasets.DatasetSpec) -> Subject:
    data = resources.dataset(spec.name)
    size = len(data.x_test)
    if INDEX_KEY not in st.session_state:  # the widget's state goes when it is not shown; the number stays
        st.session_state[INDEX_KEY] = min(int(st.session_state.get(INDEX_KEPT, 0)), size - 1)
    number, another = st.columns([2, 1], vertical_alignment="bottom")
    index = number.number_input(f"Test image number (0 to {size - 1:,})", 0, size - 1, key=INDEX_KEY,
                                on_change=_keep_index)
    another.button("Random", icon=":material/casino:", on_click=_random_index, args=(size,), key="inside_random")
    label = int(data.y_test[index])
    return Subject(data.x_test[index].astype(np.float32) / 255, f"test image #{index}", label, test_index=int(index))


def raw_subject(raw: np.ndarray, title: str, hint: str) -> Subject | None:
    """A drawing or photo prepared as the app prepares any drawing; refusals become messages."""
    prepared, problem = read_drawing(raw)
    if isinstance(problem, TooSmallError):
        st.warning(f"The mark in {title} is too small to read: it should fill most of the picture. {hint}")
        return None
    if isinstance(problem, BlankImageError):
        st.info(f"Nothing to read in {title}. {hint}")
        return None
    if problem is not None:
        st.error(f"{plain(problem)} {hint}")
        return None
    return Subject(prepared.image, title, raw=raw)


def upload_ui(spec: datasets.DatasetSpec) -> Subject | None:
    upload = st.file_uploader(f"A photo or scan of one {spec.item} (PNG or JPEG, up to {MAX_UPLOAD_MB} MB)",
                              type=["png", "jpg", "jpeg"], max_upload_size=MAX_UPLOAD_MB, key="inside_upload")
    hint = f"Upload a PNG or JPEG of a single {spec.item}, filling most of the picture."
    if upload is None:
        st.info(f"Upload a picture of one {spec.item} to look inside the network with it.")
        return None
    try:
        raw = load_image_bytes(upload.getvalue(), max_bytes=MAX_UPLOAD_MB * 2**20)
    except ImageError as exc:
        st.error(f"{plain(exc)} {hint}")
        return None
    return raw_subject(raw, "the uploaded picture", hint)


def drawing_ui() -> Subject | None:
    raw = st.session_state.get(session.DRAWING_KEY)
    hint = "Draw a digit on the Draw page, then come back here."
    if raw is None:
        st.info(f"No drawing yet. {hint}")
        st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
        return None
    return raw_subject(np.asarray(raw), "your drawing", hint)


def input_ui(spec: datasets.DatasetSpec) -> Subject | None:
    options = choose_source(spec)
    source_column, detail_column = st.columns(2, gap="large", vertical_alignment="bottom")
    source = source_column.segmented_control("Look at", options, key=SOURCE_KEY, required=True)
    with detail_column:
        if source == TEST:
            return test_image_ui(spec)
        if source == UPLOAD:
            return upload_ui(spec)
        return drawing_ui()

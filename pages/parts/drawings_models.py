"""A model tested on the kept drawings: the Drawings page's Test tab and the Mistakes page's "Your drawings".

The drawings are tested as core.drawings.evaluate_on_drawings does (store.arrays, then
core.nets.evaluation.evaluate), keeping the ids so each row can be shown; the probabilities are
cached per model version and set of drawings, so a relabel or a click costs no new pass.
"""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from core.data import datasets
from core.drawings import DrawingsError, DrawingStore
from core.nets.evaluation import Evaluation, evaluate
from core.store import StoreError
from pages.parts import charts, keep_drawing, mistakes_grid, resources, session
from pages.parts.formatting import plain

DIGITS = [str(d) for d in range(10)]
HOW_TO_KEEP = ("No drawings kept yet. On the Draw page, draw a digit, check its label under the answer "
               "and click Keep; or import a zip of drawings on the Drawings page.")
MODEL_KEY = "drawings_model"        # the model picker of the Drawings page's Test and Fine-tune tabs
SOURCE_KEY = "mistakes_source"      # the Mistakes page's source choice
TEST_SET, DRAWINGS = "test set", "drawings"


# --- a model on the drawings -------------------------------------------------------------------------

def _model_version(name: str) -> float:
    path = resources.model_store().paths(name)[0]
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Testing the model on your drawings...", max_entries=16)
def _probabilities(name: str, version: float, drawings: str, _x: np.ndarray) -> np.ndarray:
    """The model's probabilities for these drawings (their ids make `drawings`; a kept image never changes)."""
    return evaluate(resources.load_model(name), datasets.normalise(_x), np.zeros(len(_x), np.int64)).probabilities


def drawings_evaluation(name: str, store: DrawingStore) -> tuple[Evaluation, np.ndarray, np.ndarray] | None:
    """(Evaluation, the drawings as uint8 (N, 28, 28), their ids), row i for the i-th id; None with no drawings.
    Raises DrawingsError (the database) or StoreError (the model)."""
    x, y, ids = store.arrays(ids=True)
    if not len(y):
        return None
    key = hashlib.blake2b(ids.tobytes(), digest_size=16).hexdigest()
    return Evaluation(y.astype(np.int64), _probabilities(name, _model_version(name), key, x)), x, ids


def mnist_accuracy(name: str) -> float:
    """The model's MNIST test accuracy: from its metadata, else measured once."""
    accuracy = resources.model_store().read_meta(name).test_accuracy
    return resources.evaluation(name).accuracy if accuracy is None else accuracy


def summary_ui(ev: Evaluation, name: str) -> None:
    errors = ev.confusion * (1 - np.eye(10, dtype=np.int64))
    t, p = np.unravel_index(errors.argmax(), errors.shape)
    cols = st.columns(4)
    cols[0].metric("Accuracy on your drawings", f"{ev.accuracy:.2%}")
    cols[1].metric("MNIST test accuracy", f"{mnist_accuracy(name):.2%}",
                   help="The same model on MNIST's 10,000 test digits, written on paper in the 1990s.")
    cols[2].metric("Mistakes", f"{int(errors.sum()):,} of {len(ev.labels):,}")
    cols[3].metric("Most common mistake", f"{t} → {p} ({errors[t, p]}×)" if errors.any() else "none")


def evaluated(name: str, store: DrawingStore, move_key: str):
    """drawings_evaluation with every failure shown as a message (None then, or with no drawings)."""
    try:
        data = drawings_evaluation(name, store)
    except DrawingsError as exc:
        keep_drawing.database_error_ui(exc, key=move_key)
        return None
    except StoreError as exc:
        session.show_store_error(exc)
        return None
    except Exception as exc:  # a model that loads but cannot read 28x28 digits
        st.error(f"Model **{plain(name)}** could not be tested: {type(exc).__name__}: {plain(exc)}")
        return None
    if data is None:
        st.info(HOW_TO_KEEP)
    return data


def show_mistakes() -> None:
    st.session_state[SOURCE_KEY] = DRAWINGS


def test_ui(store: DrawingStore) -> None:
    """The Drawings page's Test tab: a model's accuracy and confusion on the drawings next to its MNIST figure."""
    name = session.model_picker("Model to test", key=MODEL_KEY, digits_only=True)
    if name is None:
        return
    data = evaluated(name, store, "drawings_test_move_aside")
    if data is None:
        return
    ev = data[0]
    summary_ui(ev, name)
    st.caption("MNIST's digits were written with pens on paper; yours with a mouse or a finger. "
               "The gap between the two figures is how much that matters to this model.")
    matrix, side = st.columns([3, 2], gap="large")
    matrix.altair_chart(charts.confusion_chart(ev.confusion, size=360), key="drawings_confusion")
    with side:
        st.markdown("Each row is a digit as labelled, each column what the model read. "
                    "Orange cells are its mistakes.")
        if st.button("See these mistakes", icon=":material/search:", key="drawings_see_mistakes",
                     on_click=show_mistakes):
            st.switch_page("pages/mistakes.py")


# --- the Mistakes page's "Your drawings" source ------------------------------------------------------

def source_ui(name: str, on_change) -> str:
    """Beside the Mistakes page's model picker: the model's test set, or the drawings kept here."""
    title = datasets.get(resources.dataset_of(name)).title
    st.session_state.setdefault(SOURCE_KEY, TEST_SET)
    return st.segmented_control("Source", [TEST_SET, DRAWINGS], required=True, key=SOURCE_KEY, on_change=on_change,
                                format_func=lambda s: f"{title} test set" if s == TEST_SET else "Your drawings")


def mistakes_ui(name: str) -> None:
    """The Mistakes page on the drawings: summary, clickable confusion matrix, filters and the drawings it misreads."""
    if not datasets.get(resources.dataset_of(name)).is_digits:
        st.info("Your drawings are digits: pick a model trained on MNIST to test it on them.")
        return
    data = evaluated(name, resources.drawing_store(), "mistakes_move_aside")
    if data is None:
        return
    ev, x, ids = data
    summary_ui(ev, name)
    matrix_col, filter_col = st.columns([3, 2], gap="large")
    with matrix_col:
        mistakes_grid.matrix_ui(ev.confusion)
    with filter_col:
        true, predicted, most_confident_first = mistakes_grid.filters_ui(DIGITS, "digit")
    mistakes_grid.grid_ui(ev.mistakes(true, predicted, most_confident_first), x, DIGITS, drawing_ids=ids)

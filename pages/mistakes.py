"""Mistakes page: the test images a model gets wrong, filtered by a confusion-matrix cell, a page at a time."""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import streamlit as st

from core.data import datasets
from core.nets.evaluation import Evaluation
from core.store import StoreError
from pages.parts import charts, drawings_models, resources, session
from pages.parts.formatting import plain
from pages.parts.mistakes_grid import filters_ui, grid_ui, matrix_ui, reset_page


def main() -> None:
    st.title(":material/search: Mistakes")
    st.caption("The test images the model gets wrong. Pick a cell of the confusion matrix, "
               "or the digits below, to see one kind of mistake.")
    picker, source_col = st.columns([3, 2], gap="large", vertical_alignment="bottom")
    with picker:
        name = session.model_picker(key="mistakes_model")
    if name is None:
        return
    with source_col:
        source = drawings_models.source_ui(name, on_change=reset_page)  # the test set or your drawings
    if st.session_state.get("mistakes_shown_model") != name:  # a new model: start at its first page
        st.session_state["mistakes_shown_model"] = name
        reset_page()
    if source == drawings_models.DRAWINGS:
        drawings_models.mistakes_ui(name)
        return
    try:
        ev = resources.evaluation(name)
    except StoreError as exc:
        session.show_store_error(exc)
        return
    except Exception as exc:  # a model that loads but cannot read 28x28 digits, for instance
        st.error(f"Model **{plain(name)}** could not be tested: {type(exc).__name__}: {plain(exc)}")
        return
    spec = datasets.get(resources.dataset_of(name))
    names = spec.class_names
    summary_ui(ev, names)
    matrix_col, filter_col = st.columns([3, 2], gap="large")
    with matrix_col:
        labels = None if spec.is_digits else names
        matrix_ui(ev.confusion, labels)
        charts.png_download(partial(charts.confusion_png, ev.confusion, labels=labels,
                                    title=f"{name}: {spec.title} test set"),
                            f"{name}-confusion.png", key="mistakes_confusion_png")
    with filter_col:
        true, predicted, most_confident_first = filters_ui(names, spec.item)
    mistakes = ev.mistakes(true, predicted, most_confident_first)
    grid_ui(mistakes, resources.dataset(spec.name).x_test, names)


def summary_ui(ev: Evaluation, names: Sequence[str]) -> None:
    matrix = ev.confusion
    errors = matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype))
    t, p = np.unravel_index(errors.argmax(), errors.shape)
    cols = st.columns(3)
    cols[0].metric("Test accuracy", f"{ev.accuracy:.2%}")
    cols[1].metric("Mistakes", f"{int(errors.sum()):,} of {len(ev.labels):,}")
    cols[2].metric("Most common mistake", f"{names[t]} → {names[p]} ({errors[t, p]}×)" if errors.any() else "none")


if __name__ == "__main__":
    main()

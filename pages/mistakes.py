"""Mistakes page: the test images a model gets wrong, filtered by a confusion-matrix cell, a page at a time."""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core import datasets
from core.evaluation import Evaluation, Mistake
from core.store import StoreError
from pages import charts, drawings_models, resources, session
from pages.formatting import plain
from pages.images import enlarge

PAGE_SIZE = 24
COLUMNS = 6
ANY = "Any"
TRUE_KEY, PRED_KEY, SORT_KEY, PAGE_KEY = "mistakes_true", "mistakes_pred", "mistakes_sort", "mistakes_page"
MOST_CONFIDENT, LEAST_CONFIDENT = "Most confident first", "Least confident first"


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
        st.altair_chart(charts.confusion_chart(ev.confusion, labels=labels, selection="cell", size=400),
                        key="mistakes_matrix", on_select=choose_cell, selection_mode="cell")
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


def reset_page() -> None:
    st.session_state[PAGE_KEY] = 1


def choose_cell() -> None:
    """A click on the heat map sets the filters; a click on the diagonal keeps every prediction."""
    picked = st.session_state["mistakes_matrix"].selection.get("cell") or []
    if picked:
        true, predicted = int(picked[0]["true"]), int(picked[0]["predicted"])
        st.session_state[TRUE_KEY] = true
        st.session_state[PRED_KEY] = ANY if predicted == true else predicted
    else:
        st.session_state[TRUE_KEY] = st.session_state[PRED_KEY] = ANY
    reset_page()


def filters_ui(names: Sequence[str], item: str) -> tuple[int | None, int | None, bool]:
    st.subheader("Which mistakes")
    a, b = st.columns(2)
    options = [ANY, *range(len(names))]
    name_of = lambda value: value if value == ANY else names[value]  # noqa: E731
    true = a.selectbox(f"True {item}", options, key=TRUE_KEY, on_change=reset_page, format_func=name_of)
    predicted = b.selectbox(f"Predicted {item}", options, key=PRED_KEY, on_change=reset_page, format_func=name_of)
    order = st.radio("Order", [MOST_CONFIDENT, LEAST_CONFIDENT], key=SORT_KEY, horizontal=True,
                     on_change=reset_page,
                     help="Confident mistakes are the surprising ones; unsure ones are often ugly digits.")
    return (None if true == ANY else true, None if predicted == ANY else predicted, order == MOST_CONFIDENT)


def caption(m: Mistake, names: Sequence[str]) -> str:
    return f"true {names[m.true]} → predicted {names[m.predicted]} ({m.confidence:.0%})"


def grid_ui(mistakes: list[Mistake], images: np.ndarray, names: Sequence[str]) -> None:
    """One page of misclassified images, each with an Inspect button."""
    if not mistakes:
        st.success("No mistakes of this kind on the test set.")
        return
    pages = math.ceil(len(mistakes) / PAGE_SIZE)
    if not 1 <= st.session_state.get(PAGE_KEY, 1) <= pages:
        reset_page()
    top = st.columns([1, 3], vertical_alignment="bottom")
    page = top[0].number_input("Page", 1, pages, key=PAGE_KEY)
    first = (page - 1) * PAGE_SIZE
    shown = mistakes[first:first + PAGE_SIZE]
    top[1].markdown(f"**{len(mistakes):,} mistakes** match · page {page} of {pages} · "
                    f"showing {first + 1}–{first + len(shown)}")
    inspected = None
    for row in range(0, len(shown), COLUMNS):
        for column, m in zip(st.columns(COLUMNS), shown[row:row + COLUMNS]):
            with column:
                st.image(enlarge(images[m.index], 5))
                st.markdown(f"**{plain(caption(m, names))}**")
                if st.button("🔎 Inspect", key=f"inspect_{m.index}"):
                    inspected = m
                if st.button("Look inside", icon=":material/neurology:", key=f"look_inside_{m.index}"):
                    st.session_state["inside_test_index"] = m.index  # Inside the network opens this test image
                    st.switch_page("pages/inside.py")
    if inspected is not None:
        inspect_dialog(inspected, images[inspected.index], names)


@st.dialog("A closer look", width="large")
def inspect_dialog(m: Mistake, image: np.ndarray, names: Sequence[str]) -> None:
    left, right = st.columns([2, 3], vertical_alignment="center")
    left.image(enlarge(image, 10))
    left.markdown(f"### {plain(caption(m, names))}")
    left.caption(f"Test image #{m.index}")
    right.altair_chart(probability_chart(m, names), width="stretch")


def probability_chart(m: Mistake, names: Sequence[str]):
    """The output probabilities; the true class blue, the model's answer orange-red."""
    import altair as alt

    kind = ["true class" if d == m.true else "predicted" if d == m.predicted else "other" for d in range(len(names))]
    frame = pd.DataFrame({"class": list(names), "probability": np.asarray(m.probabilities, float), "kind": kind})
    angle = 0 if max(map(len, names)) <= 2 else -40  # long class names (Fashion-MNIST) slant
    base = alt.Chart(frame).encode(x=alt.X("class:N", title=None, sort=list(names), axis=alt.Axis(labelAngle=angle)),
                                   y=alt.Y("probability:Q", title="probability", axis=alt.Axis(format="%"),
                                           scale=alt.Scale(domain=[0, 1])))
    bars = base.mark_bar().encode(color=alt.Color(
        "kind:N", title=None, legend=alt.Legend(orient="bottom"),
        scale=alt.Scale(domain=["true class", "predicted", "other"], range=[charts.BLUE, charts.HIGHLIGHT, charts.GREY])))
    labels = base.mark_text(dy=-10, fontSize=charts.TEXT_SIZE).encode(text=alt.Text("probability:Q", format=".0%"))
    return charts.style((bars + labels).properties(title="What the model thought", height=340))


if __name__ == "__main__":
    main()

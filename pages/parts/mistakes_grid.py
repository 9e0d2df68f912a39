"""The mistakes browser both sources share (the Mistakes page on a test set, and on the kept drawings):
the filters, a clickable confusion matrix's handler, a page of misread images and the closer look."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.nets.evaluation import Mistake
from pages.parts import charts
from pages.parts.formatting import plain
from pages.parts.images import enlarge

PAGE_SIZE = 24
COLUMNS = 6
ANY = "Any"
MATRIX_KEY = "mistakes_matrix"
TRUE_KEY, PRED_KEY, SORT_KEY, PAGE_KEY = "mistakes_true", "mistakes_pred", "mistakes_sort", "mistakes_page"
MOST_CONFIDENT, LEAST_CONFIDENT = "Most confident first", "Least confident first"


def reset_page() -> None:
    st.session_state[PAGE_KEY] = 1


def choose_cell() -> None:
    """A click on the heat map sets the filters; a click on the diagonal keeps every prediction."""
    picked = st.session_state[MATRIX_KEY].selection.get("cell") or []
    if picked:
        true, predicted = int(picked[0]["true"]), int(picked[0]["predicted"])
        st.session_state[TRUE_KEY] = true
        st.session_state[PRED_KEY] = ANY if predicted == true else predicted
    else:
        st.session_state[TRUE_KEY] = st.session_state[PRED_KEY] = ANY
    reset_page()


def matrix_ui(confusion: np.ndarray, labels: Sequence[str] | None = None) -> None:
    """The confusion matrix; a click on a cell filters the mistakes below."""
    st.altair_chart(charts.confusion_chart(confusion, labels=labels, selection="cell", size=400),
                    key=MATRIX_KEY, on_select=choose_cell, selection_mode="cell")


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


def grid_ui(mistakes: list[Mistake], images: np.ndarray, names: Sequence[str],
            drawing_ids: np.ndarray | None = None) -> None:
    """One page of misread images, each with an Inspect button: test images (with Look inside), or the kept
    drawings when `drawing_ids` gives each row's id."""
    if not mistakes:
        st.success("No mistakes of this kind on " + ("your drawings." if drawing_ids is not None else "the test set."))
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
                if drawing_ids is not None:
                    st.caption(f"Drawing #{drawing_ids[m.index]}")
                    if st.button("Inspect", icon=":material/zoom_in:", key=f"inspect_drawing_{drawing_ids[m.index]}"):
                        inspected = m
                    continue
                if st.button("🔎 Inspect", key=f"inspect_{m.index}"):
                    inspected = m
                if st.button("Look inside", icon=":material/neurology:", key=f"look_inside_{m.index}"):
                    st.session_state["inside_test_index"] = m.index  # Inside the network opens this test image
                    st.switch_page("pages/inside.py")
    if inspected is not None:
        where = (f"Drawing #{int(drawing_ids[inspected.index])} (relabel or delete it on the Drawings page)"
                 if drawing_ids is not None else f"Test image #{inspected.index}")
        inspect_dialog(inspected, images[inspected.index], names, where)


@st.dialog("A closer look", width="large")
def inspect_dialog(m: Mistake, image: np.ndarray, names: Sequence[str], where: str) -> None:
    left, right = st.columns([2, 3], vertical_alignment="center")
    left.image(enlarge(image, 10))
    left.markdown(f"### {plain(caption(m, names))}")
    left.caption(where)
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

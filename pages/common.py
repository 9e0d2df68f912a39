"""What every page shares: cached data and models, the active model, the job registry.

Shared read-only things live in st.cache_resource; per-user choices in st.session_state.
"""
from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING

import streamlit as st

from core import data
from core.evaluation import Evaluation, evaluate
from core.store import DEFAULT_MODEL, ModelInfo, ModelStore, StoreError

if TYPE_CHECKING:
    from core.training import JobRegistry, TrainingJob

ACTIVE_MODEL_KEY = "active_model"


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(show_spinner="Loading MNIST...")
def mnist() -> data.Mnist:
    return data.load_mnist()


def registry() -> "JobRegistry":
    """The process-wide job registry (imported on first use: it brings TensorFlow with it)."""
    from core.training import default_registry

    return default_registry()


def active_jobs() -> list["TrainingJob"]:
    """Runs queued or training. Before the training module is loaded no run can exist, so a
    page that only asks (Home) does not wait for TensorFlow to import."""
    return registry().active() if "core.training" in sys.modules else []


def _version(name: str) -> float:
    """Modification time of the model file: a re-saved model gets a fresh cache entry."""
    path = model_store().paths(name)[0]
    return path.stat().st_mtime if path.exists() else 0.0


def _freeze_long_lived() -> None:
    """Move everything alive now (TensorFlow, models, data) out of the garbage collector's sight.

    After every run Streamlit calls keras.backend.clear_session(), which runs a full
    gc.collect(): with TensorFlow loaded that scanned ~200 ms per stroke on this CPU.
    Frozen objects are skipped, so the collection takes a few ms.
    """
    gc.freeze()


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _load(name: str, version: float):
    model = model_store().load(name)
    _freeze_long_lived()
    return model


def load_model(name: str):
    """The model called `name` (cached); raises StoreError with a clear message."""
    return _load(name, _version(name))


@st.cache_resource(show_spinner="Evaluating on the 10,000 test images...", max_entries=8)
def _evaluation(name: str, version: float) -> Evaluation:
    x_test, y_test = data.mnist_test(mnist())
    return evaluate(_load(name, version), x_test, y_test)


def evaluation(name: str) -> Evaluation:
    """Test-set evaluation of model `name`, computed once per model version."""
    return _evaluation(name, _version(name))


def usable_models() -> list[ModelInfo]:
    """Store entries that can be loaded; broken ones are left out (the Models page lists them).

    If the active model is one of the broken ones, say so once, here, instead of failing later.
    """
    infos = model_store().list()
    broken = {info.name: info.error for info in infos if info.error}
    active = active_model_name()
    if active in broken:
        st.warning(f"The model **{active}** cannot be used: {broken[active]} Showing another model instead.")
    elif broken:
        st.caption(f"{len(broken)} saved model{'s' if len(broken) > 1 else ''} could not be read: "
                   "see the Models page.")
    return [info for info in infos if not info.error]


def active_model_name() -> str:
    return st.session_state.get(ACTIVE_MODEL_KEY, DEFAULT_MODEL)


def set_active_model(name: str) -> None:
    st.session_state[ACTIVE_MODEL_KEY] = name


def model_picker(label: str = "Model", key: str = "model_picker") -> str | None:
    """A selectbox over loadable models, starting at the active one; the choice becomes active."""
    infos = usable_models()
    if not infos:
        st.error("No usable model in the store. Train one on the Train page, "
                 "or restore models/default.keras from the repository.")
        return None
    names = [info.name for info in infos]
    current = active_model_name()
    index = names.index(current) if current in names else 0

    def describe(name: str) -> str:
        info = infos[names.index(name)]
        acc = info.test_accuracy
        return f"{name} ({info.meta.get('arch', '?')}, {acc:.2%})" if acc is not None else name

    choice = st.selectbox(label, names, index=index, format_func=describe, key=key)
    set_active_model(choice)
    return choice


def show_store_error(exc: StoreError) -> None:
    st.error(f"{exc} Pick another model, or retrain it on the Train page.")


def confusion_chart(matrix, selection: str | None = None, size: int = 420):
    """Altair heat map of confusion[true][predicted] with the counts written in each cell.

    Right answers (the diagonal) are pale green; mistakes are shaded by how often they happen.
    With `selection`, a click on a cell selects its (true, predicted) pair under that parameter name.
    """
    import altair as alt
    import numpy as np
    import pandas as pd

    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    worst = max(1, int(matrix[~np.eye(n, dtype=bool)].max(initial=0)))

    def fill(t: int, p: int, count: int) -> str:
        # Mistakes only set the scale, so that 5 and 50 look different next to a diagonal of 1,000.
        if t == p:
            return "#cfe8cf"
        if count == 0:
            return "#ffffff"
        low, high = np.array([254, 230, 206]), np.array([217, 72, 1])
        r, g, b = (low + (high - low) * min(1.0, count / worst)).round().astype(int)
        return f"#{r:02x}{g:02x}{b:02x}"

    frame = pd.DataFrame([(t, p, int(matrix[t, p]), fill(t, p, int(matrix[t, p])),
                           t != p and matrix[t, p] > worst * 0.6) for t in range(n) for p in range(n)],
                         columns=["true", "predicted", "count", "fill", "dark"])
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:O", title="predicted digit", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:O", title="true digit"),
        tooltip=["true", "predicted", "count"],
    )
    cells = base.mark_rect(stroke="#dddddd", strokeWidth=1).encode(color=alt.Color("fill:N", scale=None))
    text = base.mark_text(fontSize=14).encode(
        text="count:Q", color=alt.when(alt.datum.dark).then(alt.value("white")).otherwise(alt.value("black")))
    if selection:
        pick = alt.selection_point(name=selection, fields=["true", "predicted"], on="click")
        cells = cells.add_params(pick).encode(opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)))
    return (cells + text).properties(width=size, height=size).configure_axis(labelFontSize=14, titleFontSize=15)

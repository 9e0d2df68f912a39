"""What every page shares: cached data and models, the active model, the job registry.

Shared read-only things live in st.cache_resource; per-user choices in st.session_state.
"""
from __future__ import annotations

import streamlit as st

from core import data
from core.evaluation import Evaluation, evaluate
from core.store import DEFAULT_MODEL, ModelInfo, ModelStore, StoreError
from core.training import JobRegistry, default_registry

ACTIVE_MODEL_KEY = "active_model"


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(show_spinner="Loading MNIST...")
def mnist() -> data.Mnist:
    return data.load_mnist()


def registry() -> JobRegistry:
    return default_registry()


def _version(name: str) -> float:
    """Modification time of the model file: a re-saved model gets a fresh cache entry."""
    path = model_store().paths(name)[0]
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _load(name: str, version: float):
    return model_store().load(name)


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
    """Store entries that can be loaded; broken ones are reported once, not offered."""
    infos = model_store().list()
    for info in infos:
        if info.error:
            st.warning(f"Skipping model **{info.name}**: {info.error}")
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

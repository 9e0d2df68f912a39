"""Per-user choices (st.session_state): the active model and the picker that sets it, and the keys that
several pages read: the latest drawing and this session's own run."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.data import datasets
from core.store import DEFAULT_MODEL, ModelInfo, StoreError
from pages.parts import resources
from pages.parts.formatting import plain

ACTIVE_MODEL_KEY = "active_model"
DRAWING_KEY = "draw_last_canvas"   # the Draw page's latest canvas (RGBA); Train's live panel and Inside read it
OWN_RUN_KEY = "train_job_id"       # the run this session started on Train; Draw shows it live


def active_model_name() -> str:
    return st.session_state.get(ACTIVE_MODEL_KEY, DEFAULT_MODEL)


def set_active_model(name: str) -> None:
    st.session_state[ACTIVE_MODEL_KEY] = name


@dataclass(frozen=True)
class SavedModels:
    """The store's entries, split into those that can be used and those that cannot (name -> reason)."""

    usable: list[ModelInfo]
    broken: dict[str, str]


def saved_models() -> SavedModels:
    """What the store holds now; a query: draws nothing."""
    infos = resources.model_store().list()
    return SavedModels([info for info in infos if not info.error],
                       {info.name: info.error for info in infos if info.error})


def broken_models_ui(models: SavedModels) -> None:
    """Say once if the active model cannot be used, or how many saved models cannot be read."""
    active = active_model_name()
    if active in models.broken:
        st.warning(f"The model **{plain(active)}** cannot be used: {plain(models.broken[active])} "
                   "Showing another model instead.")
    elif models.broken:
        count = len(models.broken)
        st.caption(f"{count} saved model{'s' if count > 1 else ''} could not be read: see the Models page.")


def reads_digits(info: ModelInfo) -> bool:
    """Whether a model was trained on digits (so a drawing is something it can read)."""
    return info.meta.dataset in datasets.DATASETS and datasets.get(info.meta.dataset).is_digits


def model_picker(label: str = "Model", key: str = "model_picker", digits_only: bool = False,
                 activate: bool = True) -> str | None:
    """A selectbox over usable models (only digit models with `digits_only`), starting at the active one;
    the choice becomes active (unless `activate` is False: a choice for something else, such as a
    model to train further)."""
    models = saved_models()
    broken_models_ui(models)
    usable = [info for info in models.usable if reads_digits(info)] if digits_only else models.usable
    if not usable:
        st.error("No usable model in the store. Train one on the Train page, "
                 "or restore models/default.keras from the repository.")
        return None
    infos = {info.name: info for info in usable}
    names = list(infos)
    current = active_model_name()
    if key in st.session_state and st.session_state[key] not in names:
        del st.session_state[key]  # a model deleted since, or one a link named that is not here

    def describe(name: str) -> str:
        meta = infos[name].meta
        accuracy = meta.test_accuracy
        data = "" if meta.dataset == datasets.DEFAULT_DATASET else f"{meta.dataset}, "
        return f"{name} ({data}{meta.arch}, {accuracy:.2%})" if accuracy is not None else name

    choice = st.selectbox(label, names, index=names.index(current) if current in names else 0,
                          format_func=describe, key=key)
    if activate:
        set_active_model(choice)
    return choice


def show_store_error(exc: StoreError) -> None:
    st.error(f"{plain(exc)} Pick another model, or retrain it on the Train page.")

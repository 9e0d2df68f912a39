"""The models Inside the network looks at: each loaded with its dataset's spec (a problem becomes a
message), and its training-set embeddings and test-set map, computed once per model version in a thread
of their own, after the page has rendered, and shared by every session."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from core import explain
from core.data import datasets
from core.store import StoreError
from pages.parts import resources, session
from pages.parts.formatting import plain


@dataclass(frozen=True)
class Opened:
    """A stored model ready to explain, with its dataset's spec."""

    name: str
    model: object
    arch: str
    spec: datasets.DatasetSpec
    version: float
    settings: dict = field(default_factory=dict, compare=False)  # the run's TrainConfig as stored (empty when not stored)


@dataclass(eq=False)
class EmbeddingSlot:
    """One model version's training- and test-set embeddings and test-set map, filled once, in a thread of its
    own (fill_embeddings), and shared by sessions; `done` of `total` images passed through so far."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    done: int = 0
    total: int = 0
    error: str | None = None
    polls: int = 0  # runs of the progress bar that follows it
    train: np.ndarray | None = None
    test: np.ndarray | None = None
    test_map: explain.EmbeddingMap | None = None

    @property
    def ready(self) -> bool:
        return self.train is not None


EMBEDDING_THREAD = "inside-embeddings"  # the filling threads' name prefix (tests wait for them)


@st.cache_resource(show_spinner=False, max_entries=3)
def _embedding_slot(name: str, version: float, dataset: str) -> EmbeddingSlot:
    return EmbeddingSlot()


def _slot(opened: Opened) -> EmbeddingSlot:
    return _embedding_slot(opened.name, opened.version, opened.spec.name)


def fill_embeddings(opened: Opened) -> None:
    """Start passing every training and test image through `opened`, once per model version, in a thread of
    its own: called once the page has rendered, so that the page never waits for the ~70,000 images."""
    slot = _slot(opened)
    with slot.lock:
        if slot.thread is not None or slot.ready:
            return
        data = resources.dataset(opened.spec.name)
        slot.total = len(data.x_train) + len(data.x_test)
        slot.thread = threading.Thread(target=_fill, args=(slot, opened.model, data), daemon=True,
                                       name=f"{EMBEDDING_THREAD}-{opened.name}")
        slot.thread.start()


def _fill(slot: EmbeddingSlot, model, data: datasets.Dataset) -> None:
    try:
        train = explain.embed(model, data.x_train, progress=lambda done, _: setattr(slot, "done", done))
        test = explain.embed(model, data.x_test,
                             progress=lambda done, _: setattr(slot, "done", len(train) + done))
        slot.test_map = explain.embedding_map(test)
        slot.test = test
        slot.train = train
    except Exception as exc:  # noqa: BLE001  shown where the embeddings would be
        slot.error = f"{type(exc).__name__}: {exc}"


def embeddings(opened: Opened) -> EmbeddingSlot | None:
    """The slot of `opened` once filled; until then a progress bar that follows the filling thread and reruns
    the page when it is done, and None (the caller shows nothing more)."""
    slot = _slot(opened)
    if slot.ready:
        return slot
    if slot.error is not None:
        st.error(f"The training images could not be passed through {plain(opened.name)}: {plain(slot.error)}")
        return None
    _filling_ui(opened)
    return None


@st.fragment(run_every=1.0)
def _filling_ui(opened: Opened) -> None:
    """Follows the filling thread; its later runs start that thread if the page ended before it could."""
    slot = _slot(opened)
    if slot.ready or slot.error is not None:
        st.rerun()  # the whole page, now with them
    slot.polls += 1
    if slot.polls > 1:  # not the page's own first render
        fill_embeddings(opened)  # nothing if it is running already
    total = slot.total or 70_000
    st.progress(min(1.0, slot.done / total),
                text=f"Passing all {total:,} training and test images through {opened.name} ({slot.done:,} so "
                     "far): this happens once per model, then it is instant.")


def waiting_for(name: str) -> datasets.DatasetSpec | None:
    """The dataset spec of `name` while the model cannot be opened without waiting on TensorFlow's import (a fresh
    server: loading_ui then loads it after the page has rendered). None when it can be opened now, or when its
    metadata has a problem (open_model reports it)."""
    if resources.model_ready(name):
        return None
    try:
        return datasets.get(resources.model_store().read_meta(name).dataset)
    except (StoreError, datasets.DatasetError, OSError):
        return None


def loading_ui(name: str) -> None:
    """Stands in for the model's parts of the page while `name` loads in a thread of its own (resources.warm_model),
    started last, once the page has rendered, so that nothing here waits for TensorFlow's import; the page is run
    again once the model is ready. Call it at the end of the page."""
    _loading_note_ui(name)
    resources.warm_model(name)


@st.fragment(run_every=0.5)
def _loading_note_ui(name: str) -> None:
    if resources.model_ready(name):
        st.rerun()  # the whole page, now with the model
    st.info(f"Loading TensorFlow and {plain(name)}: its answer, its layers and what it looks at follow in a few "
            "seconds. This wait happens once, when the app has just started.", icon=":material/hourglass_top:")


def open_model(name: str) -> Opened | None:
    """Load `name` with its dataset spec; a problem becomes a message, and None."""
    try:
        meta = resources.model_store().read_meta(name)
        spec = datasets.get(meta.dataset)
        model = resources.load_model(name)
        version = resources.model_store().paths(name)[0].stat().st_mtime
    except StoreError as exc:
        session.show_store_error(exc)
        return None
    except (datasets.DatasetError, OSError) as exc:
        st.error(f"Model **{plain(name)}** cannot be used here: {plain(exc)}")
        return None
    return Opened(name, model, meta.arch, spec, version, meta.config)

"""The models Inside the network looks at: each loaded with its dataset's spec (a problem becomes a
message), and its training-set embeddings and test-set map, computed once per model version and shared
by every session."""
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
    """One model version's training- and test-set embeddings and test-set map, filled once and shared by sessions."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    train: np.ndarray | None = None
    test: np.ndarray | None = None
    test_map: explain.EmbeddingMap | None = None


@st.cache_resource(show_spinner=False, max_entries=3)
def _embedding_slot(name: str, version: float, dataset: str) -> EmbeddingSlot:
    return EmbeddingSlot()


def embeddings(opened: Opened) -> EmbeddingSlot:
    """The slot of `opened`, filled on first use with a progress bar saying it happens once per model."""
    slot = _embedding_slot(opened.name, opened.version, opened.spec.name)
    if slot.train is not None:
        return slot
    if not slot.lock.acquire(blocking=False):  # another session is filling it
        with st.spinner("Another visitor's page is reading the training images through this model; one moment..."):
            slot.lock.acquire()
    try:
        if slot.train is None:
            data = resources.dataset(opened.spec.name)
            total = len(data.x_train) + len(data.x_test)
            text = (f"Passing all {total:,} training and test images through {opened.name}: "
                    "this happens once per model, then it is instant.")
            bar = st.progress(0.0, text=text)
            train = explain.embed(opened.model, data.x_train,
                                  progress=lambda done, _: bar.progress(done / total, text=text))
            test = explain.embed(opened.model, data.x_test,
                                 progress=lambda done, _: bar.progress((len(train) + done) / total, text=text))
            slot.test_map = explain.embedding_map(test)
            slot.test = test
            slot.train = train
            bar.empty()
    finally:
        slot.lock.release()
    return slot


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

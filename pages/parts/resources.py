"""Shared, read-only things every session uses, loaded once per process: stores, dataset, models, evaluations.

Loaders only (st.cache_resource): nothing here draws. A model is cached per (name, file
version); a re-saved or deleted model's old entries are dropped at once (forget_model),
and the least recently used of more than MAX_MODELS go too, so their memory is freed.
"""
from __future__ import annotations

import gc
import sys
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

import streamlit as st

from core.data import datasets
from core.drawings import DrawingStore
from core.nets.evaluation import Evaluation, evaluate
from core.store import ModelStore
from core.store.kept import keep_evaluation, read_evaluation

if TYPE_CHECKING:
    from core.runs.queue import JobRegistry

MAX_MODELS = 8

_freeze_lock = threading.Lock()
_frozen = False
_versions_lock = threading.Lock()
_versions: dict[str, set[float]] = {}  # model name -> file versions that may be cached
_warming_lock = threading.Lock()
_warming: dict[tuple[str, float], Future] = {}  # (name, version) -> a model loaded after a page rendered
_warmed: set[tuple[str, float]] = set()          # warmed once already: never again in this process


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    return ModelStore()


@st.cache_resource(show_spinner=False)
def drawing_store() -> DrawingStore:
    """The users' kept drawings, one store per process: $DIGIT_STUDIO_DRAWINGS, else beside the model store.
    Constructing it touches no file; its first use reports a damaged file as a DrawingsError."""
    return DrawingStore()


@st.cache_resource(show_spinner="Loading the dataset...")
def dataset(name: str = datasets.DEFAULT_DATASET) -> datasets.Dataset:
    """A dataset's training and test images, once per process."""
    return datasets.load(name)


def dataset_of(model_name: str) -> str:
    """The dataset a saved model was trained on (its metadata; MNIST for older files)."""
    return model_store().read_meta(model_name).dataset


def registry() -> "JobRegistry":
    """The process-wide job registry (TensorFlow-free: Home can ask it without importing TensorFlow)."""
    from core.runs.executors import default_registry

    if "keras" in sys.modules:  # a page that can start a run: freeze before the first run starts,
        freeze_long_lived()     # so that a model in training is never frozen
    return default_registry()


def active_jobs() -> list:
    """Runs queued or training, oldest first."""
    return registry().active()


def freeze_long_lived() -> None:
    """Once per process, before the first model: move TensorFlow, Keras and the chart libraries
    out of the garbage collector's sight (gc.freeze).

    After every run Streamlit calls keras.backend.clear_session(), which runs a full
    gc.collect(): with TensorFlow's ~350,000 objects tracked that took ~190 ms per stroke on
    this CPU, and ~0.5 ms once they are frozen. Models are loaded after the freeze and stay
    collectable (a frozen object is never freed), so an evicted, replaced or deleted model
    is freed; the ~10,000 objects of a loaded model cost well under a millisecond per collection.
    """
    global _frozen
    with _freeze_lock:
        if _frozen:
            return
        import altair  # noqa: F401  (the pages' charts: imported once, frozen with the rest)
        import keras  # noqa: F401  (TensorFlow with it)

        gc.collect()  # garbage frozen now would never be freed
        gc.freeze()
        keep_keras_state()
        _frozen = True


def _keep_session(free_memory: bool = True) -> None:
    """Stands in for keras.backend.clear_session in the server process: keeps TensorFlow's caches."""


def keep_keras_state() -> None:
    """Stop Streamlit's after-every-run keras.backend.clear_session() from wiping TensorFlow's state.

    Streamlit (script_runner._clean_problem_modules) calls it after each script and fragment run;
    it clears TensorFlow's kernel cache, so the next prediction rebuilds every kernel: answer and
    saliency for cnn-best took ~107 ms after it against 2-5 ms without, and the Inside page's
    what-if fragment 130 ms against 13 ms. It also resets Keras' global settings under a run
    training in a server thread. The server builds no models in a loop (runs train in worker
    processes), so there is no Keras state to free here.
    """
    import keras

    keras.backend.clear_session = _keep_session


def _version(name: str) -> float:
    """Modification time of the model file: a re-saved model gets a fresh cache entry."""
    path = model_store().paths(name)[0]
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading model...", max_entries=MAX_MODELS)
def _load(name: str, version: float):
    freeze_long_lived()
    with _warming_lock:
        warming = _warming.pop((name, version), None)
    if warming is not None:
        try:
            return warming.result()
        except Exception:  # loaded again here, so that its error reaches the page as usual
            pass
    return _read_model(name)


def _read_model(name: str):
    """Model `name` read from its file: the one place the pages load a model (`_load`, `_warm`)."""
    return model_store().load(name)


def warm_model(name: str) -> None:
    """After a page that predicts has rendered: import TensorFlow, load model `name` and run it once, in a thread
    of its own, so that the visitor's first stroke finds them ready and the page itself never waited for them.
    Once per model version and process; `_load` takes the model from there (or waits for it)."""
    try:
        key = (name, _version(name))
    except Exception:  # an unreadable store: the page reports it where the model is used
        return
    with _warming_lock:
        if key in _warmed:
            return
        _warmed.add(key)
        for stale in [k for k in _warming if k[0] == name]:  # an older file version, never drawn with
            del _warming[stale]
        future = _warming[key] = Future()
    threading.Thread(target=_warm, args=(name, future), name=f"warm-model-{name}", daemon=True).start()


def model_ready(name: str) -> bool:
    """Whether load_model(name) answers without waiting on TensorFlow's import: TensorFlow is imported and no
    warm_model of this model is still under way (a model loaded before, or one quick load from the file)."""
    try:
        key = (name, _version(name))
    except Exception:  # an unreadable store: the page reports it where the model is loaded
        return True
    with _warming_lock:
        future = _warming.get(key)
    if future is not None:
        return future.done()
    keras = sys.modules.get("keras")
    return keras is not None and not getattr(getattr(keras, "__spec__", None), "_initializing", False)


def _warm(name: str, future: Future) -> None:
    try:
        import numpy as np

        from core.nets.predict import predict_digit

        freeze_long_lived()
        model = _read_model(name)
        predict_digit(model, np.zeros((28, 28), np.float32))  # traces its forward pass once
        future.set_result(model)
    except BaseException as exc:  # noqa: BLE001  handed to whoever loads the model next
        future.set_exception(exc)


@st.cache_resource(show_spinner="Evaluating on the test images...", max_entries=MAX_MODELS)
def _evaluation(name: str, version: float) -> Evaluation:
    """Read from beside the model when kept there (no TensorFlow needed), else computed once and kept."""
    data = dataset(dataset_of(name))
    x_test, y_test = data.test_arrays()
    model_file = model_store().paths(name)[0]
    kept = read_evaluation(model_file, data.spec.name, y_test)
    if kept is not None:
        return kept
    result = evaluate(_load(name, version), x_test, y_test)
    keep_evaluation(model_file, data.spec.name, result)
    return result


def _current(name: str) -> float:
    """The file version of `name` now; cached entries of its other versions are dropped."""
    version = _version(name)
    with _versions_lock:
        stale = _versions.get(name, set()) - {version}
        _versions[name] = {version}
    for old in stale:
        _load.clear(name, old)
        _evaluation.clear(name, old)
    return version


def load_model(name: str):
    """The model called `name` (cached); raises StoreError with a clear message."""
    return _load(name, _current(name))


def evaluation(name: str) -> Evaluation:
    """Test-set evaluation of model `name`, computed once per model version."""
    return _evaluation(name, _current(name))


def forget_model(name: str) -> None:
    """Drop every cached version of `name` (after it is deleted), so its memory is freed."""
    with _versions_lock:
        versions = _versions.pop(name, set())
    for version in versions:
        _load.clear(name, version)
        _evaluation.clear(name, version)

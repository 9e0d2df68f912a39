"""Shared fixtures: the repo on sys.path, a throwaway model store, a small trained model."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def store(tmp_path):
    from core.store import ModelStore

    return ModelStore(tmp_path / "models")


@pytest.fixture(scope="session")
def small_trained_model(tmp_path_factory):
    """A cnn-basic trained for one epoch on 3,000 samples, saved in a session store: (store, name)."""
    from core.fit.config import TrainConfig
    from core.runs.queue import JobRegistry
    from core.runs.thread import TrainingJob
    from core.store import ModelStore

    store = ModelStore(tmp_path_factory.mktemp("session-models"))
    job = JobRegistry(1, store, TrainingJob).submit(TrainConfig.for_preset("cnn-basic", epochs=1, limit=3000, name="small"))
    assert job.wait(timeout=300), "small training run did not finish"
    assert job.progress().error is None
    return store, "small"


# --- pages (AppTest) -----------------------------------------------------------------------------


@pytest.fixture
def fresh_caches():
    """st.cache_* outlive an AppTest run: a page test starts and ends with nothing cached."""
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def temp_store(tmp_path, monkeypatch, fresh_caches):
    """An empty model folder for the pages ($DIGIT_STUDIO_MODELS), set before any page caches its store;
    the shipped default is still listed. Returns the folder."""
    from core.store import DEFAULT_MODEL, SHIPPED_DIR

    if not (SHIPPED_DIR / f"{DEFAULT_MODEL}.keras").exists():
        pytest.fail("models/default.keras is missing: the app ships a default model")
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(root))
    monkeypatch.delenv("DIGIT_STUDIO_DRAWINGS", raising=False)  # drawings go beside the temporary models too
    return root


@pytest.fixture
def app_store(temp_store):
    """The pages' model store over temp_store, for a test to add or read models."""
    from core.store import ModelStore

    return ModelStore(temp_store)


@pytest.fixture
def page_registry(temp_store, monkeypatch):
    """A private one-slot job registry standing in for the pages' process-wide one; its runs are stopped after."""
    from core.runs.queue import JobRegistry
    from core.runs.thread import TrainingJob
    from core.store import ModelStore
    from pages.parts import resources

    registry = JobRegistry(1, ModelStore(temp_store), TrainingJob)
    monkeypatch.setattr(resources, "registry", lambda: registry)
    yield registry
    for job in registry.jobs():
        job.stop()
    for job in registry.jobs():
        job.wait(300)

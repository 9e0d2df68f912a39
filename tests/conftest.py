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
    from core.config import TrainConfig
    from core.store import ModelStore
    from core.training import JobRegistry

    store = ModelStore(tmp_path_factory.mktemp("session-models"))
    job = JobRegistry(1, store).submit(TrainConfig.for_preset("cnn-basic", epochs=1, limit=3000, name="small"))
    assert job.wait(timeout=300), "small training run did not finish"
    assert job.progress().error is None
    return store, "small"

"""Shared fixtures: the repo on sys.path, a throwaway model store, a small trained model."""
import fcntl
import hashlib
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No warm spare worker unless a test makes a pool that asks for one (tests/test_workers.py, test_pool_spares.py,
# test_worker_reuse.py). Otherwise the pages' process-wide registry starts one in every test process that opens Home
# or Train, and so does every e2e server (they inherit this): a process importing TensorFlow and warming a run that no
# test reads, about 15 s of machine CPU each time (four page files: 55-56 s with it, 40-41 s without).
os.environ.setdefault("DIGIT_STUDIO_SPARE_WORKERS", "0")


def pytest_collection_modifyitems(items):
    """Every test in tests/e2e drives a browser (marker `browser`)."""
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.browser)


# Test files that share a session-scoped server or cluster, so run on one process: file name -> group.
SHARED_BY_FILES = {
    **{name: "shipped-app-server" for name in ("test_draw_browser.py", "test_drawings_browser.py",
                                               "test_inside_browser.py", "test_touch_browser.py")},
    **{name: "training-app-server" for name in ("test_live_browser.py", "test_train_mistakes_browser.py")},
    **{name: "thread-app-server" for name in ("test_presenter_browser.py", "test_sweep_browser.py")},
}


def in_a_ray_file(path) -> bool:
    """The files that use the session's Ray cluster (`cluster`): tests/test_ray_*.py."""
    return Path(path).name.startswith("test_ray_")


def pytest_xdist_make_scheduler(config, log):
    """Under `--dist loadfile` (make test), each test file runs whole on one process, so its servers start once;
    the Ray files (tests/test_ray_*.py) all run on the same process, so the session's Ray cluster starts once for
    them all (`cluster`), and so do the files of each group in SHARED_BY_FILES (tests/e2e/conftest.py's
    `shipped_app_url`, `training_app_url` and `thread_app_url`). (xdist's own `loadgroup` does not group under
    pytest 9.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return "ray-cluster" if in_a_ray_file(file) else SHARED_BY_FILES.get(Path(file).name, file)

    return FilesTogether(config, log)


_cluster: dict = {}  # while this process's local Ray cluster is up: {"address": the RAY_ADDRESS it set aside}


@pytest.fixture(scope="session")
def cluster():
    """One local Ray cluster, never a `ray start` one, whatever RAY_ADDRESS says. Its start-up takes seconds, so
    the tests share it: the files that use it (tests/test_ray_*.py) run one after another on one process
    (pytest_xdist_make_scheduler), and it stops after the last of them (pytest_runtest_teardown), not at the end
    of the session. Ray is imported only by the modules that ask for it."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _cluster["address"] = os.environ.pop("RAY_ADDRESS", None)
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if _cluster:
        _stop_cluster()


def _stop_cluster() -> None:
    import ray

    ray.shutdown()
    address = _cluster.pop("address")
    if address is not None:
        os.environ["RAY_ADDRESS"] = address


@pytest.hookimpl(trylast=True)  # after the test's own fixtures are torn down (the executors it closes)
def pytest_runtest_teardown(item, nextitem):
    """Stop the Ray cluster when the next test is not in a Ray file: idle, its daemons cost about 3% of a core
    (2.1 s of machine CPU a minute, measured), for what would be the rest of the session."""
    if _cluster and (nextitem is None or not in_a_ray_file(nextitem.path)):
        _stop_cluster()


@pytest.fixture
def ray_executor(cluster):
    """A RayExecutor (a CPU a run), closed after the test: an idle warm actor holds its CPU, which the next Ray
    test of the session needs."""
    from core.runs.ray_server import RayExecutor

    executor = RayExecutor(cpus=1, grace=20.0)
    yield executor
    executor.close()


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
    config = TrainConfig.for_preset("cnn-basic", epochs=1, limit=3000, name="small")
    job = JobRegistry(1, store, TrainingJob).submit(config)
    assert job.wait(timeout=300), "small training run did not finish"
    assert job.progress().error is None
    return store, "small"


@pytest.fixture(scope="session")
def small_mlp_model():
    """A custom-mlp (one hidden layer of 32) trained in-process for one epoch on 5,000 MNIST digits (about 90%
    right, a second or two): the MLP the explain tests compare with the shipped CNN."""
    import keras

    from core.data import datasets
    from core.nets.builders import build_model

    keras.utils.set_random_seed(0)
    mnist = datasets.load("mnist")
    model = build_model("custom-mlp", {"hidden": (32,)})
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(datasets.normalise(mnist.x_train[:5000]), mnist.y_train[:5000], epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="session")
def shipped_model():
    """The shipped default model (cnn-best), loaded once per test process."""
    from core.store import DEFAULT_MODEL, ModelStore

    return ModelStore().load(DEFAULT_MODEL)


# --- pages (AppTest) -----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def component_scan_once():
    """Streamlit scans every installed package's metadata for v2 components each time an AppTest starts (about
    0.3 s of CPU, a sixth of the page tests' time); the packages do not change during a session, so once."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    patch = pytest.MonkeyPatch()
    scan = functools.cache(manifest_scanner.scan_component_manifests)
    patch.setattr(manifest_scanner, "scan_component_manifests", scan)
    yield
    patch.undo()


def _digest(arrays) -> str:
    h = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.asarray(array)
        h.update(f"{array.shape}{array.dtype}".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def _arguments_key(args, kwargs) -> str:
    """A call's arguments as a key: arrays by their digest, anything else by its repr."""
    def one(value):
        return _digest([value]) if isinstance(value, np.ndarray) else repr(value)
    return repr(([one(value) for value in args], sorted((name, one(value)) for name, value in kwargs.items())))


class SharedResults:
    """Results remembered by key for the whole run: in memory, and in files under the run's base temporary
    folder, which pytest-xdist's workers share, so a result one worker computed is read by the others (the
    first to need it computes it under a file lock while the others wait)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.known: dict = {}

    def get(self, key: tuple, compute):
        name = hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()
        if name not in self.known:
            path = self.folder / f"{name}.pickle"
            with open(self.folder / f"{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if path.exists():
                    self.known[name] = pickle.loads(path.read_bytes())
                else:
                    self.known[name] = compute()
                    path.with_suffix(".tmp").write_bytes(pickle.dumps(self.known[name]))
                    path.with_suffix(".tmp").replace(path)
        return self.known[name]


@pytest.fixture(scope="session")
def shared_results(tmp_path_factory):
    """The page tests' expensive, deterministic computations, remembered across the run (fresh_caches puts
    them in place): each page test starts with empty caches, so without this every test that opens Inside the
    network would pass all 70,000 images through the model again (~10 s), and every Mistakes or Models page
    would test the model on 10,000 images again (~2.5 s), and what the network imagines would be grown twice, for
    the page and for the test's oracle (~10 s for the shipped CNN and an MLP). Keyed by the model's weights and the
    images, so a different model or dataset is computed afresh; the functions themselves are tested in
    test_explain.py, test_evaluation.py and test_imagine.py. Returns {(module, name): remembered function}."""
    from core import explain
    from core.nets import evaluation

    base = tmp_path_factory.getbasetemp()  # under xdist each process's own folder in the run's: share the run's
    results = SharedResults((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-results")

    def remembering(function, progress_aware: bool = False):
        """`function(model, ...)` remembered by the model's weights and its arguments (arrays by their digest);
        a `progress` callback, if given, hears of the whole stack done at once."""
        def remembered(model, *args, progress=None, **kwargs):
            key = (function.__name__, _digest(model.get_weights()), _arguments_key(args, kwargs))
            extra = {"progress": progress} if progress_aware else {}
            result = results.get(key, lambda: function(model, *args, **extra, **kwargs))
            if progress is not None:
                progress(len(args[0]), len(args[0]))
            return result
        return remembered

    embedding_map = explain.embedding_map

    def remembered_map(*args, **kwargs):
        return results.get(("embedding_map", _arguments_key(args, kwargs)), lambda: embedding_map(*args, **kwargs))

    evaluate = remembering(evaluation.evaluate)
    return {("core.explain", "embed"): remembering(explain.embed, progress_aware=True),
            ("core.explain", "imagine_classes"): remembering(explain.imagine_classes),
            ("core.explain", "imagine_units"): remembering(explain.imagine_units),
            ("core.explain", "embedding_map"): remembered_map,
            ("pages.parts.resources", "evaluate"): evaluate,
            ("pages.parts.drawings_models", "evaluate"): evaluate}


@pytest.fixture(scope="session")
def models_read_once():
    """Models the pages read from a file, kept for the test process by the file's path, time and size: the
    shipped default is read once, not in every page test, and the functions traced on it (its forward pass,
    saliency, embedding) are traced once, as in a server that keeps it (pages.parts.resources caches it so).
    A model saved in a test's own store has a path of its own. In the test process only: {key: model}."""
    return {}


def _read_once(read, models: dict):
    """`read(name)` (pages.parts.resources._read_model) remembered in `models` by the file it reads."""
    from pages.parts import resources

    def kept(name):
        path = resources.model_store().paths(name)[0]
        try:
            stat = path.stat()
        except OSError:  # no file: read it anyway, so that the page reports it as it would
            return read(name)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key not in models:
            models[key] = read(name)
        return models[key]
    kept.__wrapped__ = read  # for pages_read_every_file
    return kept


@pytest.fixture
def pages_read_every_file(fresh_caches, monkeypatch):
    """The pages read each model from its file again (not models_read_once): for tests of how they load and free
    models."""
    from pages.parts import resources

    monkeypatch.setattr(resources, "_read_model", resources._read_model.__wrapped__)


@pytest.fixture
def fresh_caches(shared_results, models_read_once, monkeypatch):
    """st.cache_* outlive an AppTest run: a page test starts and ends with nothing cached (but shared_results and
    the models read once)."""
    import importlib

    import streamlit as st

    from pages.parts import resources

    for (module, name), remembered in shared_results.items():
        monkeypatch.setattr(importlib.import_module(module), name, remembered)
    monkeypatch.setattr(resources, "_read_model", _read_once(resources._read_model, models_read_once))
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
    monkeypatch.delenv("DIGIT_STUDIO_SWEEPS", raising=False)    # and sweeps
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

    registry = JobRegistry(1, ModelStore(temp_store), TrainingJob)
    from page_support import use_registry

    use_registry(monkeypatch, registry)
    yield registry
    for job in registry.jobs():
        job.stop()
    for job in registry.jobs():
        job.wait(300)

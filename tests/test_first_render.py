"""A fresh server's first page waits for nothing it does not show: Train imports no TensorFlow to count
parameters and starts no worker process before it has rendered (spares start in a thread of their own); Draw
and Inside the network load their model in a thread of its own once they have rendered."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from core.nets.parameters import count_parameters
from core.nets.presets import PRESETS, ArchitectureError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# In a fresh interpreter, as a fresh server is: the Train page's first render through the router, with a
# worker pool whose spares would take a minute to start (a forkserver importing TensorFlow on a busy machine).
FIRST_RENDER = textwrap.dedent("""
    import json, sys, threading, time
    from streamlit.testing.v1 import AppTest
    from core.runs import workers

    calls = []
    def slow_top_up(self):
        calls.append(threading.current_thread().name)
        time.sleep(60)
    workers.WorkerPool.top_up = slow_top_up

    started = time.monotonic()
    at = AppTest.from_file("app.py", default_timeout=50)
    at.switch_page("pages/train.py").run()
    print(json.dumps({
        "seconds": time.monotonic() - started,
        "exception": [str(e.value) for e in at.exception],
        "markdown": [m.value for m in at.markdown],
        "modules": sorted(m for m in ("keras", "tensorflow") if m in sys.modules),
        "top_up_threads": calls,
    }))
    sys.stdout.flush()
    import os; os._exit(0)  # the sleeping spare thread must not hold the interpreter
""")


def test_the_first_train_page_imports_no_tensorflow_and_does_not_wait_for_a_worker(tmp_path):
    env = {**os.environ, "DIGIT_STUDIO_MODELS": str(tmp_path), "DIGIT_STUDIO_SPARE_WORKERS": "1",
           "DIGIT_STUDIO_EXECUTOR": "process", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", FIRST_RENDER], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["exception"] == []
    assert any("parameters** to learn" in m for m in found["markdown"]), "the page rendered in full"
    assert found["modules"] == [], "counting parameters or anything else on Train's first render imports TensorFlow"
    assert found["top_up_threads"] == ["start-spare-workers"], \
        "the spare worker is started once, in a thread of its own, not in the page's script run"


def test_spares_start_in_a_thread_of_their_own_and_only_when_there_are_spares():
    from core.runs.executors import start_spares_in_background

    class Pool:
        def __init__(self, spares):
            self.spares, self.threads, self.release = spares, [], threading.Event()

        def top_up(self):
            self.threads.append(threading.current_thread())
            self.release.wait(10)

    pool = Pool(1)
    thread = start_spares_in_background(pool)
    assert thread is not None and thread is not threading.current_thread() and thread.daemon
    pool.release.set()
    thread.join(10)
    assert pool.threads == [thread]
    assert start_spares_in_background(Pool(0)) is None
    assert start_spares_in_background(object()) is None  # a factory without a pool (threads, Ray)


@pytest.mark.slow
def test_counted_parameters_match_the_built_keras_models():
    """The oracle: Keras' own count_params of the model each builder makes."""
    from core.nets.builders import parameter_count

    for arch in PRESETS:
        assert count_parameters(arch) == parameter_count(arch), arch
    for hidden, activation in itertools.product([(), (8,), (64, 64), (1024, 16, 32, 8)], ["relu", "tanh"]):
        options = {"hidden": hidden, "activation": activation, "dropout": 0.3}
        assert count_parameters("custom-mlp", options) == parameter_count("custom-mlp", options), options
    for blocks, filters, kernel, norm, dense in itertools.product([1, 2, 3], [4, 36], [2, 3, 7], [True, False],
                                                                  [0, 128]):
        options = {"blocks": blocks, "filters": filters, "kernel_size": kernel, "batch_norm": norm,
                   "dropout": 0.2, "dense_units": dense}
        assert count_parameters("custom-cnn", options) == parameter_count("custom-cnn", options), options


def test_counting_refuses_what_building_refuses():
    with pytest.raises(ArchitectureError, match="Unknown architecture"):
        count_parameters("cnn-huge")
    with pytest.raises(ArchitectureError, match="Kernel size"):
        count_parameters("custom-cnn", {"kernel_size": 9})
    with pytest.raises(ArchitectureError, match="takes no options"):
        count_parameters("cnn-fast", {"dropout": 0.1})
    assert count_parameters("custom-mlp", {"hidden": (10,)}) == 784 * 10 + 10 + 10 * 10 + 10


# A page's first render in a fresh interpreter, through the router, with warm_model only noting what it is asked for.
PAGE_FIRST_RENDER = textwrap.dedent("""
    import json, sys
    from streamlit.testing.v1 import AppTest
    from pages.parts import resources

    warmed = []
    resources.warm_model = warmed.append  # what the page asks to be made ready after it has rendered

    at = AppTest.from_file("app.py", default_timeout=50)
    at.switch_page(sys.argv[1]).run()
    print(json.dumps({
        "exception": [str(e.value) for e in at.exception],
        "info": [i.value for i in at.info],
        "number_inputs": [n.label for n in at.number_input],
        "captions": [c for image in at.image for c in image.captions],
        "modules": sorted(m for m in ("keras", "tensorflow") if m in sys.modules),
        "warmed": warmed,
    }))
""")


def first_render_of(page: str, store) -> dict:
    env = {**os.environ, "DIGIT_STUDIO_MODELS": str(store), "DIGIT_STUDIO_SPARE_WORKERS": "0", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", PAGE_FIRST_RENDER, page], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_first_draw_page_loads_no_model_and_asks_for_it_after_rendering(tmp_path):
    found = first_render_of("pages/draw.py", tmp_path)
    assert found["exception"] == []
    assert any(i.startswith("Draw a digit in the black box") for i in found["info"]), "the hint is shown"
    assert found["modules"] == [], "the canvas and its hint need no TensorFlow: the first render must not wait for it"
    assert found["warmed"] == ["default"], "the model in use is made ready once the page is drawn"


def test_the_first_inside_page_shows_its_input_and_loads_the_model_after_rendering(tmp_path):
    found = first_render_of("pages/inside.py", tmp_path)
    assert found["exception"] == []
    assert found["number_inputs"] == ["Test image number (0 to 9,999)"], "the input can be chosen meanwhile"
    assert found["captions"] == ["test image #0: what the network gets, 28 x 28"]
    assert any(i.startswith("Loading TensorFlow and default: its answer") for i in found["info"]), found["info"]
    assert found["modules"] == [], "the input and the note need no TensorFlow: the first render must not wait for it"
    assert found["warmed"] == ["default"], "the model is loaded in a thread of its own"


def test_a_warmed_model_is_the_one_the_first_stroke_gets(temp_store, pages_read_every_file, monkeypatch):
    """warm_model loads in a thread of its own; the page's load_model then takes that model, not a second load."""
    from core.store import ModelStore
    from pages.parts import resources

    loads = []
    real_load = ModelStore.load

    def counted(self, name):
        loads.append(threading.current_thread().name)
        return real_load(self, name)

    monkeypatch.setattr(ModelStore, "load", counted)
    monkeypatch.setattr(resources, "_warmed", set())
    monkeypatch.setattr(resources, "_warming", {})
    resources.warm_model("default")
    resources.warm_model("default")  # asked again: still one load
    model = resources.load_model("default")
    assert loads == ["warm-model-default"], "loaded once, by the warming thread"
    assert resources.load_model("default") is model
    assert resources._warming == {}, "handed over: the warming table keeps no model alive"


def test_model_ready_follows_a_warming_load(temp_store, pages_read_every_file, monkeypatch):
    """Not ready while warm_model's thread is still loading; ready once it is done (or once TensorFlow is in)."""
    from core.store import ModelStore
    from pages.parts import resources

    release = threading.Event()
    real_load = ModelStore.load

    def held(self, name):
        release.wait(30)
        return real_load(self, name)

    monkeypatch.setattr(ModelStore, "load", held)
    monkeypatch.setattr(resources, "_warmed", set())
    monkeypatch.setattr(resources, "_warming", {})
    resources.warm_model("default")
    assert not resources.model_ready("default"), "still loading in its thread"
    release.set()
    [future] = resources._warming.values()
    future.result(timeout=60)
    assert resources.model_ready("default")
    assert resources.model_ready("no-such-model"), "nothing to wait for: the page reports the missing model itself"


SERVER_SETTINGS = textwrap.dedent("""
    import json
    from streamlit import config
    config.get_config_options(force_reparse=True)
    print(json.dumps({key: config.get_option(key) for key in
                      ("server.fileWatcherType", "runner.postScriptGC", "client.toolbarMode")}))
""")


def test_a_server_started_in_the_project_watches_no_source_files():
    """`streamlit run app.py` in the project folder (`make run`, or typed by hand) reads .streamlit/config.toml: no
    file watching (Streamlit would walk every imported module after each script run), no full GC after each run."""
    done = subprocess.run([sys.executable, "-c", SERVER_SETTINGS], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "server.fileWatcherType": "none", "runner.postScriptGC": False, "client.toolbarMode": "minimal"}

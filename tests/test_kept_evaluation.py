"""The test-set evaluation kept beside a model (core.store.kept): written when a run is tested, read back
only for the same model file's bytes, dropped when the model is saved again or deleted, and read by the
Mistakes page without importing TensorFlow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from core.data import datasets
from core.nets.evaluation import Evaluation
from core.store import DEFAULT_MODEL, SHIPPED_DIR, ModelStore
from core.store.kept import evaluation_path, keep_evaluation, read_evaluation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def made_up_evaluation(count: int = 50, seed: int = 0) -> Evaluation:
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.ones(10), size=count).astype(np.float32)
    return Evaluation(rng.integers(0, 10, count), probabilities)


def test_kept_for_one_model_files_bytes_only(small_trained_model, tmp_path):
    store, name = small_trained_model
    mine = ModelStore(tmp_path / "models")
    mine.save("mine", store.load(name), store.read_meta(name))
    model_file = mine.paths("mine")[0]
    made = made_up_evaluation()
    assert keep_evaluation(model_file, "mnist", made)
    assert evaluation_path(model_file) == model_file.parent / "mine.eval.npz"

    kept = read_evaluation(model_file, "mnist", made.labels)
    assert kept is not None
    np.testing.assert_array_equal(kept.probabilities, made.probabilities)
    assert kept.accuracy == made.accuracy
    assert read_evaluation(model_file, "fashion-mnist", made.labels) is None  # another dataset's test set
    assert read_evaluation(model_file, "mnist", made.labels[:10]) is None     # another number of images

    model_file.write_bytes(model_file.read_bytes() + b"\0")  # the file replaced by hand: other bytes
    assert read_evaluation(model_file, "mnist", made.labels) is None

    keep_evaluation(model_file, "mnist", made)
    mine.save("mine", store.load(name), store.read_meta(name))  # saved again: the old figures go
    assert not evaluation_path(model_file).exists()

    keep_evaluation(model_file, "mnist", made)
    mine.delete("mine")
    assert not evaluation_path(model_file).exists()


def test_a_damaged_kept_file_is_not_read(small_trained_model, tmp_path):
    store, name = small_trained_model
    mine = ModelStore(tmp_path / "models")
    mine.save("mine", store.load(name), store.read_meta(name))
    model_file = mine.paths("mine")[0]
    evaluation_path(model_file).write_bytes(b"not an npz")
    assert read_evaluation(model_file, "mnist", np.zeros(50, int)) is None
    assert keep_evaluation(model_file, "mnist", made_up_evaluation())  # and is written over
    assert read_evaluation(model_file, "mnist", made_up_evaluation().labels) is not None


def test_a_trained_run_keeps_the_evaluation_its_metadata_reports(small_trained_model):
    store, name = small_trained_model
    y_test = datasets.load("mnist").y_test
    kept = read_evaluation(store.paths(name)[0], "mnist", y_test)
    assert kept is not None, "the run's test on the whole test set was not kept beside the model"
    meta = store.read_meta(name)
    assert kept.accuracy == pytest.approx(meta.test_accuracy, abs=1e-6)
    assert kept.confusion.tolist() == [list(row) for row in meta.test_metrics.confusion]


def test_the_shipped_default_ships_its_evaluation_for_its_own_file():
    """`python -m core evaluate --model default` writes it; a new default.keras without it fails here."""
    y_test = datasets.load("mnist").y_test
    kept = read_evaluation(SHIPPED_DIR / f"{DEFAULT_MODEL}.keras", "mnist", y_test)
    assert kept is not None, "models/default.eval.npz is missing or made for another default.keras"
    meta = json.loads((SHIPPED_DIR / f"{DEFAULT_MODEL}.json").read_text())
    assert kept.accuracy == pytest.approx(meta["test_metrics"]["accuracy"], abs=1e-4)


MISTAKES_FIRST_RENDER = textwrap.dedent("""
    import json, sys
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("app.py", default_timeout=60)
    at.switch_page("pages/mistakes.py").run()
    print(json.dumps({
        "exception": [str(e.value) for e in at.exception],
        "metrics": {m.label: m.value for m in at.metric},
        "modules": sorted(m for m in ("keras", "tensorflow") if m in sys.modules),
    }))
""")


def test_the_mistakes_page_reads_the_kept_evaluation_without_tensorflow(tmp_path):
    env = {**os.environ, "DIGIT_STUDIO_MODELS": str(tmp_path), "DIGIT_STUDIO_EXECUTOR": "thread",
           "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", MISTAKES_FIRST_RENDER], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["exception"] == []
    meta = json.loads((SHIPPED_DIR / f"{DEFAULT_MODEL}.json").read_text())
    assert found["metrics"]["Test accuracy"] == f"{meta['test_metrics']['accuracy']:.2%}"
    assert found["modules"] == [], "the Mistakes page imported TensorFlow although the evaluation is kept"

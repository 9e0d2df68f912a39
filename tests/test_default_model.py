"""The shipped default model against issue 23's aims: it reads people's drawings, not only MNIST.

Its recorded figures (models/default.json) must meet the aims and be the model's own, and it must read 1,000
stroke drawings that no benchmark or recorded figure was measured on.
"""
import numpy as np
import pytest

from benchmarks.inference import AIM
from core.data import datasets, font_digits
from core.data.preprocess import canvas_to_mnist
from core.data.strokes import robustness_set
from core.nets.evaluation import evaluate
from core.store import DEFAULT_MODEL, ModelStore

from saved_files import weight_names

STROKE_SET = "robustness_set(x_test, y_test, n=3000, seed=0)"   # the benchmark's set (section 5)
FONT_SET = "data/font-digits.npz"
FRESH_SEED = 23          # the benchmark draws with seeds 0 (section 5) and 1 (section 4)
FRESH_AIM = 0.99


@pytest.fixture(scope="module")
def meta():
    return ModelStore().read_meta(DEFAULT_MODEL)


def recorded_figures(meta) -> dict[str, float]:
    return {"MNIST test": meta.test_accuracy, "stroke set": meta.extra["stroke_set_accuracy"][STROKE_SET],
            "font set": meta.extra["font_set_accuracy"][FONT_SET]}


@pytest.mark.xfail(strict=True, reason="issue 23: the shipped default reads 99.00% of the stroke set, against the "
                                       "aim of 99.5%; strict, so a default that meets every aim fails here until "
                                       "this mark is removed")
def test_the_recorded_figures_meet_the_aims(meta):
    short = {what: value for what, value in recorded_figures(meta).items() if value < AIM}
    assert not short, f"below the aim of {AIM:.1%}: {short}"


def test_the_recorded_figures_are_the_models_own(meta):
    """The font-set and MNIST-test figures measured again (the 3,000-drawing stroke set is the benchmark's)."""
    model = ModelStore().load(DEFAULT_MODEL)
    fonts = font_digits.load()
    x_test, y_test = datasets.load("mnist").test_arrays()
    assert evaluate(model, fonts.x, fonts.labels).accuracy == pytest.approx(recorded_figures(meta)["font set"], abs=5e-5)
    assert evaluate(model, x_test, y_test).accuracy == pytest.approx(recorded_figures(meta)["MNIST test"], abs=5e-5)


@pytest.mark.slow
def test_the_default_reads_fresh_stroke_drawings():
    mnist = datasets.load("mnist")
    canvases, labels, _ = robustness_set(mnist.x_test, mnist.y_test, 1000, seed=FRESH_SEED)
    x = np.stack([canvas_to_mnist(canvas).image for canvas in canvases])[..., None]
    accuracy = evaluate(ModelStore().load(DEFAULT_MODEL), x, labels).accuracy
    assert accuracy >= FRESH_AIM, f"{accuracy:.2%} of 1,000 fresh stroke drawings (seed {FRESH_SEED})"


def test_the_shipped_file_holds_the_network_without_its_optimizer():
    """Saved as a run saves its model (core.nets.builders.for_inference): Adam's state made the file three times
    as large and its load a quarter slower."""
    names = weight_names(ModelStore().paths(DEFAULT_MODEL)[0])
    assert names and not [name for name in names if "optimizer" in name], names

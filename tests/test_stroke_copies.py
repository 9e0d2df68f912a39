"""Stroke-drawn copies: training digits redrawn as mouse strokes, added to a run's training samples."""
import numpy as np
import pytest

from core.data import datasets
from core.data.stroke_copies import stroke_copies
from core.fit.config import ConfigError, TrainConfig
from core.fit.recipe import plan_fit, with_stroke_copies
from core.store import ModelStore


@pytest.fixture(scope="module")
def mnist():
    return datasets.load("mnist")


def test_copies_are_inputs_like_the_draw_pages_and_deterministic(mnist):
    x, y = stroke_copies(mnist.x_train[:400], mnist.y_train[:400], 60, seed=3)
    again, y_again = stroke_copies(mnist.x_train[:400], mnist.y_train[:400], 60, seed=3)
    other, _ = stroke_copies(mnist.x_train[:400], mnist.y_train[:400], 60, seed=4)
    assert x.shape == (60, 28, 28, 1) and x.dtype == np.float32 and y.shape == (60,)
    assert np.array_equal(x, again) and np.array_equal(y, y_again) and not np.array_equal(x, other)
    assert x.min() >= 0 and np.allclose(x.max(axis=(1, 2, 3)), 1.0)   # canvas_to_mnist scales ink to 1
    for copy in x[..., 0] > 0.05:                                      # fitted to MNIST's 20-pixel box
        rows, cols = np.flatnonzero(copy.any(axis=1)), np.flatnonzero(copy.any(axis=0))
        assert 18 <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 22


def test_copies_keep_their_labels(mnist):
    """The shipped model reads redrawn digits as the digits they were: the labels travel with the copies."""
    x, y = stroke_copies(mnist.x_train, mnist.y_train, 200, seed=0)
    model = ModelStore().load("default")
    predicted = np.asarray(model(x, training=False)).argmax(axis=1)
    assert (predicted == y).mean() > 0.9
    shuffled = np.random.default_rng(0).permutation(y)
    assert (predicted == shuffled).mean() < 0.3


def test_copies_come_from_training_digits_only(mnist):
    split = datasets.split(mnist, validation_split=0.2, seed=1, limit=500)
    assert np.array_equal(datasets.normalise(mnist.x_train[split.train_index]), split.x_train)
    more = with_stroke_copies(split, mnist, 150, seed=1)
    assert len(more.y_train) == 400 + 150 and np.array_equal(more.x_val, split.x_val)
    assert np.array_equal(more.x_train[:400], split.x_train)
    # every copy's label is the label of a digit in the training part: the validation part is never redrawn
    train_labels = np.bincount(split.y_train, minlength=10)
    assert all(train_labels[label] > 0 for label in more.y_train[400:])


def test_a_run_trains_on_the_copies_too():
    plan = plan_fit(TrainConfig(arch="linear", epochs=1, limit=300, validation_split=0.0, stroke_copies=100))
    assert plan.train_samples == 400 and plan.batches_per_epoch == int(np.ceil(400 / 128))


@pytest.mark.parametrize("values, words", [
    ({"dataset": "fashion-mnist", "stroke_copies": 100}, "Fashion-MNIST has none"),
    ({"stroke_copies": -1}, "whole number from 0 to 120000"),
    ({"stroke_copies": 120001}, "whole number from 0 to 120000"),
    ({"stroke_copies": 2.5}, "whole number"),
    ({"stroke_copies": True}, "whole number"),
])
def test_impossible_copies_are_refused_before_training(values, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig(**values)


def test_summary_names_the_copies():
    assert "5,000 stroke-drawn copies" in TrainConfig(stroke_copies=5000).summary()
    assert "stroke" not in TrainConfig().summary()


def test_stop_while_copies_are_made_saves_nothing_and_says_what_it_does(tmp_path):
    """Making 60,000 copies takes minutes: Stop must work then too, and the page and CLI say what happens."""
    from core.data.stroke_copies import preparing_text
    from core.fit.progress import ProgressRecorder
    from core.fit.training import train

    config = TrainConfig(arch="linear", epochs=1, limit=2000, stroke_copies=5000)
    asked = []

    def stop_requested():
        asked.append(1)
        return len(asked) > 3          # a few hundred copies in, Stop is pressed

    store = ModelStore(tmp_path / "models")
    assert train(config, ProgressRecorder("j", config), stop_requested, store) is None
    assert 3 < len(asked) < 10 and [info.name for info in store.list()] == ["default"]   # the shipped one only
    assert preparing_text(60000).startswith("Drawing 60,000 training digits as mouse strokes (about 240 s)")


def test_more_copies_than_digits_use_every_digit_evenly_with_different_drawings(mnist):
    labels = np.arange(50)                      # labels = which digit was redrawn
    x, used = stroke_copies(mnist.x_train[:50], labels, 120, seed=0)
    counts = np.bincount(used, minlength=50)
    assert counts.min() == 2 and counts.max() == 3 and counts.sum() == 120
    twice = np.flatnonzero(used == used[0])
    assert len(twice) >= 2 and not np.array_equal(x[twice[0]], x[twice[1]])

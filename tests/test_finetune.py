"""Fine-tuning on drawings: it must raise held-out accuracy on drawings an MNIST model gets wrong,
keep MNIST, save a new model with its provenance, and refuse impossible settings before training."""
import json

import numpy as np
import pytest

from core import datasets
from core.drawings import DrawingStore, evaluate_on_drawings
from core.drawings.values import record
from core.finetune import FineTuneError, FineTuneSettings, fine_tune, held_out_split
from core.store import StoreError


@pytest.fixture
def sideways(tmp_path):
    """200 MNIST test digits turned a quarter turn (a tablet held sideways), labelled with the true digit."""
    mnist = datasets.load("mnist")
    images = np.rot90(mnist.x_test[:200], 1, axes=(1, 2))
    store = DrawingStore(tmp_path / "drawings.sqlite3")
    store.add_records([record(int(label), image, author="sideways", created_unix=1e9 + i)
                       for i, (image, label) in enumerate(zip(images, mnist.y_test[:200]))], skip_duplicates=False)
    return store


def test_fine_tuning_raises_held_out_accuracy_on_drawings_the_model_gets_wrong(sideways, store):
    settings = FineTuneSettings(epochs=3, mnist_samples=500, drawing_weight=5, test_limit=2000, seed=0)
    result = fine_tune("default", sideways, settings, store=store)

    assert result.drawings == 200 and result.held_out == 50 and len(result.history) == 3
    assert result.before["drawings_accuracy"] < 0.4, "premise: the shipped model cannot read sideways digits"
    assert result.after["drawings_accuracy"] >= result.before["drawings_accuracy"] + 0.3, result
    assert result.after["mnist_accuracy"] >= 0.95 and result.before["mnist_accuracy"] > 0.99

    meta = json.loads((store.root / f"{result.model_name}.json").read_text())
    assert result.model_name == "default-tuned" and meta["fine_tuned_from"] == "default"
    assert meta["drawings"] == 200 and meta["held_out"] == 50 and meta["mnist_test_samples"] == 2000
    assert meta["before"] == result.before and meta["after"] == result.after and meta["arch"] == "cnn-best"
    assert meta["test_metrics"]["accuracy"] == result.after["mnist_accuracy"]
    assert "Fine-tuned from default" in meta["note"]

    # Oracle: the saved model, loaded afresh, scores the same on the held-out drawings it never trained on.
    tuned = store.load(result.model_name)
    x, y = sideways.arrays()
    _, held = held_out_split(200, settings.held_out, settings.seed)
    held_store = DrawingStore(sideways.path.with_name("held.sqlite3"))
    held_store.add_records([record(int(y[i]), x[i], created_unix=float(i)) for i in held], skip_duplicates=False)
    assert evaluate_on_drawings(tuned, held_store).accuracy == pytest.approx(result.after["drawings_accuracy"])
    assert fine_tune("default", sideways, FineTuneSettings(epochs=1, mnist_samples=0, test_limit=100),
                     store=store).model_name == "default-tuned-2"


def test_the_held_out_split_is_seeded_disjoint_and_never_empty():
    train, held = held_out_split(40, 0.25, seed=3)
    assert len(held) == 10 and len(train) == 30 and not set(train) & set(held)
    assert sorted([*train, *held]) == list(range(40))
    assert np.array_equal(held, held_out_split(40, 0.25, seed=3)[1])
    assert not np.array_equal(held, held_out_split(40, 0.25, seed=4)[1])
    assert len(held_out_split(10, 0.01, 0)[1]) == 1 and len(held_out_split(10, 0.99, 0)[0]) == 1


@pytest.mark.parametrize("settings, fragment", [
    (dict(epochs=0), "Epochs must be a whole number from 1 to 20"),
    (dict(epochs=21), "Epochs must be"),
    (dict(epochs=2.5), "Epochs must be"),
    (dict(held_out=0.0), "Held-out share must be between 0 and 1"),
    (dict(held_out=1.0), "Held-out share"),
    (dict(held_out=True), "Held-out share"),
    (dict(drawing_weight=0), "Drawing weight must be"),
    (dict(mnist_samples=-1), "Mnist samples must be"),
    (dict(learning_rate=0.5), "Learning rate"),
    (dict(seed=-1), "Seed must be"),
    (dict(test_limit=5), "Test limit"),
])
def test_impossible_settings_are_refused_before_training(sideways, store, settings, fragment):
    with pytest.raises(FineTuneError, match=fragment):
        fine_tune("default", sideways, FineTuneSettings(**settings), store=store)
    assert not store.root.exists() or not list(store.root.glob("*.keras"))


def test_too_few_drawings_an_unknown_model_or_a_bad_name_are_refused_before_training(tmp_path, store):
    few = DrawingStore(tmp_path / "few.sqlite3")
    for i in range(9):
        few.add(i, np.zeros((28, 28), np.uint8))
    with pytest.raises(FineTuneError, match=r"at least 10 kept drawings \(there are 9\)"):
        fine_tune("default", few, store=store)
    few.add(9, np.zeros((28, 28), np.uint8))
    with pytest.raises(StoreError, match="No model named 'ghost'"):
        fine_tune("ghost", few, store=store)
    with pytest.raises(StoreError, match="Invalid model name"):
        fine_tune("default", few, store=store, name="../up")
    assert not store.root.exists() or not list(store.root.glob("*.keras"))

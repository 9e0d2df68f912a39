import hashlib

import numpy as np
import pytest

from core.data import datasets


def test_bundled_mnist_shapes_counts_and_checksum():
    mnist = datasets.load("mnist")
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28) and mnist.y_test.dtype == np.uint8
    # label counts published with the dataset (../shared/datasets/README.md)
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert hashlib.sha256(datasets.MNIST.path.read_bytes()).hexdigest() == datasets.MNIST.sha256
    assert datasets.load("mnist") is mnist, "loaded once per process"


def test_split_is_seeded_limited_and_normalised():
    mnist = datasets.load("mnist")
    a = datasets.split(mnist, validation_split=0.2, seed=3, limit=1000)
    b = datasets.split(mnist, validation_split=0.2, seed=3, limit=1000)
    c = datasets.split(mnist, validation_split=0.2, seed=4, limit=1000)
    assert a.x_train.shape == (800, 28, 28, 1) and a.x_val.shape == (200, 28, 28, 1)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.y_train, c.y_train)
    full = datasets.split(mnist, 0.1, 0)
    assert len(full.y_train) + len(full.y_val) == 60000


@pytest.mark.parametrize("validation_split, limit", [(0.1, None), (0.2, 1000), (0.1, 333), (0.0, 500), (0.5, 90000)])
def test_split_sizes_are_what_split_gives(validation_split, limit):
    mnist = datasets.load("mnist")
    split = datasets.split(mnist, validation_split, seed=1, limit=limit)
    assert datasets.split_sizes(60000, validation_split, limit) == (len(split.y_train), len(split.y_val))


def test_corrupt_file_gives_one_clear_message(tmp_path, monkeypatch):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"not a zip file at all")
    monkeypatch.setattr(datasets, "DATA_DIR", tmp_path)
    with pytest.raises(datasets.DatasetError, match="corrupt.*git checkout"):
        datasets.load("mnist")


def test_wrong_shapes_are_reported(tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, x_train=np.zeros((5, 28, 28), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, np.uint8))
    with pytest.raises(datasets.DatasetError, match="x_train"):
        datasets.load("mnist", path)


def test_missing_bundled_file_falls_back_to_keras_download(tmp_path, monkeypatch):
    import keras

    fake = {"x_train": np.zeros((60000, 28, 28), np.uint8), "y_train": np.zeros(60000, np.uint8),
            "x_test": np.zeros((10000, 28, 28), np.uint8), "y_test": np.ones(10000, np.uint8)}
    calls = []

    def load_data():
        calls.append(1)
        return (fake["x_train"], fake["y_train"]), (fake["x_test"], fake["y_test"])

    monkeypatch.setattr(datasets, "DATA_DIR", tmp_path)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", load_data)
    mnist = datasets.load("mnist")
    assert calls == [1] and mnist.y_test[0] == 1


def test_fashion_mnist_ships_with_its_classes_and_checksum():
    fashion = datasets.load("fashion-mnist")
    assert fashion.x_train.shape == (60000, 28, 28) and fashion.x_test.shape == (10000, 28, 28)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10 and np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.spec.class_names[0] == "T-shirt/top" and fashion.spec.class_names[9] == "Ankle boot"
    assert hashlib.sha256(fashion.spec.path.read_bytes()).hexdigest() == fashion.spec.sha256
    assert not fashion.spec.is_digits and datasets.MNIST.is_digits
    assert not np.array_equal(fashion.x_test[:10], datasets.load("mnist").x_test[:10])


@pytest.mark.parametrize("name", ["emnist", None, 3, ["mnist"]])
def test_unknown_dataset_is_refused_by_name(name):
    with pytest.raises(datasets.DatasetError, match="Unknown dataset"):
        datasets.load(name)


def test_the_last_small_splits_are_kept_read_only_and_a_large_one_is_made_anew():
    """A room runs the same step again and again: its split is made once (datasets.split keeps the last ones)."""
    mnist = datasets.load("mnist")
    first = datasets.split(mnist, 0.1, seed=3, limit=2000)
    assert datasets.split(mnist, 0.1, seed=3, limit=2000) is first
    other = datasets.split(mnist, 0.1, seed=4, limit=2000)
    assert other is not first and not np.array_equal(other.train_index, first.train_index)
    for array in (first.x_train, first.y_train, first.x_val, first.y_val, first.train_index):
        assert not array.flags.writeable, "a kept split is shared: nobody may change it"
    with pytest.raises(ValueError):
        first.x_train[0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(first.x_train, datasets.normalise(mnist.x_train[first.train_index]))
    for seed in range(5, 5 + datasets.KEPT_SPLITS):
        datasets.split(mnist, 0.1, seed=seed, limit=2000)
    assert datasets.split(mnist, 0.1, seed=3, limit=2000) is not first, "only the last KEPT_SPLITS are kept"
    whole = datasets.split(mnist, 0.1, seed=3)  # 54,000 digits: more than SMALL_ARRAYS_BYTES
    assert whole.x_train.nbytes > datasets.SMALL_ARRAYS_BYTES
    assert datasets.split(mnist, 0.1, seed=3) is not whole and whole.x_train.flags.writeable


def test_recent_keeps_the_last_values_used_and_drops_the_oldest():
    """core.data.recent.Recent, behind the kept splits, their tensors, warm models and layer watches."""
    from core.data.recent import Recent

    kept = Recent(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1          # now the most recent
    kept.put("c", 3)                   # "b" was used least recently
    assert "b" not in kept and kept.get("b") is None and kept.values() == [1, 3] and len(kept) == 2
    kept.put("a", 4)
    kept.pop("c")
    kept.pop("missing")
    assert kept.values() == [4]
    kept.clear()
    assert len(kept) == 0

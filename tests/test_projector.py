"""core.explain.projector: the t-SNE map is reproducible with its seed, keeps the activations' neighbours far
better than PCA, places a new point among its neighbours, and is kept beside the model: reused while the model
file is unchanged, made afresh when it changes, removed with the model."""
import numpy as np
import pytest

from core import explain
from core.data import datasets
from core.explain import projector
from core.store import ModelMeta, ModelStore


@pytest.fixture(scope="module")
def test_embeddings(shipped_model):
    """The shipped CNN's embeddings of the first 800 test images, and their labels."""
    mnist = datasets.load("mnist")
    return explain.embed(shipped_model, mnist.x_test[:800]), mnist.y_test[:800]


@pytest.fixture(scope="module")
def tsne(test_embeddings):
    return explain.tsne_map(test_embeddings[0], seed=3)


def test_the_map_is_reproducible_with_its_seed(test_embeddings, tsne):
    steps = []
    again = explain.tsne_map(test_embeddings[0], seed=3, progress=lambda fraction, words: steps.append(fraction))
    np.testing.assert_array_equal(again, tsne)
    assert tsne.shape == (800, 2) and tsne.dtype == np.float32
    assert not np.allclose(explain.tsne_map(test_embeddings[0], seed=4), tsne)
    assert steps[0] == 0 and steps[-1] == 1 and steps == sorted(steps)


def test_the_map_keeps_the_activations_neighbours_far_better_than_pca(test_embeddings, tsne):
    points, labels = test_embeddings
    kept = explain.neighbour_agreement(points, tsne, k=10)
    pca = explain.neighbour_agreement(points, explain.embedding_map(points).coordinates, k=10)
    assert kept >= 0.6 and kept > pca + 0.3, (kept, pca)
    on_map = projector.nearest_rows(tsne, tsne, 2)[:, 1]
    assert (labels[on_map] == labels).mean() > 0.9  # the shipped CNN reads these right: its clusters are the classes


def test_a_new_point_lands_where_its_neighbours_are(test_embeddings, tsne):
    points, _ = test_embeddings
    np.testing.assert_array_equal(explain.place(points, tsne, points[17], k=1), tsne[17])
    spot = explain.place(points, tsne, points[17] + 1e-3)
    neighbours = projector.nearest_rows(points, points[17:18], 10)[0]
    np.testing.assert_allclose(spot, np.median(tsne[neighbours], axis=0))
    with pytest.raises(explain.ExplainError, match="numbers"):
        explain.place(points, tsne, np.zeros(3))


class _Counting:
    """Stands in for tsne_map: counts the maps made (the cache is what is tested here, not t-SNE)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, embeddings, seed=0, iterations=0, progress=None):
        self.calls += 1
        return np.asarray(embeddings, np.float32)[:, :2] + self.calls


def test_the_map_is_kept_beside_the_model_reused_and_made_afresh_when_the_model_changes(
        tmp_path, monkeypatch, small_mlp_model, shipped_model):
    counting = _Counting()
    monkeypatch.setattr(projector, "tsne_map", counting)
    store = ModelStore(tmp_path / "models")
    store.save("mine", small_mlp_model, ModelMeta(arch="custom-mlp"))
    mnist = datasets.load("mnist")
    embeddings = np.random.default_rng(0).normal(size=(len(mnist.x_test), 4)).astype(np.float32)

    first = explain.model_map(store, "mine", small_mlp_model, mnist, embeddings=embeddings)
    assert not first.from_cache and counting.calls == 1
    assert store.map_path("mine").exists() and store.map_path("mine").parent == store.root
    again = explain.model_map(store, "mine", small_mlp_model, mnist, embeddings=embeddings)
    assert again.from_cache and counting.calls == 1
    np.testing.assert_array_equal(again.coordinates, first.coordinates)

    other_seed = explain.model_map(store, "mine", small_mlp_model, mnist, seed=1, embeddings=embeddings)
    assert not other_seed.from_cache and counting.calls == 2  # other settings: another map

    store.save("mine", shipped_model, ModelMeta(arch="cnn-best"))  # the name now holds another model
    assert not store.map_path("mine").exists()
    remade = explain.model_map(store, "mine", shipped_model, mnist, embeddings=embeddings)
    assert not remade.from_cache and counting.calls == 3

    model_file = store.paths("mine")[0]  # changed behind the store's back: the key still notices
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    assert not explain.model_map(store, "mine", shipped_model, mnist, embeddings=embeddings).from_cache

    store.delete("mine")
    assert not store.map_path("mine").exists()


def test_a_damaged_kept_map_is_made_again(tmp_path, monkeypatch, small_mlp_model):
    counting = _Counting()
    monkeypatch.setattr(projector, "tsne_map", counting)
    store = ModelStore(tmp_path / "models")
    store.save("mine", small_mlp_model, ModelMeta(arch="custom-mlp"))
    mnist = datasets.load("mnist")
    store.map_path("mine").write_bytes(b"not a map")
    made = explain.model_map(store, "mine", small_mlp_model, mnist,
                             embeddings=np.zeros((len(mnist.x_test), 3), np.float32))
    assert not made.from_cache and counting.calls == 1

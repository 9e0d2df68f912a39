"""core.explain against oracles: hand-built models whose answer depends on one patch, identities of the
geometry, the linear model's algebra, Keras' own recorded layer shapes, and the app's own preprocessing."""
import gc
import weakref

import keras
import numpy as np
import pytest
from keras import layers
from scipy import ndimage

from core import explain
from core.nets.builders import build_model, for_inference
from core.nets.presets import PRESETS

PATCH_ROWS, PATCH_COLS = slice(4, 10), slice(15, 21)  # off-centre and asymmetric: a transposed map would miss it


def _mnist():
    from core.data import datasets

    return datasets.load("mnist")


def _keras_layers(model):
    """(name, output shape) of every leaf layer as Keras recorded them, nested Sequentials opened."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            out.extend(_keras_layers(layer))
        else:
            out.append((layer.name, tuple(layer.output.shape[1:])))
    return out


def _patch_mask() -> np.ndarray:
    mask = np.zeros((28, 28), bool)
    mask[PATCH_ROWS, PATCH_COLS] = True
    return mask


def _noise_image(seed=0) -> np.ndarray:
    """Ink everywhere, so only the model can make the map local."""
    return np.random.default_rng(seed).uniform(0.2, 1.0, (28, 28)).astype(np.float32)


@pytest.fixture(scope="module")
def presets():
    """Every preset, untrained, as it is stored (logits presets wrapped in a nested Softmax Sequential)."""
    keras.utils.set_random_seed(0)
    return {arch: for_inference(build_model(arch), preset.logits) for arch, preset in PRESETS.items()}


@pytest.fixture(scope="module")
def mnist():
    return _mnist()


def test_every_preset_activations_have_each_layers_output_shape_and_saliency_works(presets, mnist):
    x = mnist.x_test[0].astype(np.float32) / 255
    for arch, model in presets.items():
        found = explain.activations(model, x)
        assert [(a.name, a.values.shape) for a in found] == _keras_layers(model), arch
        assert all(a.output_shape == a.values.shape and a.low == a.values.min() for a in found)
        assert all(a.folded == (a.kind in ("dropout", "flatten")) for a in found)
        probabilities = np.asarray(model(x.reshape(1, 28, 28, 1), training=False))[0]
        np.testing.assert_allclose(found[-1].values, probabilities, atol=1e-5, err_msg=arch)
        has_conv = any(a.kind == "conv" for a in found)
        result = explain.saliency(model, x)
        assert result.method == ("grad-cam" if has_conv else "integrated-gradients"), arch
        assert result.heatmap.shape == (28, 28) and 0 <= result.heatmap.min() and result.heatmap.max() <= 1
        assert result.predicted_class == result.target_class == int(probabilities.argmax()), arch


def test_first_layer_pictures_are_the_kernels_and_the_weights_into_each_unit(presets):
    conv = explain.first_layer_weights(presets["cnn-basic"])
    kernel = np.asarray(presets["cnn-basic"].layers[0].kernel)  # (3, 3, 1, 32)
    assert conv.kind == "conv" and conv.images.shape == (32, 3, 3)
    np.testing.assert_array_equal(conv.images[5], kernel[:, :, 0, 5])
    mlp = explain.first_layer_weights(presets["mlp-512"])
    dense = np.asarray(presets["mlp-512"].layers[1].kernel)  # (784, 512)
    assert mlp.kind == "dense" and mlp.images.shape == (512, 28, 28)
    np.testing.assert_array_equal(mlp.images[7], dense[:, 7].reshape(28, 28))
    assert explain.first_layer_weights(presets["tiny-20px"]).images.shape == (25, 20, 20)
    for arch, whole in (("cnn-basic", conv), ("mlp-512", mlp)):  # a snapshot's few: the same pictures
        first = explain.first_layer_weights(presets[arch], units=6)
        assert first.kind == whole.kind and first.images.shape == (6, *whole.images.shape[1:])
        np.testing.assert_array_equal(first.images, whole.images[:6])


def test_linear_templates_are_the_product_of_the_kernels_and_give_its_scores():
    model = build_model("linear")
    first, second = (np.asarray(layer.kernel, dtype=np.float64) for layer in model.layers[1:])
    templates = explain.class_templates(for_inference(model, logits=True))
    np.testing.assert_allclose(templates, (first @ second).T.reshape(10, 28, 28), rtol=1e-5, atol=1e-7)
    x = _noise_image()  # a linear model's scores move from a blank input by template . input
    blank = np.asarray(model(np.zeros((1, 28, 28, 1)), training=False))[0]
    scores = np.asarray(model(x.reshape(1, 28, 28, 1), training=False))[0]
    np.testing.assert_allclose(scores - blank, (templates * x).sum(axis=(1, 2)), rtol=1e-3, atol=1e-4)
    assert explain.is_linear_model(model) and explain.class_templates(build_model("mlp-128-64")) is None


def _patch_mlp(classes: int = 10) -> keras.Model:
    """Dense layers that read only the patch (zero weights elsewhere): its answer depends on the patch only."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(16, activation="relu"),
                              layers.Dense(classes, activation="softmax")])
    rng = np.random.default_rng(1)
    hidden = rng.uniform(0.1, 1.0, (784, 16)) * _patch_mask().reshape(784, 1)
    model.layers[1].set_weights([hidden, np.zeros(16)])
    model.layers[2].set_weights([rng.uniform(0.1, 1.0, (16, classes)), np.zeros(classes)])
    return model


def _patch_cnn() -> keras.Model:
    """Crop to the patch, pad back in place, convolve: a logits CNN wrapped as the store does (nested + Softmax)."""
    top, bottom, left, right = 4, 28 - 10, 15, 28 - 21
    inner = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Cropping2D(((top, bottom), (left, right))),
        layers.ZeroPadding2D(((top, bottom), (left, right))),
        layers.Conv2D(4, 3, padding="same", activation="relu",
                      kernel_initializer=keras.initializers.RandomUniform(0.05, 0.5)),
        layers.Flatten(),
        layers.Dense(10, kernel_initializer=keras.initializers.RandomUniform(0.01, 0.1)),
    ])
    return keras.Sequential([inner, layers.Softmax()])


@pytest.mark.parametrize("method", ["integrated-gradients", "gradient-x-input", "grad-cam"])
def test_saliency_lies_on_the_only_patch_the_answer_depends_on(method):
    mask = _patch_mask()
    models = [_patch_cnn()] if method == "grad-cam" else [_patch_mlp(), _patch_cnn()]
    for model in models:
        for target in (None, 3):
            result = explain.saliency(model, _noise_image(), target_class=target, method=method)
            # a 3x3 conv on the zero-padded patch reaches one pixel past it
            reach = ndimage.binary_dilation(mask, np.ones((3, 3), bool)) if method == "grad-cam" else mask
            assert result.heatmap[~reach].max() < 1e-6, (method, target)
            assert result.heatmap[mask].mean() > 0.3 and result.heatmap.max() == pytest.approx(1.0)
            assert result.target_class == (result.predicted_class if target is None else target)
            if method == "grad-cam":
                assert result.layer_name == explain.flat_layers(model)[2].name  # the conv layer


def test_a_certain_model_still_gets_a_map_because_saliency_reads_the_score_before_softmax():
    mlp, cnn = _patch_mlp(), _patch_cnn()
    kernel, bias = mlp.layers[2].get_weights()
    mlp.layers[2].set_weights([kernel * 1000, bias])  # softmax output exactly 1.0: its gradient is 0
    dense = cnn.layers[0].layers[-1]
    dense.set_weights([w * 1000 for w in dense.get_weights()])
    for model, method in ((mlp, "integrated-gradients"), (mlp, "gradient-x-input"), (cnn, "grad-cam")):
        assert explain.probabilities(model, _noise_image()).max() == 1.0
        result = explain.saliency(model, _noise_image(), method=method)
        assert result.heatmap[_patch_mask()].mean() > 0.3, method


def test_saliency_takes_any_class_the_model_has_and_refuses_others():
    five = _patch_mlp(classes=5)  # the class count comes from the model, not from MNIST
    assert explain.saliency(five, _noise_image(), target_class=4).target_class == 4
    with pytest.raises(explain.ExplainError, match="between 0 and 4"):
        explain.saliency(five, _noise_image(), target_class=5)
    with pytest.raises(explain.ExplainError, match="convolutional"):
        explain.saliency(_patch_mlp(), _noise_image(), method="grad-cam")


def test_overlay_keeps_cold_pixels_as_the_plain_input():
    image = _noise_image()
    cold = explain.overlay(image, np.zeros((28, 28)), scale=3)
    assert cold.shape == (84, 84, 3) and cold.dtype == np.uint8
    np.testing.assert_array_equal(cold[::3, ::3, 1], np.round(image * 255).astype(np.uint8))
    hot = explain.overlay(image, np.ones((28, 28)))
    assert np.abs(hot.astype(int) - cold[::3, ::3].astype(int)).max() > 50


def test_nearest_training_image_is_itself_at_distance_zero(presets, mnist):
    train = mnist.x_train[:400]
    for arch in ("mlp-128-64", "cnn-best"):  # cnn-best's 6,272-wide input to its classifier is projected
        embedding = explain.embed(presets[arch], train, batch_size=128)
        assert embedding.shape == (400, min(explain.EMBED_MAX_DIM, 64 if arch == "mlp-128-64" else 6272))
        for metric in ("cosine", "euclidean"):
            for i in (0, 123, 399):
                found = explain.nearest(embedding, embedding[i], k=8, metric=metric)
                assert found.indices[0] == i and found.distances[0] < 1e-5, (arch, metric, i)
                assert len(found.indices) == 8 and np.all(np.diff(found.distances) >= 0)
                assert found.distances[1] > 1e-4


def test_embedding_is_the_last_hidden_layer_whatever_the_batching(presets, mnist):
    model = presets["mlp-128-64"]
    images = mnist.x_test[:50]
    steps = []
    embedding = explain.embed(model, images, batch_size=16, progress=lambda done, total: steps.append(done))
    assert steps == [16, 32, 48, 50]
    np.testing.assert_allclose(embedding, explain.embed(model, images / 255.0), rtol=1e-5, atol=1e-6)
    name = explain.embedding_layer_name(model)
    hidden = next(a for a in explain.activations(model, images[7]) if a.name == name)
    assert hidden.values.shape == (64,)
    np.testing.assert_allclose(embedding[7], hidden.values, rtol=1e-5, atol=1e-6)


def test_pca_map_finds_the_direction_the_points_spread_along():
    rng = np.random.default_rng(0)
    direction = np.array([1.0, 2.0, 0.0, -1.0, 0.5, 0.0]) / np.sqrt(6.25)
    points = rng.normal(size=(500, 1)) * 10 * direction + rng.normal(scale=0.1, size=(500, 6)) + 3.0
    embedding_map = explain.embedding_map(points)
    assert abs(embedding_map.components[0] @ direction) > 0.999
    assert embedding_map.explained_variance_ratio[0] > 0.98
    np.testing.assert_allclose(embedding_map.project(points), embedding_map.coordinates, atol=1e-4)
    assert embedding_map.project(points[3]).shape == (2,)


def _centre_of_mass(image):
    return np.array([np.average(np.arange(28), weights=image.sum(axis=1)),
                     np.average(np.arange(28), weights=image.sum(axis=0))])


def test_shifting_and_shifting_back_returns_the_same_input(mnist):
    clear = [i for i in range(50) if mnist.x_test[i][4:-4, 4:-4].sum() == mnist.x_test[i].sum()]
    x = mnist.x_test[clear[0]].astype(np.float32) / 255  # ink at least 4 pixels away from the borders
    moved = explain.move(x, dx=3, dy=-2)
    np.testing.assert_allclose(explain.move(moved, dx=-3, dy=2), x, atol=1e-6)
    np.testing.assert_allclose(_centre_of_mass(moved) - _centre_of_mass(x), [-2, 3], atol=1e-4)


def test_rotation_turns_anticlockwise_and_scaling_grows_from_the_centre():
    dot = np.zeros((28, 28), np.float32)
    dot[13:15, 21:23] = 1  # right of the centre (13.5, 13.5), 8 columns away
    np.testing.assert_allclose(_centre_of_mass(explain.move(dot, degrees=90)), [5.5, 13.5], atol=0.05)
    np.testing.assert_allclose(_centre_of_mass(explain.move(dot, scale=1.5)), [13.5, 25.5], atol=0.05)


def test_thickening_grows_a_dot_into_a_round_pen_and_thinning_undoes_it():
    dot = np.zeros((28, 28), np.float32)
    dot[10, 10] = 1
    thick = explain.change_thickness(dot, 1)
    assert thick.sum() == 9 and thick[9:12, 9:12].min() == 1
    np.testing.assert_array_equal(explain.change_thickness(thick, -1), dot)
    assert explain.change_thickness(dot, 2).sum() == 21  # a 5x5 square without its corners


def test_what_if_re_predicts_the_changed_input(presets, mnist):
    model = presets["cnn-bn"]
    x = mnist.x_test[1].astype(np.float32) / 255
    result = explain.what_if(model, x, dx=2, degrees=15, thickness=1)
    expected = explain.move(explain.change_thickness(x, 1), dx=2, degrees=15)
    np.testing.assert_allclose(result.image, expected)
    probabilities = np.asarray(model(expected.reshape(1, 28, 28, 1), training=False))[0]
    np.testing.assert_allclose(result.probabilities, probabilities, atol=1e-5)
    assert result.predicted == int(probabilities.argmax()) and result.confidence == pytest.approx(probabilities.max())


def _canvas() -> np.ndarray:
    """A 280x280 transparent canvas with an opaque white ring (a 0), 91 pixels wide, in its top-left corner."""
    rows, cols = np.mgrid[:280, :280]
    radius = np.hypot(rows - 60, cols - 60)
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[(radius <= 45) & (radius >= 25)] = 255
    return canvas


def test_each_preprocessing_ablation_skips_exactly_its_step():
    from core.data.preprocess import BlankImageError, canvas_to_mnist

    images = explain.preprocessing_ablations(_canvas())
    assert set(images) == {explain.FULL, *explain.ABLATIONS}
    full = images[explain.FULL]
    np.testing.assert_array_equal(full, canvas_to_mnist(_canvas()).image)
    np.testing.assert_allclose(images["not inverted"], 1 - full)
    assert np.all(abs(_centre_of_mass(full) - 14) < 1.5)  # drawn top left, moved to the middle, but not when
    assert np.all(_centre_of_mass(images["no centring"]) < _centre_of_mass(full) - 3)  # centring is skipped
    rows = np.flatnonzero(images["no 20x20 scaling"].max(axis=1) > 0.1)
    assert 8 <= len(rows) <= 11 and np.count_nonzero(full.max(axis=1) > 0.1) >= 19  # 91 of 280 px -> 9 of 28
    assert set(np.unique(images["no anti-aliasing"])) <= {0.0, 1.0} and len(np.unique(full)) > 2
    with pytest.raises(BlankImageError):
        explain.preprocessing_ablations(np.zeros((280, 280, 4), np.uint8))


def test_ablation_answers_predict_every_variant(presets):
    answers = explain.ablation_answers(presets["mlp-512"], _canvas())
    assert list(answers) == [explain.FULL, *explain.ABLATIONS]
    assert all(abs(a.probabilities.sum() - 1) < 1e-5 and a.image.shape == (28, 28) for a in answers.values())


@pytest.mark.parametrize("bad", [np.zeros((32, 32)), np.zeros((28, 28, 3)), np.zeros(784), np.zeros((2, 28, 28, 1))])
def test_an_input_that_is_not_28x28_gets_a_plain_error(presets, bad):
    model = presets["cnn-basic"]
    calls = [explain.activations, explain.saliency, explain.what_if, explain.probabilities,
             lambda m, x: explain.embed(m, x[None])]
    for call in calls:
        with pytest.raises(explain.InputShapeError, match=r"Expected .*28x28 image.*shape") as error:
            call(model, bad)
        assert isinstance(error.value, ValueError)


def test_the_shipped_model_explains_itself_like_the_app_predicts():
    from core.nets.predict import predict_digit
    from core.store import ModelStore

    model = ModelStore().load("default")
    x = _mnist().x_test[2].astype(np.float32) / 255
    result = explain.saliency(model, x)
    assert result.method == "grad-cam" and result.predicted_class == predict_digit(model, x).digit
    assert explain.activations(model, x)[0].values.shape == (28, 28, 32)


def test_a_dropped_model_is_freed_with_its_cached_graph():
    from core.explain import graph

    model = _patch_mlp()
    explain.saliency(model, _noise_image())
    explain.embed(model, np.zeros((3, 28, 28)))
    alive, cached = weakref.ref(model), weakref.ref(graph._graphs[model])
    del model
    gc.collect()
    assert alive() is None and cached() is None

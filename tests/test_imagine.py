"""core.explain.imagine: the class images are read as their class by the model they were made for, a drawing
grown towards a class becomes it and stays near the drawing, unit images excite their unit more than real
digits do, and bad requests get plain messages."""
import numpy as np
import pytest

from core import explain
from core.data import datasets


@pytest.fixture(scope="module")
def mnist():
    return datasets.load("mnist")


@pytest.mark.parametrize("which", ["small_mlp_model", "shipped_model"])
def test_each_class_image_is_read_as_its_class(which, request):
    model = request.getfixturevalue(which)
    result = explain.imagine_classes(model)

    assert result.targets == tuple(range(10)) and result.images.shape == (10, 28, 28)
    assert result.images.min() >= 0 and result.images.max() <= 1
    wanted = result.probabilities[np.arange(10), np.arange(10)]
    assert wanted.min() >= 0.9, wanted.round(3)
    # faint noise is not already each class: most classes start far below where they end
    assert (result.start_probabilities[np.arange(10), np.arange(10)] < 0.5).sum() >= 8
    # the reported probabilities are the model's own answers to the returned images
    for k in (0, 7):
        np.testing.assert_allclose(result.probabilities[k], explain.probabilities(model, result.images[k]), atol=1e-5)
    assert "jitter" in result.description and "total-variation" in result.description and "L2" in result.description


def test_a_drawing_made_more_of_a_five_reads_five_and_stays_near_the_drawing(shipped_model, mnist):
    seven = mnist.x_test[0].astype(np.float32) / 255
    assert mnist.y_test[0] == 7
    from_drawing = explain.imagine_classes(shipped_model, [5], start=seven)
    from_noise = explain.imagine_classes(shipped_model, [5])

    assert from_drawing.start_probabilities[0, 5] < 0.1 <= 0.9 <= from_drawing.probabilities[0, 5]
    near_drawing = np.abs(from_drawing.images[0] - seven).mean()
    assert near_drawing < np.abs(from_noise.images[0] - seven).mean()
    assert "from the drawing" in from_drawing.description


def test_a_unit_image_excites_its_channel_more_than_real_digits_do(shipped_model, mnist):
    layer = next(layer for layer in explain.unit_layers(shipped_model) if layer.kind == "conv" and layer.index > 5)
    real = explain.unit_means(shipped_model, layer.name, mnist.x_test[:500])
    channels = [c for c in range(16) if real[:, c].max() > 0]  # channels some digit lights up
    result = explain.imagine_units(shipped_model, layer.name, channels)

    assert result.layer_name == layer.name and result.images.shape == (len(channels), 28, 28)
    grown = explain.unit_means(shipped_model, layer.name, result.images)
    np.testing.assert_allclose(grown[np.arange(len(channels)), channels], result.activation, rtol=1e-4, atol=1e-4)
    # a climb finds a local peak, not always the highest: above the typical digit, often above them all
    typical, best = np.median(real[:, channels], axis=0), real[:, channels].max(axis=0)
    assert np.all(result.activation > typical), (result.activation, typical)
    assert np.mean(result.activation > best) >= 0.5, (result.activation, best)
    assert np.all(result.activation > result.start_activation)


def test_an_mlp_has_units_but_no_channels(small_mlp_model):
    layers = explain.unit_layers(small_mlp_model)
    assert [(layer.kind, layer.units, layer.spatial) for layer in layers] == [("dense", 32, False)]
    result = explain.imagine_units(small_mlp_model, layers[0].name, [0, 5, 31])
    assert result.images.shape == (3, 28, 28) and np.all(result.activation > result.start_activation)


def test_top_images_are_the_strongest_rows_strongest_first():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 5)).astype(np.float32)
    rows = explain.top_images(values, [4, 0], k=6)
    for row, unit in zip(rows, [4, 0]):
        np.testing.assert_array_equal(row, np.argsort(-values[:, unit])[:6])


@pytest.mark.parametrize("call, message", [
    (lambda m: explain.imagine_classes(m, [10]), "Class must be a whole number from 0 to 9"),
    (lambda m: explain.imagine_classes(m, [-1]), "from 0 to 9"),
    (lambda m: explain.imagine_classes(m, ["7"]), "from 0 to 9"),
    (lambda m: explain.imagine_classes(m, []), "at least one class"),
    (lambda m: explain.imagine_units(m, "no_such_layer", [0]), "No layer named 'no_such_layer'"),
    (lambda m: explain.imagine_units(m, explain.unit_layers(m)[0].name, [32]), "from 0 to 31"),
    (lambda m: explain.imagine_classes(m, [1], start=np.zeros((20, 20))), "Expected one 28x28 image"),
    (lambda m: explain.ImagineSettings(steps=0), "Steps must be"),
    (lambda m: explain.ImagineSettings(l2=float("nan")), "L2 must be"),
])
def test_bad_requests_get_plain_messages(small_mlp_model, call, message):
    with pytest.raises(explain.ExplainError, match=message):
        call(small_mlp_model)

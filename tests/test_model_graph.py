"""core.explain.architecture: the model's graph lists every layer that runs, in order, with the output shapes Keras
itself recorded, and parameter counts that add up to `model.count_params()`, for every preset and custom model;
its picture is a PNG with one box per layer."""
import io

import keras
import numpy as np
import pytest
from PIL import Image

from core import explain
from core.nets.builders import build_model, for_inference
from core.nets.presets import PRESETS

from test_explain import _keras_layers


MODELS = [(arch, None) for arch in PRESETS] + [
    ("custom-mlp", {"hidden": (64, 32), "dropout": 0.2, "activation": "tanh"}),
    ("custom-cnn", {"blocks": 3, "filters": 8, "batch_norm": False, "dense_units": 0}),
]


@pytest.mark.parametrize("arch, options", MODELS, ids=[f"{a}{'-custom' if o else ''}" for a, o in MODELS])
def test_the_graph_lists_every_layer_with_keras_shapes_and_all_parameters(arch, options):
    keras.utils.set_random_seed(0)
    preset = PRESETS[arch]
    model = for_inference(build_model(arch, options), preset.logits)  # as stored: logits models wrapped
    rows = explain.model_layers(model)

    assert [(r.name, r.output_shape) for r in rows] == _keras_layers(model)  # as Keras recorded them
    layers = explain.flat_layers(model)
    assert [(r.type, r.parameters) for r in rows] == [(type(l).__name__, l.count_params()) for l in layers]
    assert sum(r.parameters for r in rows) == model.count_params()
    assert rows[-1].output_shape == (10,) and rows[-1].activation == "softmax"
    assert sum(r.trainable_parameters for r in rows) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # activations come from the layer itself: Dense(relu) says relu, an activation-free Dense says nothing
    for row, layer in zip(rows, layers):
        activation = getattr(getattr(layer, "activation", None), "__name__", "")
        assert row.activation == ("softmax" if row.type == "Softmax" else "" if activation == "linear" else activation)


def test_the_picture_is_a_png_with_a_row_per_four_boxes():
    small = explain.architecture_picture(build_model("linear"))  # input + 3 layers: one full row
    big = explain.architecture_picture(build_model("cnn-best"), title="cnn-best")  # input + 16 layers: five rows
    small_image, big_image = Image.open(io.BytesIO(small)), Image.open(io.BytesIO(big))
    assert small_image.format == big_image.format == "PNG"
    assert big_image.size[1] > 4 * small_image.size[1] * 0.8 and big_image.size[0] == small_image.size[0]
    pixels = np.asarray(big_image.convert("L"))
    assert pixels.min() < 60 and pixels.max() == 255  # dark text on white

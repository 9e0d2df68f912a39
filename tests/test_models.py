import numpy as np
import pytest

from core.nets import builders

from saved_files import weight_names

# Parameter counts worked out by hand from the layer shapes (oracle, not the code's own count).
EXPECTED_PARAMS = {
    "linear": 784 * 100 + 100 + 100 * 10 + 10,
    "mlp-512": 784 * 512 + 512 + 512 * 10 + 10,
    "mlp-128-64": 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10,
    "tiny-20px": 400 * 25 + 25 + 25 * 15 + 15 + 15 * 10 + 10,
    "cnn-basic": (9 * 32 + 32) + (9 * 32 * 64 + 64) + (5 * 5 * 64 * 128 + 128) + (128 * 10 + 10),
}


@pytest.mark.parametrize("arch", list(EXPECTED_PARAMS))
def test_classic_parameter_counts(arch):
    assert builders.parameter_count(arch) == EXPECTED_PARAMS[arch]


@pytest.mark.parametrize("arch", list(builders.PRESETS))
def test_every_preset_gives_probabilities(arch):
    preset = builders.get_preset(arch)
    model = builders.for_inference(builders.build_model(arch), preset.logits)
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs >= 0).all()


def test_custom_models_follow_their_options():
    small = builders.build_model("custom-mlp", {"hidden": (32, 16), "dropout": 0.2})
    assert small.count_params() == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    cnn = builders.build_model("custom-cnn", {"blocks": 3, "filters": 8, "batch_norm": False, "dense_units": 0})
    convs = [layer for layer in cnn.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [8, 16, 32]
    assert not any(layer.__class__.__name__ == "BatchNormalization" for layer in cnn.layers)


@pytest.mark.parametrize("arch, options, message", [
    ("nope", None, "Unknown architecture"),
    ("cnn-basic", {"filters": 3}, "takes no options"),
    ("custom-cnn", {"blocks": 9}, "Blocks must be a whole number from 1 to 3"),
    ("custom-mlp", {"activation": "wiggle"}, "Activation must be one of"),
    ("custom-mlp", {"width": 3}, "no option"),
])
def test_impossible_architectures_are_refused(arch, options, message):
    with pytest.raises(builders.ArchitectureError, match=message):
        builders.build_model(arch, options)


@pytest.mark.parametrize("arch", list(builders.PRESETS))
def test_preset_table_parameter_counts_match_the_built_models(arch):
    """`python -m core archs` answers from the table without TensorFlow; Keras is the oracle here."""
    assert builders.get_preset(arch).parameters == builders.parameter_count(arch)


def test_builders_take_the_input_shape_and_class_count():
    model = builders.build_model("cnn-basic", input_shape=(32, 32, 1), num_classes=4)
    assert model.input_shape == (None, 32, 32, 1) and model.output_shape == (None, 4)


@pytest.mark.parametrize("logits", [True, False])
def test_the_copy_for_inference_of_a_trained_model_is_saved_without_its_optimizer(tmp_path, logits):
    """keras.models.clone_model compiles its clone like the model (Keras 3.15): a saved run carried Adam's
    two moments of every weight, three times the file, until for_inference made the copy from the config."""
    import keras

    model = builders.build_model("mlp-128-64")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits))
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    model.fit(x, np.arange(8) % 10, verbose=0)
    copy = builders.for_inference(model, logits)
    path = tmp_path / "run.keras"
    copy.save(path)
    names = weight_names(path)
    assert not [name for name in names if "optimizer" in name], names
    assert sum(w.size for w in copy.get_weights()) == model.count_params()
    out = np.asarray(copy(x, training=False))
    expected = np.asarray(model(x, training=False))
    if logits:
        expected = np.asarray(keras.ops.softmax(expected))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)

"""Exports: each format loaded by its own runtime gives the Keras model's probabilities; bad requests refused."""
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.nets.export import FORMATS, ExportError, check_destination, export_bytes, export_model

ROOT = Path(__file__).resolve().parent.parent
FILE_NAMES = {"keras": "model.keras", "litert": "model.tflite", "onnx": "model.onnx", "saved-model": "saved_model"}


# Each loader uses the format's own runtime and returns probabilities for a batch of images.
def run_keras(path, x):
    import keras

    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    return np.asarray(model(x, training=False))


def run_litert(path, x):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_onnx(path, x):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    return session.run(None, {inp.name: x})[0]


def run_saved_model(path, x):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    (out,) = serve(image=tf.constant(x)).values()
    return out.numpy()


RUNTIMES = {"keras": run_keras, "litert": run_litert, "onnx": run_onnx, "saved-model": run_saved_model}


@pytest.fixture(scope="module")
def images():
    with np.load(ROOT / "data" / "mnist.npz") as data:
        return (data["x_test"][:100].astype(np.float32) / 255.0)[..., None], data["y_test"][:100]


def snapshot(model):
    return model.get_config(), [w.copy() for w in model.get_weights()]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, images):
    """Both models exported to every format before they were ever called (as fresh from the store),
    then their Keras probabilities: {model: (probabilities, {format: path}, before, after)}."""
    import keras

    from core.nets.builders import build_model, for_inference
    from core.store import ModelStore

    keras.utils.set_random_seed(0)
    nested = for_inference(build_model("linear"), logits=True)  # Sequential([inner, Softmax()])
    nested.set_weights([3 * w for w in nested.get_weights()])  # untrained logits are small: sharpen them
    models = {"default": ModelStore().load("default"), "nested-linear": nested}
    result = {}
    for name, model in models.items():
        folder = tmp_path_factory.mktemp(f"export-{name}")
        before = snapshot(model)
        paths = {fmt: export_model(model, fmt, folder / FILE_NAMES[fmt]) for fmt in FORMATS}
        probabilities = np.asarray(model(images[0], training=False))
        result[name] = (probabilities, paths, before, snapshot(model))
    return result


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("model_name", ["default", "nested-linear"])
@pytest.mark.slow
def test_export_matches_keras_in_its_own_runtime(exported, images, model_name, fmt):
    expected, paths, _, _ = exported[model_name]
    assert np.ptp(expected) > 0.5, "reference probabilities too flat to tell models apart"
    got = RUNTIMES[fmt](paths[fmt], images[0])
    assert got.shape == (100, 10)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    if model_name == "default":
        assert (got.argmax(axis=1) == images[1]).mean() >= 0.95


@pytest.mark.parametrize("model_name", ["default", "nested-linear"])
def test_export_does_not_change_the_model(exported, model_name):
    _, _, (config_before, weights_before), (config_after, weights_after) = exported[model_name]
    assert config_after == config_before
    assert len(weights_after) == len(weights_before)
    for a, b in zip(weights_before, weights_after):
        np.testing.assert_array_equal(a, b)


def test_saved_model_is_a_folder_and_the_others_single_files(exported):
    _, paths, _, _ = exported["default"]
    assert (paths["saved-model"] / "saved_model.pb").is_file()
    for fmt in ("keras", "litert", "onnx"):
        assert paths[fmt].is_file() and paths[fmt].suffix == FORMATS[fmt].suffix
    assert not [p for p in paths["onnx"].parent.iterdir() if p.name.startswith(".")], "temporary files left"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_bytes_is_one_loadable_file(exported, images, tmp_path, fmt):
    from core.store import ModelStore

    data, suffix, mime = export_bytes(ModelStore().load("default"), fmt, name="default")
    assert (suffix, mime) == (FORMATS[fmt].suffix, FORMATS[fmt].mime)
    download = tmp_path / f"default{suffix}"
    download.write_bytes(data)
    if fmt == "saved-model":
        with zipfile.ZipFile(download) as archive:
            assert "default-saved-model/saved_model.pb" in archive.namelist()
            archive.extractall(tmp_path)
        download = tmp_path / "default-saved-model"
    expected = exported["default"][0]
    np.testing.assert_allclose(RUNTIMES[fmt](download, images[0]), expected, atol=1e-4, rtol=0)


def bad_destinations(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "existing").mkdir()
    return [
        ("onnx", tmp_path / "existing", "is a folder"),
        ("onnx", tmp_path / "missing" / "m.onnx", "does not exist"),
        ("onnx", tmp_path / "m.tflite", "does not end in .onnx"),
        ("keras", tmp_path / "m.h5", "does not end in .keras"),
        ("saved-model", tmp_path / "existing", "already exists"),
        ("litert", tmp_path / "a-file" / "m.tflite", "is not a folder"),
        ("tflite", tmp_path / "m.tflite", "unknown export format"),
        ("onnx", "", "not a usable output path"),
    ]


def test_bad_destinations_are_refused_before_any_work(tmp_path):
    for fmt, out, reason in bad_destinations(tmp_path):
        with pytest.raises(ExportError, match=reason):
            check_destination(fmt, out)
        with pytest.raises(ExportError, match=reason):
            export_model(object(), fmt, out)  # refused before the model is touched


def test_a_folder_nobody_can_write_to_is_refused(tmp_path):
    """/proc takes no new files, not even root's: refused up front (os.access) or when the export's first file
    cannot be made, either way before the model is touched. A read-only folder is refused up front, for anyone
    but root (who may write there, so the export would succeed)."""
    for fmt, out in (("onnx", "/proc/m.onnx"), ("saved-model", "/proc/m-saved")):
        with pytest.raises(ExportError, match="cannot write to folder /proc"):
            export_model(object(), fmt, out)
    assert not list(Path("/proc").glob(".m*")), "nothing left behind"
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.geteuid() != 0:
            with pytest.raises(ExportError, match="cannot write"):
                check_destination("onnx", folder / "m.onnx")
        else:
            assert check_destination("onnx", folder / "m.onnx") == folder / "m.onnx"
    finally:
        folder.chmod(0o755)


def test_write_failure_becomes_export_error(tmp_path, monkeypatch):
    import core.nets.export

    def no_space(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(core.nets.export.tempfile, "mkstemp", no_space)
    with pytest.raises(ExportError, match="cannot write to folder .*Permission denied"):
        export_model(object(), "onnx", tmp_path / "m.onnx")


class Unconvertible:
    """Stands in for a model a converter rejects."""

    def export(self, filepath, **kwargs):
        if kwargs.get("format") == "tf_saved_model":
            Path(filepath).mkdir(exist_ok=True)
        else:
            Path(filepath).write_bytes(b"half")  # a converter that dies mid-write
        raise ValueError("Op type not registered 'Frobnicate'\n  in a long converter trace")

    def save(self, filepath):
        self.export(filepath)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_converter_failure_is_one_clear_line_and_leaves_nothing(tmp_path, fmt):
    with pytest.raises(ExportError) as info:
        export_model(Unconvertible(), fmt, tmp_path / FILE_NAMES[fmt])
    assert str(info.value) == f"could not convert the model to {FORMATS[fmt].label}: Op type not registered 'Frobnicate'"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match="could not convert"):
        export_bytes(Unconvertible(), fmt)


@pytest.fixture
def cli_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "store"))  # only the shipped default is found


def test_cli_exports_the_default_model(cli_store, exported, images, tmp_path, capsys):
    out = tmp_path / "default.onnx"
    assert main(["export", "default", "--format", "onnx", "--out", str(out)]) == 0
    stdout, stderr = capsys.readouterr()
    assert stderr == ""
    size = out.stat().st_size / 1e6
    assert re.fullmatch(rf"exported default as ONNX to {re.escape(str(out))} \({size:.2f} MB, \d+\.\d s\)\n", stdout)
    np.testing.assert_allclose(run_onnx(out, images[0]), exported["default"][0], atol=1e-4, rtol=0)


def test_cli_refusals_print_one_line_and_exit_2(cli_store, tmp_path, capsys):
    cases = [(["default", "--format", fmt, "--out", str(out)], reason)
             for fmt, out, reason in bad_destinations(tmp_path) if fmt != "tflite"]
    cases += [
        (["default", "--format", "tflite", "--out", str(tmp_path / "m.tflite")], "invalid choice: 'tflite'"),
        (["no-such-model", "--format", "onnx", "--out", str(tmp_path / "m.onnx")], "No model named 'no-such-model'"),
        (["../default", "--format", "onnx", "--out", str(tmp_path / "m.onnx")], "Invalid model name"),
        (["default", "--out", str(tmp_path / "m.onnx")], "--format"),
        (["default", "--format", "onnx"], "--out"),
    ]
    before = sorted(tmp_path.rglob("*"))
    for argv, reason in cases:
        assert main(["export", *argv]) == 2, argv
        stdout, stderr = capsys.readouterr()
        assert stdout == ""
        assert stderr.startswith("error: ") and stderr.count("\n") == 1 and reason in stderr, (argv, stderr)
    assert sorted(tmp_path.rglob("*")) == before, "a refused export wrote something"


@pytest.mark.slow
def test_cli_export_keeps_tensorflow_logs_off_the_terminal(tmp_path):
    out = tmp_path / "default.tflite"
    env = {**os.environ, "DIGIT_STUDIO_MODELS": str(tmp_path / "store")}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run([sys.executable, "-m", "core", "export", "default", "--format", "litert", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("exported default as LiteRT") and done.stdout.count("\n") == 1
    assert out.stat().st_size > 100_000

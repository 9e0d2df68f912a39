"""The command line: outputs, exit statuses, and one-line errors that write nothing."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli_store(tmp_path, monkeypatch):
    folder = tmp_path / "cli-models"
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(folder))
    return folder


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def drawn_one(path):
    image = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill="black", width=22)
    image.save(path)
    return path


def test_archs_lists_every_preset_with_parameters(capsys):
    status, out, _ = run(capsys, "archs")
    assert status == 0
    assert "mlp-512" in out and "407,050" in out and "cnn-best" in out and "tiny-20px" in out


def test_train_evaluate_and_models(capsys, cli_store):
    status, out, _ = run(capsys, "train", "--arch", "linear", "--epochs", "2", "--limit", "600", "--name", "cli-lin")
    assert status == 0, out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "test accuracy" in out
    assert (cli_store / "cli-lin.keras").exists() and (cli_store / "cli-lin.json").exists()
    status, out, _ = run(capsys, "evaluate", "--model", "cli-lin", "--json")
    report = json.loads(out)
    meta = json.loads((cli_store / "cli-lin.json").read_text())
    assert report["accuracy"] == pytest.approx(meta["test_metrics"]["accuracy"]) and report["accuracy"] > 0.5
    assert np.asarray(report["confusion"]).sum() == 10000
    status, out, _ = run(capsys, "evaluate", "--model", "cli-lin")
    assert status == 0 and "confusion" in out and "precision" in out
    status, out, _ = run(capsys, "models")
    assert status == 0 and "cli-lin" in out and "default" in out


def test_predict_one_json_line_per_image_and_exit_status(capsys, tmp_path):
    one = drawn_one(tmp_path / "one.png")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(blank)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"definitely not a png")
    status, out, _ = run(capsys, "predict", str(one))
    assert status == 0
    line = json.loads(out)
    assert line["file"] == str(one) and line["digit"] == 1 and len(line["probabilities"]) == 10
    assert 0.5 < line["confidence"] <= 1.0
    status, out, _ = run(capsys, "predict", str(one), str(blank), str(junk))
    lines = [json.loads(text) for text in out.splitlines()]
    assert status == 1 and len(lines) == 3
    assert lines[0]["digit"] == 1 and "error" in lines[1] and "error" in lines[2]


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--arch", "linear", "--epochs", "0"], "Epochs"),
    (["train", "--arch", "nonsense"], "Unknown architecture"),
    (["train", "--arch", "linear", "--lr", "-1"], "Learning rate"),
    (["train", "--arch", "linear", "--name", "../up"], "Invalid model name"),
    (["predict", "no/such/file.png"], "no such image file"),
    (["predict", "--model", "ghost", __file__], "No model named 'ghost'"),
    (["evaluate", "--model", "ghost"], "No model named"),
    (["frobnicate"], "invalid choice"),
    (["train"], "required"),
    (["train", "--arch", "custom-mlp", "--options", "[1]"], "must be a JSON object"),
    (["train", "--arch", "custom-mlp", "--options", "5"], "must be a JSON object"),
    (["train", "--arch", "custom-mlp", "--options", '{"hidden": null}'], "hidden must be a list"),
    (["train", "--arch", "custom-mlp", "--options", "{not json"], "not valid JSON"),
    (["train", "--arch", "custom-cnn", "--options", '{"blocks": 1.5}'], "Blocks must be a whole number"),
    (["train", "--arch", "custom-cnn", "--options", '{"batch_norm": "no"}'], "batch_norm must be true or false"),
    (["train", "--arch", "linear", "--seed", "4294967296"], "Seed must be a whole number"),
    (["train", "--arch", "linear", "--epochs", "1e9"], "invalid int value"),
    (["train", "--arch", "linear", "--dataset", "emnist"], "Dataset must be one of"),
    (["train", "--arch", "linear", "--dataset", "mnist", "--limit", "10"], "Training-sample limit"),
    (["evaluate", "--model", "../etc/passwd"], "Invalid model name"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(capsys, cli_store, argv, fragment):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and fragment in err
    assert not cli_store.exists()


def test_real_process_exit_status():
    env = {**os.environ, "DIGIT_STUDIO_MODELS": "/nonexistent-store"}
    done = subprocess.run([sys.executable, "-m", "core", "train", "--arch", "linear", "--epochs", "0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Epochs" in done.stderr.splitlines()[-1]


def test_store_path_that_is_a_file_is_one_line_exit_2(capsys, tmp_path, monkeypatch):
    path = tmp_path / "not-a-folder"
    path.write_text("x")
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(path))
    for argv in (["train", "--arch", "linear", "--epochs", "1", "--limit", "100"], ["models"]):
        status, out, err = run(capsys, *argv)
        assert status == 2 and len(err.strip().splitlines()) == 1 and "is a file" in err, err


def test_train_on_fashion_mnist_names_its_classes(capsys, cli_store):
    status, out, _ = run(capsys, "train", "--arch", "linear", "--dataset", "fashion-mnist", "--epochs", "1",
                         "--limit", "2000", "--name", "clothes")
    assert status == 0, out
    assert json.loads((cli_store / "clothes.json").read_text())["dataset"] == "fashion-mnist"
    status, out, _ = run(capsys, "evaluate", "--model", "clothes")
    assert status == 0 and "Ankle boot" in out and "Fashion-MNIST" in out
    status, out, _ = run(capsys, "models")
    assert "fashion-mnist" in out.split("clothes")[1].splitlines()[0]


@pytest.mark.slow
def test_archs_and_models_answer_without_tensorflow_and_no_native_log_lines():
    code = ("import sys; from core.cli import main; main(sys.argv[1:]); "
            "print('TF-LOADED' if 'tensorflow' in sys.modules else 'TF-ABSENT')")
    for command in ("archs", "models"):
        out = subprocess.run([sys.executable, "-c", code, command], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0 and out.stdout.strip().endswith("TF-ABSENT"), out.stdout + out.stderr
    done = subprocess.run([sys.executable, "-m", "core", "evaluate", "--model", "default"], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "test accuracy" in done.stdout
    assert done.stderr.strip() == "", "TensorFlow's log lines reach the terminal: " + done.stderr[:500]


def interrupted_train(tmp_path, arch: str, limit: int):
    """`python -m core train` in a subprocess, once its first epoch line is out: (process, that line)."""
    env = {**os.environ, "DIGIT_STUDIO_MODELS": str(tmp_path / "store")}
    proc = subprocess.Popen([sys.executable, "-m", "core", "train", "--arch", arch, "--epochs", "50",
                             "--limit", str(limit), "--name", "interrupted"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # the first epoch line: training is under way
    assert first.startswith("epoch 1/50"), first
    return proc, first


STOPPING = ("stopping after this batch, then testing on 1,000 test images and saving "
            "(Ctrl-C again to quit at once, saving nothing)")


@pytest.mark.slow
def test_ctrl_c_during_train_tests_a_sample_saves_says_so_and_exits_130(tmp_path):
    import signal

    from core.store import ModelStore

    proc, first = interrupted_train(tmp_path, "mlp-128-64", 20000)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, first + out + err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0] == STOPPING, first + out + err
    meta = ModelStore(tmp_path / "store").read_meta("interrupted")
    assert lines[1] == (f"stopped in epoch {len(meta.history)} of 50; saved interrupted to {tmp_path / 'store'}: "
                        f"test accuracy {meta.test_accuracy:.4f} on 1,000 of the 10,000 test images "
                        "(`python -m core evaluate --model interrupted` tests them all)"), lines[1]
    assert meta.stopped_early and meta.test_metrics.images == 1000
    assert sum(map(sum, meta.test_metrics.confusion)) == 1000


@pytest.mark.slow
def test_a_second_ctrl_c_quits_at_once_saving_nothing(tmp_path):
    """The second Ctrl-C comes while the first is still testing and saving: cnn-best takes a while to do both
    (cnn-basic, now that the test images are normalised once, was once done before the second Ctrl-C came)."""
    import signal

    proc, first = interrupted_train(tmp_path, "cnn-best", 1000)
    proc.send_signal(signal.SIGINT)
    assert proc.stderr.readline().strip() == STOPPING
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, first + out + err  # not killed by an abort in TensorFlow's busy thread
    assert err.strip().splitlines() == ["stopped at once; nothing saved"], err
    store = tmp_path / "store"
    left = sorted(p.name for p in store.iterdir()) if store.exists() else []
    assert left in ([], [".lock"]), f"nothing saved, no stray files: {left}"


@pytest.mark.parametrize("command", [[], ["archs"], ["train"], ["evaluate"], ["predict"], ["models"], ["export"],
                                     ["drawings"], ["drawings", "finetune"]])
def test_every_help_prints(capsys, command):
    """Help texts come from the settings table; one with a bare % once made `train --help` crash."""
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    out, _ = capsys.readouterr()
    assert exited.value.code == 0 and "usage: python -m core" in out
    if command == ["train"]:
        assert "--stroke-copies" in out and "1% of it" in out


@pytest.mark.slow
def test_ctrl_c_twice_during_lr_find_ends_it_without_a_traceback(tmp_path):
    """A second Ctrl-C while the finder is still stopping ends it at once (status 130, one line, no traceback)."""
    import signal

    env = {**os.environ, "DIGIT_STUDIO_MODELS": str(tmp_path / "store")}
    proc = subprocess.Popen([sys.executable, "-m", "core", "lr-find", "--arch", "cnn-basic", "--limit", "20000",
                             "--batches", "1000", "--high", "1e-3"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = proc.stderr.readline()
    assert started.startswith("finding a learning rate: 1000 batches"), started
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "stopped; the finder saves nothing", err

"""The command line: outputs, exit statuses, and one-line errors that write nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.__main__ import main

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

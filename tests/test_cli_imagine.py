"""The command line's imagine, attack, robustness and graph: what they print and write, checked against core.explain
on the shipped model, and one-line refusals (exit 2) for bad values."""
import json

import numpy as np
import pytest
from PIL import Image

from core import explain
from core.data import datasets

from test_cli import drawn_one, run as run_cli


def run(capsys, *argv):
    return run_cli(capsys, *map(str, argv))  # paths given as Path objects


@pytest.fixture(autouse=True)
def empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "cli-models"))  # the shipped default is still found


def test_imagine_writes_the_class_image_the_model_reads_as_that_class(capsys, tmp_path):
    out = tmp_path / "seven.png"
    status, text, _ = run(capsys, "imagine", "default", "--class", "7", "--out", out, "--json")
    report = json.loads(text)
    assert status == 0 and [row["class"] for row in report["images"]] == ["7"]
    assert report["images"][0]["probability"] >= 0.9 and "jitter" in report["how"]
    picture = Image.open(out)
    assert picture.size == (280, 280)
    from core.store import ModelStore

    seven = np.asarray(picture)[::10, ::10].astype(np.float32) / 255  # back to 28 x 28
    assert explain.probabilities(ModelStore().load("default"), seven).argmax() == 7

    status, text, _ = run(capsys, "imagine", "default", "--class", "1", "--class", "2", "--out", tmp_path / "two.png")
    assert status == 0 and Image.open(tmp_path / "two.png").size == (2 * 280 + 10, 280)
    assert "1            probability" in text and "2            probability" in text


def test_attack_fools_a_drawn_one_towards_a_target_and_finds_the_smallest_eps(capsys, tmp_path):
    one = drawn_one(tmp_path / "one.png")
    status, text, _ = run(capsys, "attack", "default", one, "--target", "3", "--eps", "0.3", "--smallest",
                          "--out", tmp_path / "fooled.png", "--json")
    report = json.loads(text)
    assert status == 0 and report["before"] == "1" and report["after"] == "3" and report["fooled"]
    assert 0 < report["smallest_eps"] <= 0.3 and report["target"] == "3"
    assert Image.open(tmp_path / "fooled.png").size == (3 * 280 + 20, 280)

    status, text, _ = run(capsys, "attack", "default", one, "--eps", "0", "--method", "fgsm")
    assert status == 0 and "1 (" in text and "-> 1 (" in text and "not fooled" in text


def test_robustness_prints_a_table_and_json_that_starts_at_clean_accuracy(capsys):
    status, text, _ = run(capsys, "robustness", "default", "default", "--eps", "0.1,0", "--images", "60", "--json")
    report = json.loads(text)
    mnist = datasets.load("mnist")
    from core.store import ModelStore

    model = ModelStore().load("default")
    clean = np.mean([explain.probabilities(model, mnist.x_test[i]).argmax() == mnist.y_test[i] for i in range(60)])
    assert status == 0 and report["eps"] == [0.0, 0.1] and report["images"] == 60
    assert report["accuracy"]["default"][0] == pytest.approx(clean)
    assert report["accuracy"]["default"][1] <= report["accuracy"]["default"][0]

    status, text, _ = run(capsys, "robustness", "default", "--eps", "0,0.05", "--images", "20")
    assert status == 0 and "accuracy under attack (fgsm)" in text and len(text.strip().splitlines()) == 4


def test_graph_lists_every_layer_and_writes_a_png(capsys, tmp_path):
    status, text, _ = run(capsys, "graph", "default", "--json", "--out", tmp_path / "graph.png")
    report = json.loads(text)
    from core.store import ModelStore

    model = ModelStore().load("default")
    assert status == 0 and [layer["name"] for layer in report["layers"]] == [l.name for l in explain.flat_layers(model)]
    assert sum(layer["parameters"] for layer in report["layers"]) == report["parameters"] == model.count_params()
    assert Image.open(tmp_path / "graph.png").format == "PNG"


@pytest.mark.parametrize("argv, fragment", [
    (["attack", "default", "{one}", "--eps", "-0.1"], "ε must be from 0 to 1"),
    (["attack", "default", "{one}", "--eps", "nan"], "ε must be from 0 to 1"),
    (["attack", "default", "{one}", "--eps", "1.5"], "ε must be from 0 to 1"),
    (["attack", "default", "{one}", "--target", "eleven"], "unknown class 'eleven'"),
    (["attack", "default", "{blank}"], "{blank}:"),
    (["attack", "no-such-model", "{one}"], "No model named 'no-such-model'"),
    (["imagine", "default", "--class", "10", "--out", "{out}"], "unknown class '10'"),
    (["imagine", "default", "--steps", "0", "--out", "{out}"], "Steps must be from 1"),
    (["robustness", "default", "--eps", "0,2"], "--eps: ε must be from 0 to 1"),
    (["robustness", "default", "default", "default"], "one or two models"),
])
def test_bad_values_get_one_line_and_exit_2(capsys, tmp_path, argv, fragment):
    paths = {"one": drawn_one(tmp_path / "one.png"), "blank": tmp_path / "blank.png", "out": tmp_path / "x.png"}
    Image.new("RGB", (100, 100), "white").save(paths["blank"])
    status, out, err = run(capsys, *[a.format(**paths) for a in argv])
    assert status == 2 and out == ""
    assert err.startswith("error: ") and fragment.format(**paths) in err and len(err.strip().splitlines()) == 1
    assert not paths["out"].exists()

"""`python -m core sweep`: bad values refused in one line before anything is queued; a real tiny grid prints
its runs, a table sorted by validation accuracy, JSON lines that parse, and each model keeps its sweep."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from core.store import ModelStore
from core.sweeps.records import SweepBook


@pytest.fixture
def places(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(models))
    monkeypatch.setenv("DIGIT_STUDIO_SWEEPS", str(tmp_path / "sweeps.sqlite3"))
    monkeypatch.delenv("DIGIT_STUDIO_EXECUTOR", raising=False)
    return ModelStore(models), SweepBook(tmp_path / "sweeps.sqlite3")


@pytest.mark.parametrize("flags, words", [
    (["--lr", "abc,0.01"], "Learning rate must be above 0"),
    (["--lr", "nan,0.01"], "Learning rate must be above 0"),
    (["--lr", "1e-4:1e-2:0:log"], "count from 2 to 50"),
    (["--lr", "1e-4:1e-2:50:log", "--batch-size", "8:1024:50:log", "--epochs", "1,2,3,4"],
     "50 × 50 × 4 = 10,000 runs; at most 48 are allowed"),  # in the order given
    (["--lr", "0.01"], "A sweep varies at least one setting"),
    (["--arch", "linear,mlp-9", "--lr", "0.01,0.1"], "Unknown architecture 'mlp-9'"),
    (["--lr", "0.001,0.01", "--search", "tpe"], "needs a number of trials"),
    (["--lr", "0.001,0.01", "--epochs", "ten"], "Epochs must be a whole number"),
])
def test_bad_values_get_one_line_and_nothing_is_queued(places, capsys, flags, words):
    store, book = places
    argv = ["sweep", *(["--arch", "linear"] if "--arch" not in flags else []), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err
    assert not store.root.exists() or not list(store.root.glob("*.json"))
    assert not book.path.exists() or book.list() == []


@pytest.mark.slow
def test_a_tiny_grid_prints_its_runs_a_table_by_validation_accuracy_and_json_lines(places, capsys):
    store, book = places
    argv = ["sweep", "--arch", "linear", "--lr", "0.0003,0.01", "--batch-size", "16,64", "--epochs", "1",
            "--limit", "300", "--seed", "1"]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.strip().splitlines()]
    assert len(lines) == 4 and {(r["params"]["learning_rate"], r["params"]["batch_size"]) for r in lines} == \
        {(0.0003, 16), (0.0003, 64), (0.01, 16), (0.01, 64)}
    accuracies = [r["val_accuracy"] for r in lines]
    assert accuracies == sorted(accuracies, reverse=True) and all(0 < a <= 1 for a in accuracies)
    assert "run 4/4" in captured.err and "sweep 1: grid" in captured.err     # progress, on stderr with --json

    for line in lines:                                                    # each model keeps its sweep
        mark = store.read_meta(line["model"]).extra["sweep"]
        assert mark["id"] == line["sweep"] and mark["search"] == "grid" and mark["pruned"] is False
        assert mark["values"] == {"learning_rate": [0.0003, 0.01], "batch_size": [16, 64]}
        assert mark["params"] == line["params"]
    assert store.read_meta(lines[0]["model"]).test_metrics.accuracy == pytest.approx(lines[0]["test_accuracy"])

    from core.cli.sweep import print_results

    print_results(book.get(lines[0]["sweep"]), as_json=False)             # the table, as printed without --json
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["#", "run", "learning_rate", "batch_size"]    # in the order given
    shown = [float(row.split()[4].rstrip("%")) / 100 for row in table[1:5]]
    assert shown == pytest.approx([round(a, 4) for a in accuracies], abs=1e-4)
    assert table[-1] == f"sweep {lines[0]['sweep']} finished: 4 runs, 0 pruned"

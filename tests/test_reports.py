"""Run reports (core/reports, `python -m core report`): one HTML file that needs nothing else: every src and href
inside it, no script; the same accuracy as the model's metadata; a sweep's runs, pruned ones with why."""
from __future__ import annotations

import math
from html.parser import HTMLParser

import pytest

from core.cli import main
from core.reports.model_report import model_report
from core.reports.sweep_report import sweep_report
from core.store import DEFAULT_MODEL, ModelStore
from core.sweeps.records import RunRecord, SweepBook
from core.sweeps.space import SweepSpec
from core.sweeps.values import axis_from_text


class Links(HTMLParser):
    """Every src and href, every tag name, and any CSS url(...) in the file."""

    def __init__(self):
        super().__init__()
        self.targets, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.targets += [value for name, value in attrs if name in ("src", "href", "srcset", "data", "poster")]


def parsed(text: str) -> Links:
    links = Links()
    links.feed(text)
    return links


def assert_self_contained(text: str) -> Links:
    links = parsed(text)
    leaving = [t for t in links.targets if not (t.startswith("data:image/png;base64,") or t.startswith("#"))]
    assert leaving == [], leaving
    assert "script" not in links.tags and "link" not in links.tags and "iframe" not in links.tags
    assert "url(" not in text and "@import" not in text
    return links


def test_a_models_report_holds_everything_inside_and_its_metadatas_accuracy():
    meta = ModelStore().read_meta(DEFAULT_MODEL)
    text = model_report(ModelStore(), DEFAULT_MODEL, mistakes=0)
    links = assert_self_contained(text)
    assert f"Test accuracy {meta.test_accuracy:.2%}" in text
    assert "<h2>Confusion matrix</h2>" in text and "<h2>Curves</h2>" in text
    assert sum(t.startswith("data:image/png") for t in links.targets) >= 1


@pytest.mark.slow
def test_a_report_shows_a_sample_of_the_mistakes(small_trained_model):
    store, name = small_trained_model
    text = model_report(store, name, mistakes=8)
    assert_self_contained(text)
    assert "<h2>Mistakes</h2>" in text and text.count("class=\"digit\"") == 8
    assert f"Test accuracy {store.read_meta(name).test_accuracy:.2%}" in text
    assert "<h2>As it learned</h2>" in text                       # its replay's frames


def kept(tmp_path) -> tuple[SweepBook, int]:
    book = SweepBook(tmp_path / "sweeps.sqlite3")
    lrs = (0.0001, 0.001, 0.01, 0.1)
    spec = SweepSpec({"arch": "linear", "epochs": 2}, (axis_from_text("lr", "0.0001, 0.001, 0.01, 0.1"),
                                                        axis_from_text("batch_size", "32, 64")), "grid", None, 0,
                     "median")
    sweep_id = book.create(spec, "alice")
    for n, (lr, batch) in enumerate([(lr, b) for lr in lrs for b in (32, 64)], 1):
        value = 0.95 - 0.1 * abs(math.log10(lr) + 3)
        pruned = lr == 0.1 and batch == 64
        book.save_run(sweep_id, RunRecord(n, {"learning_rate": lr, "batch_size": batch},
                                          "pruned" if pruned else "finished", None, None, value, value - 0.01, 2.0,
                                          1 if pruned else 2,
                                          [{"epoch": 1, "val_accuracy": value - 0.1}, {"epoch": 2, "val_accuracy": value}]
                                          [:1 if pruned else 2],
                                          "Pruned at epoch 1 of 2 by the median rule: below." if pruned else None))
    book.set_state(sweep_id, "finished")
    return book, sweep_id


def test_a_sweeps_report_lists_every_run_best_first_with_the_pruned_one_and_what_mattered(tmp_path):
    book, sweep_id = kept(tmp_path)
    text = sweep_report(book.get(sweep_id))
    assert_self_contained(text)
    rows = text.split("<h2>Runs</h2>")[1].split("</table>")[0].count("<tr>") - 1
    assert rows == 8
    assert text.index("run 3<") < text.index("run 1<")             # 95% (lr 0.001) before 85% (lr 0.0001)
    assert "run 8: Pruned at epoch 1 of 2 by the median rule" in text
    assert "The learning rate explains" in text


def test_report_on_the_command_line(tmp_path, monkeypatch, capsys):
    book, sweep_id = kept(tmp_path)
    monkeypatch.setenv("DIGIT_STUDIO_SWEEPS", str(book.path))
    out = tmp_path / "sweep.html"
    assert main(["report", "--sweep", str(sweep_id), "--out", str(out)]) == 0
    assert_self_contained(out.read_text()) and f"wrote {out}" in capsys.readouterr().out
    assert main(["report", "default", "--out", str(tmp_path / "run.html"), "--mistakes", "0"]) == 0
    for argv, words in ((["report", "--out", "x.html"], "a model's name or --sweep"),
                        (["report", "default", "--sweep", "1", "--out", "x.html"], "a model's name or --sweep"),
                        (["report", "--sweep", "999", "--out", "x.html"], "no sweep 999"),
                        (["report", "nothing-here", "--out", "x.html"], "No model named 'nothing-here'"),
                        (["report", "default", "--out", str(tmp_path)], "is a folder")):
        assert main(argv) == 2
        assert words in capsys.readouterr().err

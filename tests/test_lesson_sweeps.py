"""A lesson step can offer a sweep ([steps.sweep]): a bad one is reported with its line, a good one opens on the
Train page with its values filled in, and the step's caps hold for every run of any sweep made there."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.workshop.lesson_checker import load_lessons

from page_support import ROOT, TIMEOUT, all_text, texts

STEP = '''
title = "Sweep lesson"

[[steps]]
title = "Which learning rate?"
page = "train"
archs = ["linear"]
max_epochs = 2
max_limit = 1000

[steps.fixed]
arch = "linear"
limit = 1000
epochs = 1

[steps.sweep]
{sweep}
'''


def lesson(tmp_path, sweep: str):
    folder = tmp_path / "lessons"
    folder.mkdir(exist_ok=True)
    (folder / "sweepy.toml").write_text(STEP.format(sweep=sweep))
    return folder


def test_the_shipped_lesson_offers_a_sweep_within_its_caps():
    lessons, problems = load_lessons()
    assert problems == []
    step = lessons["line-to-cnn"].steps[-1]
    assert step.sweep["vary"] == {"learning_rate": [0.0001, 0.001, 0.01, 0.1]} and step.max_limit == 5000


@pytest.mark.parametrize("sweep, words, line", [
    ('vary = { learning_rate = [0.001] }', "learning_rate needs a list of at least two values", 17),
    ('vary = { learning_rate = [0.001, -1.0] }', "Learning rate must be above 0", 17),
    ('vary = { colour = [1, 2] }', "'colour' is not a setting a sweep can vary", 17),
    ('vary = { learning_rate = [0.001, 0.01] }\nsearch = "tpe"', "a random or tpe search needs trials", 18),
    ('vary = { learning_rate = [0.001, 0.01] }\nprune = "sometimes"', "prune must be one of off, median", 18),
])
def test_a_bad_sweep_in_a_lesson_is_reported_with_its_line(tmp_path, sweep, words, line):
    lessons, problems = load_lessons(lesson(tmp_path, sweep))
    assert "sweepy" not in lessons
    assert any(words in p.message and p.line == line for p in problems), [str(p) for p in problems]


def test_a_step_that_offers_a_sweep_opens_it_filled_in_and_its_caps_hold(temp_store, tmp_path, monkeypatch,
                                                                          page_registry):
    folder = lesson(tmp_path, 'vary = { learning_rate = [0.001, 0.01, 0.1] }\nmax_runs = 3')
    monkeypatch.setenv("DIGIT_STUDIO_LESSONS", str(folder))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["lesson"], at.query_params["step"] = "sweepy", "1"
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="sweep_vary").value == ["learning_rate"]
    assert at.text_input(key="sweep_values_learning_rate").value == "0.001, 0.01, 0.1"
    assert "3 runs, about" in all_text(at)
    assert "arch" not in at.multiselect(key="sweep_vary").options            # the step offers one network
    at.multiselect(key="sweep_vary").set_value(["learning_rate", "batch_size"]).run()
    at.text_input(key="sweep_values_batch_size").set_value("32, 64").run()
    assert any("at most 3 are allowed" in e for e in texts(at.error)), texts(at.error)   # the lesson's own cap
    assert at.button(key="sweep_start").disabled and page_registry.jobs() == []

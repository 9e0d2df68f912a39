"""Sweeps on the pages (AppTest): the Train page's sweep form (runs and time before Start, bad values refused
with nothing queued), a tiny real sweep followed to its end, and Compare over a kept sweep: table, what
mattered, two runs side by side, deleting its models only after asking."""
from __future__ import annotations

import json
import math
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.store import ModelStore
from core.sweeps.records import RunRecord, SweepBook
from core.sweeps.space import SweepSpec
from core.sweeps.values import axis_from_text

from page_support import ROOT, TIMEOUT, add_copy_of_default, all_text, page_path, texts

TRAIN, COMPARE = page_path("train"), page_path("compare")


def train_with_sweep(arch: str = "linear", routed: bool = False, **numbers) -> AppTest:
    """The Train page (through app.py's router when `routed`: links to other pages need it)."""
    if routed:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
        at.switch_page("pages/train.py").run()
    else:
        at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    at.selectbox(key="train_arch").select(arch).run()
    for name, value in numbers.items():
        at.number_input(key=f"train_{arch}_{name}").set_value(value)
    return at.run()


def vary(at: AppTest, **texts_by_setting) -> AppTest:
    at.multiselect(key="sweep_vary").set_value(list(texts_by_setting)).run()
    for name, text in texts_by_setting.items():
        at.text_input(key=f"sweep_values_{name}").set_value(text)
    return at.run()


def test_the_form_counts_the_runs_and_estimates_the_time_before_start(temp_store, page_registry):
    at = vary(train_with_sweep(epochs=1, limit=500), learning_rate="0.0003, 0.001, 0.003, 0.01", batch_size="32, 128")
    assert not at.exception
    assert "8 runs, about" in all_text(at)
    assert not at.button(key="sweep_start").disabled
    at.selectbox(key="sweep_search").select("random").run()
    at.number_input(key="sweep_trials").set_value(3).run()
    assert "3 runs, about" in all_text(at)
    assert page_registry.jobs() == []                                    # nothing started by looking


@pytest.mark.parametrize("setting, text, words", [
    ("learning_rate", "abc, 0.01", "Learning rate must be above 0"),
    ("learning_rate", "0.01", "at least two values"),
    ("learning_rate", "nan, 0.1", "Learning rate must be above 0"),
    ("epochs", "1, 2, 500", "Epochs must be a whole number from 1 to 100"),
])
def test_bad_values_are_named_and_start_stays_off(temp_store, page_registry, setting, text, words):
    at = vary(train_with_sweep(), **{setting: text})
    assert not at.exception
    assert any(words in e for e in texts(at.error)), texts(at.error)
    assert at.button(key="sweep_start").disabled
    assert page_registry.jobs() == []


def test_a_range_with_no_values_or_too_many_runs_is_refused(temp_store, page_registry):
    at = train_with_sweep()
    at.multiselect(key="sweep_vary").set_value(["learning_rate", "batch_size"]).run()
    at.radio(key="sweep_values_learning_rate_how").set_value("range").run()
    at.number_input(key="sweep_values_learning_rate_count").set_value(0).run()
    assert any("count from 2 to 50" in e for e in texts(at.error))
    at.number_input(key="sweep_values_learning_rate_count").set_value(50).run()
    at.text_input(key="sweep_values_batch_size").set_value("8, 16, 32, 64").run()
    assert any("50 × 4 = 200 runs; at most 48 are allowed" in e for e in texts(at.error)), texts(at.error)
    assert at.button(key="sweep_start").disabled and page_registry.jobs() == []


@pytest.mark.slow
def test_a_tiny_sweep_started_on_the_page_runs_to_its_end_and_offers_compare(temp_store, page_registry):
    at = vary(train_with_sweep(routed=True, epochs=1, limit=300), learning_rate="0.001, 0.01")
    at.button(key="sweep_start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.query_params["sweep"]
    deadline = time.monotonic() + 300
    while "Runs done" not in [m.label for m in at.metric] or \
            next(m.value for m in at.metric if m.label == "State") != "finished":
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.5)
        at.run()
        assert not at.exception
    assert next(m.value for m in at.metric if m.label == "Runs done") == "2 of 2"
    assert len(page_registry.jobs()) == 2
    table = at.dataframe[0].value
    assert len(table) == 2 and set(table["learning rate"]) == {0.001, 0.01}
    assert list(table["validation accuracy"]) == sorted(table["validation accuracy"], reverse=True)
    assert any("Compare the runs of sweep" in str(link.proto.label) for link in at.get("page_link"))


def kept_sweep(root, runs: int = 6, models: bool = False) -> int:
    """A finished sweep in the sweeps file beside the store: learning rate alone decides the accuracy."""
    book = SweepBook(root / "sweeps.sqlite3")
    lrs = "0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03"
    spec = SweepSpec({"arch": "linear", "epochs": 2, "limit": 500},
                     (axis_from_text("lr", lrs), axis_from_text("batch_size", "32, 64")), "random", runs, 0, "median")
    sweep_id = book.create(spec, "alice")
    for n in range(1, runs + 1):
        lr = float(lrs.split(", ")[(n - 1) % 6])
        value = 0.95 - 0.1 * abs(math.log10(lr) + 3)
        state = "pruned" if n == 6 else "finished"
        name = f"sweep{sweep_id}-{n:02d}"
        if models:
            add_copy_of_default(root, name)
        book.save_run(sweep_id, RunRecord(n, {"learning_rate": lr, "batch_size": 32 if n % 2 else 64}, state,
                                          f"job-{n}", name, value, value - 0.01, 3.0, 2 if state == "finished" else 1,
                                          [{"epoch": 1, "val_accuracy": value - 0.05},
                                           {"epoch": 2, "val_accuracy": value}][:2 if state == "finished" else 1],
                                          "Pruned at epoch 1 of 2 by the median rule." if state == "pruned" else None))
    book.set_state(sweep_id, "finished")
    return sweep_id


def test_compare_shows_a_kept_sweep_its_table_what_mattered_and_two_runs_side_by_side(temp_store):
    sweep_id = kept_sweep(temp_store)
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT)
    at.query_params["sweep"] = str(sweep_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert len(table) == 6 and list(table["validation accuracy"]) == sorted(table["validation accuracy"], reverse=True)
    assert "pruned" in set(table["state"])
    assert "The learning rate explains" in all_text(at)
    assert "Runs (6 runs)" in all_text(at)
    pair = at.dataframe[1].value
    differs = dict(zip(pair["setting"], pair["differs"]))
    assert differs["learning rate"] == "◆" and differs["arch"] == ""
    charts = at.get("vega_lite_chart")                                      # parallel coordinates, curves, bars
    assert len(charts) == 3 and '"brush"' in charts[0].proto.spec
    layers = {layer.get("name"): layer for layer in json.loads(charts[0].proto.spec)["layer"]}
    assert layers["outside"]["mark"]["color"] == "#d0d0d0"                 # every run grey underneath,
    assert {"filter": "datum.kept == 1"} in layers["runs"]["transform"]     # in colour while inside the brush
    pngs = {d.key: d.proto.label for d in at.get("download_button") if d.key.endswith("_png")}
    assert set(pngs) == {"compare_parallel_png", "compare_curves_png", "compare_importance_png"}
    assert set(pngs.values()) == {"Download as PNG for your slides"}


def test_deleting_a_sweeps_models_asks_first(temp_store):
    sweep_id = kept_sweep(temp_store, runs=4, models=True)
    store = ModelStore(temp_store)
    at = AppTest.from_file(COMPARE, default_timeout=TIMEOUT)
    at.query_params["sweep"] = str(sweep_id)
    at.run()
    at.button(key="compare_delete").click().run()
    assert any("Delete the 4 models of sweep" in w for w in texts(at.warning))
    assert store.exists(f"sweep{sweep_id}-01")                              # not yet
    at.button(key="compare_delete_yes").click().run()
    assert not at.exception
    assert not any(store.exists(f"sweep{sweep_id}-{n:02d}") for n in range(1, 5))


def test_a_link_opens_a_sweep_filled_in_and_its_bad_values_are_named(temp_store, page_registry):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    for key, value in {"arch": "linear", "epochs": "1", "limit": "500", "vary.lr": "0.001,0.01",
                       "vary.batch-size": "32,64", "search": "random", "trials": "3", "prune": "median"}.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception and not at.warning, texts(at.warning)         # nothing refused, no widget warning
    assert at.multiselect(key="sweep_vary").value == ["learning_rate", "batch_size"]
    assert at.selectbox(key="sweep_search").value == "random" and at.number_input(key="sweep_trials").value == 3
    assert at.radio(key="sweep_pruner").value == "median"
    assert "3 runs, about" in all_text(at)
    assert any("vary.learning_rate=0.001,0.01" in c.value and "prune=median" in c.value for c in at.code)

    bad = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    for key, value in {"arch": "linear", "vary.lr": "0.001,nan", "vary.colour": "1,2"}.items():
        bad.query_params[key] = value
    bad.run()
    errors = texts(bad.error)
    assert any("Learning rate must be above 0" in e for e in errors), errors
    assert any("vary.colour" in e and "not a setting a sweep can vary" in e for e in errors), errors
    assert bad.button(key="sweep_start").disabled and page_registry.jobs() == []
    for key, value in {"arch": "linear", "vary.lr": "0.001,0.01", "trials": "lots"}.items():
        bad.query_params[key] = value
    bad.run()
    assert any("trials: trials must be a whole number" in e for e in texts(bad.error)), texts(bad.error)

"""Sweeps (core/sweeps): values and ranges, caps, the three searches, pruning, fairness, the record kept.

Runs here are fake (tests/sweep_support.py: made-up curves through the real JobRegistry, no TensorFlow);
tests/test_sweeps_training.py trains real tiny networks.
"""
from __future__ import annotations

import collections
import itertools
import math

import pytest

from core.fit.config import TrainConfig
from core.fit.progress import JobState
from core.store import ModelStore
from core.sweeps.estimate import estimate
from core.sweeps.importance import importances, sentence
from core.sweeps.live import SweepRegistry
from core.sweeps.records import SweepBook
from core.sweeps.search import Search, planned_params
from core.sweeps.space import SweepSpec
from core.sweeps.values import SweepError, axis_from_text, axis_from_values
from core.workshop.lessons import LessonStep

from sweep_support import curve_registry, gate_registry
from waiting import wait_until

BASE = {"arch": "linear", "epochs": 1, "limit": 500}


def spec(axes: dict[str, str], base=None, **kwargs) -> SweepSpec:
    return SweepSpec({**BASE, **(base or {})}, tuple(axis_from_text(k, v) for k, v in axes.items()), **kwargs)


@pytest.fixture
def book(tmp_path):
    return SweepBook(tmp_path / "sweeps.sqlite3")


def run_sweep(sweeps: SweepRegistry, the_spec, registry, store, **kwargs):
    sweep = sweeps.start(the_spec, registry, store, poll=0.01, **kwargs)
    assert sweep.wait(60), "the sweep did not end"
    return sweep


# --- values -----------------------------------------------------------------------------------------------------

def test_a_list_and_a_range_give_their_values():
    assert axis_from_text("lr", "0.0003, 0.001,0.003").values == (0.0003, 0.001, 0.003)
    log = axis_from_text("learning_rate", "1e-4:1e-2:3:log")
    assert log.name == "learning_rate" and log.scale == "log"
    assert [round(v, 12) for v in log.values] == [1e-4, 1e-3, 1e-2]
    assert axis_from_text("batch-size", "16:64:4").values == (16, 32, 48, 64)       # linear, whole numbers
    assert axis_from_text("arch", "linear, MLP-128-64").values == ("linear", "mlp-128-64")
    assert axis_from_text("dropout", "0:0.4:3:linear").values == (0.0, 0.2, 0.4)
    assert axis_from_text("hidden", "128; 256,128").values == ((128,), (256, 128))
    assert axis_from_text("augment", "on, off").values == (True, False)


@pytest.mark.parametrize("name, text, words", [
    ("lr", "abc, 0.1", "Learning rate must be above 0"),
    ("lr", "nan, 0.1", "Learning rate must be above 0"),
    ("lr", "0.001", "at least two values"),
    ("lr", "", "at least two values"),
    ("lr", "0.001, 0.001", "given more than once"),
    ("lr", "1e-4:1e-2:0:log", "count from 2 to 50"),
    ("lr", "1e-4:1e-2:100000:log", "count from 2 to 50"),
    ("lr", "0:1e-2:5:log", "log range must start above 0"),
    ("lr", "1e-2:1e-4:3", "low end must be below"),
    ("lr", "1e-4:1e-2:3:cubic", "log or linear"),
    ("epochs", "1:3:5", "only 3 different whole numbers"),
    ("epochs", "1, 500", "Epochs must be a whole number from 1 to 100"),
    ("arch", "linear, mlp-9", "Unknown architecture 'mlp-9'"),
    ("colour", "1, 2", "not a setting a sweep can vary"),
    ("name", "a, b", "cannot be swept"),
    ("dropout", "0.1, 0.95", "Dropout must be a number from 0.0 to 0.8"),
    ("lr", "0.1,,0.2", "an empty value"),
])
def test_bad_values_are_refused_in_plain_words(name, text, words):
    with pytest.raises(SweepError) as refused:
        axis_from_text(name, text)
    assert words in str(refused.value)


# --- the sweep and its caps ---------------------------------------------------------------------------------------

def test_a_grid_gives_exactly_the_product_of_the_values():
    grid = spec({"lr": "0.0003, 0.001, 0.003, 0.01", "batch_size": "32, 128"})
    runs = list(grid.grid())
    assert grid.runs == 8 and len(runs) == 8
    expected = set(itertools.product((0.0003, 0.001, 0.003, 0.01), (32, 128)))
    assert {(r["learning_rate"], r["batch_size"]) for r in runs} == expected
    config = grid.config(runs[-1], name="x")
    assert (config.arch, config.learning_rate, config.batch_size, config.limit, config.name) == \
        ("linear", 0.01, 128, 500, "x")


def test_a_seeded_random_search_gives_the_same_trials_twice_and_others_with_another_seed():
    space = {"lr": "1e-5:1e-1:9:log", "batch_size": "16, 32, 64, 128", "dropout": "0, 0.1, 0.2, 0.3"}
    first = planned_params(spec(space, {"arch": "custom-mlp"}, search="random", trials=10, seed=3))
    again = planned_params(spec(space, {"arch": "custom-mlp"}, search="random", trials=10, seed=3))
    other = planned_params(spec(space, {"arch": "custom-mlp"}, search="random", trials=10, seed=4))
    assert first == again and len(first) == 10
    assert first != other
    assert len({tuple(sorted(p.items())) for p in first}) == 10        # no run repeated


def test_the_guided_search_uses_what_the_earlier_trials_reached():
    """Only the learning rate matters, best at 10^best: TPE's later trials (11-20) land near whichever
    optimum the earlier ones found, far more often than a random search's (over seeds 1-3)."""
    def share_near(best: int, search: str) -> float:
        near = 0
        for seed in (1, 2, 3):
            sweep = spec({"lr": "1e-6:1:13:log", "batch_size": "8, 16, 32, 64, 128, 256, 512, 1024"},
                         search=search, trials=20, seed=seed)
            searcher, picks = Search(sweep), []
            while (trial := searcher.ask()) is not None:
                exponent = math.log10(trial.params["learning_rate"])
                picks.append(exponent)
                searcher.finished(trial, 1.0 - abs(exponent - best) / 6)
            near += sum(abs(p - best) < 0.51 for p in picks[10:])  # within half a decade
        return near / 30

    for best in (-5, -1):
        guided, random = share_near(best, "tpe"), share_near(best, "random")
        assert guided >= 0.4 and guided >= 1.5 * random, (best, guided, random)


def test_the_guided_search_never_trains_the_same_settings_twice():
    sweep = spec({"lr": "1e-4, 1e-3, 1e-2", "batch_size": "32, 64"}, search="tpe", trials=6, seed=0)
    searcher, seen = Search(sweep), []
    while (trial := searcher.ask()) is not None:
        seen.append(tuple(sorted(trial.params.items())))
        searcher.finished(trial, 0.9 if trial.params["learning_rate"] == 1e-3 else 0.5)
    assert len(seen) == 6 and len(set(seen)) == 6


def test_an_oversized_sweep_is_refused_before_anything_starts(book, tmp_path):
    registry, log = curve_registry(store=ModelStore(tmp_path))
    sweeps = SweepRegistry(book)
    huge = spec({"lr": "1e-5:1e-1:50:log", "batch_size": "8:1024:50:log", "epochs": "1, 2, 3, 4"})
    with pytest.raises(SweepError) as refused:
        sweeps.start(huge, registry, ModelStore(tmp_path))
    assert "50 × 50 × 4 = 10,000 runs; at most 48 are allowed" in str(refused.value)
    assert registry.jobs() == [] and book.list() == []
    with pytest.raises(SweepError, match="at most 5 are allowed"):
        spec({"lr": "0.001, 0.01"}, search="tpe", trials=6, max_runs=5).check()
    with pytest.raises(SweepError, match="would repeat runs"):
        spec({"lr": "0.001, 0.01"}, search="random", trials=3).check()
    with pytest.raises(SweepError, match="needs a number of trials"):
        spec({"lr": "0.001, 0.01"}, search="tpe", trials=0).check()


def test_options_only_where_every_architecture_takes_them_and_combinations_tensorflow_would_refuse():
    with pytest.raises(SweepError, match="mlp-128-64 has no such option"):
        spec({"arch": "custom-mlp, mlp-128-64", "dropout": "0, 0.2"}).check()
    spec({"dropout": "0, 0.2"}, {"arch": "custom-mlp"}).check()  # the base's arch takes it: fine
    with pytest.raises(SweepError, match="Reduce-LR-on-plateau cannot adjust a one-cycle schedule"):
        spec({"schedule": "constant, one-cycle"}, {"reduce_lr": True}).check()
    with pytest.raises(SweepError, match="validation split above 0"):
        spec({"lr": "0.001, 0.01"}, {"validation_split": 0.0}).check()


def test_a_lesson_steps_caps_hold_for_every_run_of_a_sweep():
    step = LessonStep(1, "Try learning rates", archs=("linear", "mlp-128-64"), max_epochs=2, max_limit=1000,
                      fixed={"optimizer": "adam"})
    spec({"lr": "0.001, 0.01", "epochs": "1, 2"}).check(step)                   # within the caps
    with pytest.raises(SweepError, match=r"at most 2 epochs per run \(this sweep asks for 3\)"):
        spec({"epochs": "1, 3"}).check(step)
    with pytest.raises(SweepError, match="at most 1,000 training-sample limit per run"):
        spec({"lr": "0.001, 0.01"}, {"limit": 5000}).check(step)
    with pytest.raises(SweepError, match="not cnn-best"):
        spec({"arch": "linear, cnn-best"}).check(step)
    with pytest.raises(SweepError, match="This step fixes optimizer"):
        spec({"optimizer": "adam, sgd"}).check(step)


def test_the_estimate_counts_the_runs_and_grows_with_epochs():
    small = estimate(spec({"lr": "0.001, 0.01"}))
    big = estimate(spec({"lr": "0.001, 0.01"}, {"epochs": 10, "limit": 50000}))
    assert small.runs == 2 and "2 runs, about" in small.text()
    assert big.seconds > small.seconds > 0


# --- running -------------------------------------------------------------------------------------------------------

def test_a_sweep_runs_every_combination_and_keeps_its_record(book, tmp_path):
    store = ModelStore(tmp_path)
    registry, log = curve_registry(store=store, epoch_seconds=0.02)
    sweep = run_sweep(SweepRegistry(book), spec({"lr": "0.001, 0.1", "batch_size": "32, 64"}), registry, store)
    assert len(log) == 4 and len(registry.jobs()) == 4
    kept = book.get(sweep.id)
    assert kept.state == "finished" and [r.state for r in kept.runs] == ["finished"] * 4
    assert {(r.params["learning_rate"], r.params["batch_size"]) for r in kept.runs} == \
        {(0.001, 32), (0.001, 64), (0.1, 32), (0.1, 64)}
    best = max(kept.runs, key=lambda r: r.val_accuracy)
    assert best.params["learning_rate"] == 0.001 and best.val_accuracy == pytest.approx(0.9)
    assert all(r.model == f"sweep{sweep.id}-{r.number:02d}" for r in kept.runs)
    assert [j.config.name for j in registry.jobs()] == [r.model for r in kept.runs]


def test_pruning_stops_a_clearly_worse_run_and_keeps_it_marked_but_not_the_best(book, tmp_path):
    store = ModelStore(tmp_path)
    registry, log = curve_registry(store=store)
    # two ordinary runs first (the median rule's start-up), then a hopeless one, then the best
    lrs = "0.003, 0.0003, 1.0, 0.001"
    sweep = run_sweep(SweepRegistry(book), spec({"lr": lrs}, {"epochs": 3}, prune="median"), registry, store)
    runs = {r.params["learning_rate"]: r for r in book.get(sweep.id).runs}
    hopeless = runs[1.0]
    assert hopeless.state == "pruned"
    assert hopeless.note.startswith("Pruned at epoch 1 of 3 by the median rule: validation accuracy 5.0% was below")
    assert hopeless.epochs_run < 3 and len(hopeless.history) == hopeless.epochs_run   # its curve ends there
    assert registry.get(hopeless.job_id).state == JobState.STOPPED
    assert runs[0.001].state == "finished" and runs[0.001].epochs_run == 3
    assert runs[0.003].state == runs[0.0003].state == "finished"


def test_successive_halving_prunes_too(book, tmp_path):
    store = ModelStore(tmp_path)
    registry, _ = curve_registry(store=store)
    sweep = run_sweep(SweepRegistry(book), spec({"lr": "0.001, 0.003, 1.0"}, {"epochs": 3}, prune="halving"),
                      registry, store)
    runs = {r.params["learning_rate"]: r for r in book.get(sweep.id).runs}
    assert runs[1.0].state == "pruned" and "successive halving" in runs[1.0].note
    assert runs[0.001].state == "finished"


def test_another_visitors_single_run_starts_before_the_sweeps_second(book, tmp_path):
    store = ModelStore(tmp_path)
    registry, log = gate_registry(slots=1, max_per_owner=2, store=store)
    sweep = SweepRegistry(book).start(spec({"lr": "0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03"}), registry, store,
                                      owner="alice", poll=0.01)
    assert wait_until(lambda: len(log) == 1, 10)                     # the sweep's first run trains
    single = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=500), store, owner="bob")
    for n in range(7):
        assert wait_until(lambda: len(log) > n, 10)
        registry.get(log[n]).release()
    assert sweep.wait(10)
    owners = [registry.owner(job_id) for job_id in log]
    assert log[1] == single.id, owners
    assert owners == ["alice", "bob", "alice", "alice", "alice", "alice", "alice"]


def test_a_sweep_holds_no_more_of_the_queue_than_its_visitors_cap(book, tmp_path):
    """The per-visitor cap counts a sweep's runs queued or training, never all its runs."""
    import threading

    store = ModelStore(tmp_path)
    registry, log = gate_registry(slots=3, max_per_owner=2, store=store)
    sweep = SweepRegistry(book).start(spec({"lr": "0.0001, 0.0003, 0.001, 0.003, 0.01"}), registry, store,
                                      owner="alice", poll=0.01)
    assert sweep.parallel == 2
    most, watching = collections.Counter(), threading.Event()

    def watch() -> None:                                              # the most runs active at any moment
        while not watching.is_set():
            most["active"] = max(most["active"], sum(not j.state.done for j in registry.jobs()))
            watching.wait(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for n in range(5):
            active = lambda: sum(not j.state.done for j in registry.jobs())  # noqa: E731
            assert wait_until(lambda: active() == min(2, 5 - n) and len(log) > n, 10), (n, active(), len(log))
            registry.get(log[n]).release()
        assert sweep.wait(10)
    finally:
        watching.set()
        watcher.join()
    assert len(log) == 5 and most["active"] == 2


def test_one_sweep_at_a_time_per_visitor_and_stop_ends_it(book, tmp_path):
    store = ModelStore(tmp_path)
    registry, log = gate_registry(store=store)
    sweeps = SweepRegistry(book)
    first = sweeps.start(spec({"lr": "0.001, 0.01, 0.1"}), registry, store, owner="alice", poll=0.01)
    with pytest.raises(SweepError, match="alice already has sweep"):
        sweeps.start(spec({"lr": "0.001, 0.01"}), registry, store, owner="alice")
    assert wait_until(lambda: len(log) == 1, 10)
    first.stop()
    assert first.wait(10)
    kept = book.get(first.id)
    assert kept.state == "stopped" and [r.state for r in kept.runs] == ["stopped"]
    assert sweeps.record(first.id).state == "stopped"


# --- what mattered ------------------------------------------------------------------------------------------------

def test_importance_gives_the_learning_rate_its_due_when_only_it_matters():
    runs = []
    for i, (lr, batch, dropout) in enumerate(itertools.product((1e-4, 3e-4, 1e-3, 3e-3, 1e-2), (32, 128), (0.0, 0.2))):
        noise = ((i * 7919) % 13 - 6) * 1e-4                               # tiny, and unrelated to the settings
        runs.append(({"learning_rate": lr, "batch_size": batch, "dropout": dropout},
                     0.95 - 0.1 * abs(math.log10(lr) + 3) + noise))
    shares = importances(runs)
    assert shares["learning_rate"] >= 0.8
    assert list(shares)[0] == "learning_rate" and sum(shares.values()) == pytest.approx(1.0)
    assert sentence(shares).startswith("The learning rate explains ")
    assert importances(runs[:3]) == {}                                     # too few runs to say


def test_axis_values_from_a_lesson_or_page_list():
    axis = axis_from_values("learning_rate", [0.001, 0.01])
    assert axis.values == (0.001, 0.01) and axis.text() == "0.001, 0.01"
    with pytest.raises(SweepError, match="give a list"):
        axis_from_values("lr", "0.001")


# --- comparing runs: where each crosses each axis, and a brushed box ---------------------------------------------

def test_axes_place_numbers_on_a_log_scale_when_they_spread_and_categories_in_order():
    from core.sweeps.compare import axis_positions

    places, ticks = axis_positions([0.0001, 0.01, 0.001, None])
    assert places[:3] == pytest.approx([0.0, 1.0, 0.5]) and places[3] is None
    assert [round(p, 3) for p, _ in ticks] == [0.0, 0.5, 1.0]
    places, _ = axis_positions([32, 64, 96])                                   # linear: a factor of 3
    assert places == pytest.approx([0.0, 0.5, 1.0])
    places, ticks = axis_positions(["sgd", "adam", "sgd"])
    assert places == [1.0, 0.0, 1.0] and [t for _, t in ticks] == ["adam", "sgd"]


def test_a_brushed_box_keeps_the_runs_that_cross_it():
    from core.sweeps.compare import RunRow, parallel_points, runs_in_box

    rows = [RunRow(f"run {i}", {"learning_rate": lr}, val_accuracy=acc)
            for i, (lr, acc) in enumerate([(0.0001, 0.80), (0.001, 0.95), (0.01, 0.90), (0.1, 0.50)], 1)]
    points, ticks = parallel_points(rows, ["learning_rate"])
    assert {p["axis"] for p in points} == {"learning_rate", "validation accuracy"}
    assert runs_in_box(points, None) is None
    top = runs_in_box(points, {"axis": ["validation accuracy"], "place": [0.8, 1.0]})
    assert top == {"run 2", "run 3"}                                           # 95% and 90% of a 50-95% axis
    both = runs_in_box(points, {"axis": ["learning_rate", "validation accuracy"], "place": [0.5, 1.0]})
    assert both == {"run 3"}            # lr in the upper half (0.01, 0.1) and accuracy in it (80%, 95%, 90%)


def test_models_saved_before_sweeps_still_list_and_a_marked_one_says_it_was_pruned(tmp_path):
    from core.sweeps.compare import rows_from_models

    from page_support import add_copy_of_default

    add_copy_of_default(tmp_path, "old")                                    # metadata from before sweeps
    add_copy_of_default(tmp_path, "swept")
    store = ModelStore(tmp_path)
    store.annotate("swept", "sweep", {"id": 3, "search": "grid", "run": 2, "values": {"learning_rate": [0.1, 1.0]},
                                      "params": {"learning_rate": 1.0}, "pruned": True,
                                      "pruned_reason": "Pruned at epoch 1 of 3 by the median rule."})
    infos = {i.name: i for i in store.list()}
    assert infos["old"].error is None and "sweep" not in infos["old"].meta.extra
    assert infos["swept"].meta.extra["sweep"]["pruned"] is True
    assert infos["swept"].meta.test_accuracy == infos["old"].meta.test_accuracy          # the rest untouched
    rows = {r.label: r for r in rows_from_models([infos["old"], infos["swept"]])}
    assert rows["old"].state == "finished" and rows["swept"].state == "pruned"
    assert rows["swept"].note.startswith("Pruned at epoch 1")
    with pytest.raises(Exception, match="written by training"):
        store.annotate("old", "history", [])

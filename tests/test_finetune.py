"""Fine-tuning, a run that starts from a stored model and trains on the drawings too: it must raise held-out
accuracy on drawings an MNIST model gets wrong, keep MNIST, save a new model with its provenance, go through
the job registry in a worker process with its figures in the result, and refuse impossible runs before training."""
import json
import shutil

import numpy as np
import pytest

from core.data import datasets
from core.drawings import DrawingStore, evaluate_on_drawings
from core.drawings.values import record
from core.fit.config import ConfigError, TrainConfig
from core.fit.finetune import FineTuneError, FineTuneSettings, config_for, held_out_split, provenance
from core.fit.progress import JobState, ProgressRecorder
from core.fit.recipe import plan_fit
from core.fit.training import train
from core.runs.queue import JobRegistry
from core.store import ModelStore, StoreError


def keep(store: DrawingStore, images, labels, author="test") -> DrawingStore:
    store.add_records([record(int(label), image, author=author, created_unix=1e9 + i)
                       for i, (image, label) in enumerate(zip(images, labels))], skip_duplicates=False)
    return store


@pytest.fixture
def sideways(tmp_path):
    """200 MNIST test digits turned a quarter turn (a tablet held sideways), labelled with the true digit."""
    mnist = datasets.load("mnist")
    return keep(DrawingStore(tmp_path / "drawings.sqlite3"), np.rot90(mnist.x_test[:200], 1, axes=(1, 2)),
                mnist.y_test[:200], author="sideways")


@pytest.fixture
def twenty(tmp_path):
    """20 MNIST test digits kept as drawings."""
    mnist = datasets.load("mnist")
    return keep(DrawingStore(tmp_path / "twenty.sqlite3"), mnist.x_test[:20], mnist.y_test[:20])


@pytest.fixture
def small(small_trained_model, tmp_path):
    """A private store holding a copy of the session's small cnn-basic model: (store, name)."""
    source, name = small_trained_model
    store = ModelStore(tmp_path / "small-models")
    store.root.mkdir()
    for path in source.paths(name):
        shutil.copy(path, store.root / path.name)
    return store, name


class Recorder(ProgressRecorder):
    """A recorder that remembers whether training was ever planned (it is not, for a refused run)."""

    def __init__(self, config):
        super().__init__("test", config)
        self.was_planned = False

    def planned(self, batches_per_epoch, samples_per_epoch):
        self.was_planned = True
        super().planned(batches_per_epoch, samples_per_epoch)


def run(config, store, drawings=None):
    return train(config, Recorder(config), lambda: False, store, drawings=drawings)


def saved_models(store: ModelStore) -> list[str]:
    return sorted(p.stem for p in store.root.glob("*.keras")) if store.root.exists() else []


@pytest.mark.slow
def test_fine_tuning_raises_held_out_accuracy_on_drawings_the_model_gets_wrong(sideways, store):
    settings = FineTuneSettings(epochs=3, mnist_samples=500, drawing_weight=5, seed=0)
    config = settings.config("default", store.read_meta("default"))
    assert (config.start_from, config.arch, config.limit, config.validation_split) == ("default", "cnn-best", 500, 0)
    result = run(config, store, sideways)

    assert result.held_out == 50 and result.epochs_run == 3 and result.base == "default"
    assert result.before["drawings_accuracy"] < 0.4, "premise: the shipped model cannot read sideways digits"
    assert result.after["drawings_accuracy"] >= result.before["drawings_accuracy"] + 0.3, result
    assert result.after["test_accuracy"] >= 0.95 and result.before["test_accuracy"] > 0.99
    assert result.after["test_accuracy"] == result.test_accuracy

    meta = json.loads((store.root / f"{result.model_name}.json").read_text())
    assert result.model_name == "default-tuned" and meta["fine_tuned_from"] == "default"
    assert meta["drawings"] == 200 and meta["held_out"] == 50 and meta["test_samples"] == 10_000
    assert meta["before"] == result.before and meta["after"] == result.after and meta["arch"] == "cnn-best"
    assert meta["fine_tune"]["drawings_weight"] == 5 and meta["config"]["start_from"] == "default"
    assert meta["test_metrics"]["accuracy"] == result.after["test_accuracy"]
    assert meta["note"].startswith("Fine-tuned from default on 150 of your drawings (50 held out for testing) "
                                   "and 500 MNIST digits; held-out drawings ")

    # Oracle: the saved model, loaded afresh, scores the same on the held-out drawings it never trained on.
    tuned = store.load(result.model_name)
    x, y = sideways.arrays()
    _, held = held_out_split(200, config.drawings_held_out, config.seed)
    held_store = keep(DrawingStore(sideways.path.with_name("held.sqlite3")), x[held], y[held])
    assert evaluate_on_drawings(tuned, held_store).accuracy == pytest.approx(result.after["drawings_accuracy"])


@pytest.mark.slow
def test_a_fine_tune_runs_through_the_registry_in_a_worker_process(small, tmp_path, monkeypatch, twenty):
    from core.runs.workers import WorkerPool

    store, name = small
    monkeypatch.setenv("DIGIT_STUDIO_DRAWINGS", str(twenty.path))  # the worker opens the drawings itself
    config = config_for(name, store.read_meta(name), epochs=1, limit=500, validation_split=0.0)
    assert (config.arch, config.drawings_weight, config.learning_rate) == ("cnn-basic", 5, 3e-4)
    pool = WorkerPool(grace=20.0)
    try:
        job = JobRegistry(1, store, job_factory=pool).submit(config, owner="ada")
        assert job.wait(timeout=300)
    finally:
        pool.close()
    progress = job.progress()
    assert progress.state == JobState.FINISHED, progress.error
    result = progress.result
    assert result.model_name == "small-tuned" and result.base == name and result.held_out == 5
    assert set(result.before) == set(result.after) == {"drawings_accuracy", "test_accuracy"}
    assert result.after["test_accuracy"] == result.test_accuracy
    meta = store.read_meta("small-tuned")
    assert meta.extra["fine_tuned_from"] == name and meta.extra["drawings"] == 20 and meta.extra["held_out"] == 5
    assert meta.extra["before"] == result.before and meta.extra["after"] == result.after
    assert meta.author == "ada" and "Fine-tuned from small on 15 of your drawings" in meta.note
    # the batches trained on: 500 MNIST digits and 15 drawings shown 5 times each
    assert progress.batches_per_epoch == int(np.ceil((500 + 15 * 5) / config.batch_size))

    again = run(config.replace(drawings_weight=0), store)          # no drawings: the test set only
    assert again.model_name == "small-tuned-2" and set(again.before) == {"test_accuracy"} and again.held_out == 0


def test_a_new_network_can_train_on_the_drawings_too(twenty, tmp_path):
    store = ModelStore(tmp_path / "models")
    config = TrainConfig.for_preset("linear", epochs=1, limit=300, validation_split=0.0, drawings_weight=2,
                                    drawings_held_out=0.5)
    plan = plan_fit(config, store, twenty)
    assert plan.train_samples == 300 + 10 * 2 and plan.drawings.held == 10
    x, y = twenty.arrays()
    train_index, held = held_out_split(20, 0.5, config.seed)
    assert np.array_equal(plan.train_data[1][300:], np.repeat(y[train_index], 2)), "the training share, repeated"
    assert np.allclose(plan.drawings.x_held[..., 0], x[held] / 255.0)
    result = run(config, store, twenty)
    assert result.base is None and result.model_name.startswith("linear-") and "drawings_accuracy" in result.after
    assert store.read_meta(result.model_name).note.startswith("Trained on 10 of your drawings")


def test_refusals_come_before_training_and_save_nothing(small, tmp_path, twenty):
    store, name = small
    meta = store.read_meta(name)
    few = keep(DrawingStore(tmp_path / "few.sqlite3"), np.zeros((9, 28, 28), np.uint8), np.arange(9))
    cases = [
        (config_for("ghost", meta), twenty, StoreError, "No model named 'ghost'"),
        (config_for(name, meta), few, FineTuneError, r"at least 10 kept drawings \(there are 9\)"),
        (config_for(name, meta, arch="mlp-512"), twenty, FineTuneError,
         "small is a cnn-basic network, but these settings ask for mlp-512"),
        (config_for(name, meta, dataset="fashion-mnist", drawings_weight=0), twenty, FineTuneError,
         "small reads mnist, but these settings train on fashion-mnist"),
    ]
    for config, drawings, error, message in cases:
        recorder = Recorder(config)
        with pytest.raises(error, match=message):
            train(config, recorder, lambda: False, store, drawings=drawings)
        assert not recorder.was_planned
    assert saved_models(store) == [name]


@pytest.mark.parametrize("values, fragment", [
    ({"dataset": "fashion-mnist", "drawings_weight": 5}, "Your drawings are digits: Fashion-MNIST has none"),
    ({"drawings_weight": 101}, "Weight of your drawings must be a whole number from 0 to 100"),
    ({"drawings_weight": 1.5}, "Weight of your drawings must be a whole number"),
    ({"drawings_held_out": 0.01}, "Drawings held out must be between 0.05 and 0.9"),
    ({"drawings_held_out": 0.95}, "Drawings held out must be between"),
    ({"start_from": "../up"}, "Start from: Invalid model name '../up'"),
    ({"start_from": 3}, "Start from must be text"),
])
def test_impossible_fine_tune_settings_are_refused_by_the_config(values, fragment):
    with pytest.raises(ConfigError) as raised:
        TrainConfig(**values)
    assert any(fragment in problem for problem in raised.value.problems), raised.value.problems


def test_the_settings_line_names_the_base_and_the_drawings():
    line = TrainConfig(start_from="default", drawings_weight=5, drawings_held_out=0.2, epochs=3).summary()
    assert line.startswith("from default · 3 epochs") and "your drawings ×5, 20% held out" in line
    assert "drawings" not in TrainConfig().summary() and "from" not in TrainConfig().summary()


def test_the_held_out_split_is_seeded_disjoint_and_never_empty():
    train_index, held = held_out_split(40, 0.25, seed=3)
    assert len(held) == 10 and len(train_index) == 30 and not set(train_index) & set(held)
    assert sorted([*train_index, *held]) == list(range(40))
    assert np.array_equal(held, held_out_split(40, 0.25, seed=3)[1])
    assert not np.array_equal(held, held_out_split(40, 0.25, seed=4)[1])
    assert len(held_out_split(10, 0.01, 0)[1]) == 1 and len(held_out_split(10, 0.99, 0)[0]) == 1


@pytest.mark.parametrize("settings, fragment", [
    (dict(epochs=0), "Epochs must be a whole number from 1 to 20"),
    (dict(epochs=21), "Epochs must be"),
    (dict(epochs=2.5), "Epochs must be"),
    (dict(held_out=0.0), "Held-out share must be between 0.05 and 0.9"),
    (dict(held_out=1.0), "Held-out share"),
    (dict(held_out=True), "Held-out share"),
    (dict(drawing_weight=0), "Drawing weight must be"),
    (dict(mnist_samples=10), "Mnist samples must be a whole number from 50"),
    (dict(learning_rate=0.5), "Learning rate"),
    (dict(seed=-1), "Seed must be"),
])
def test_impossible_command_line_settings_are_refused(settings, fragment):
    with pytest.raises(FineTuneError, match=fragment):
        FineTuneSettings(**settings).check()


@pytest.mark.slow
def test_the_command_line_fine_tunes_through_the_same_run(small, twenty, monkeypatch, capsys):
    from core.cli import main

    store, name = small
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(store.root))
    monkeypatch.setenv("DIGIT_STUDIO_DRAWINGS", str(twenty.path))
    status = main(["drawings", "finetune", "--model", name, "--epochs", "1", "--mnist-samples", "300"])
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "fine-tuning small on 15 drawings x5 and 300 MNIST digits; 5 drawings held out for testing"
    assert lines[1].startswith("epoch 1/1  loss ") and lines[2].startswith("held-out drawings ")
    assert lines[3].startswith("MNIST test        ") and " -> " in lines[3]
    assert lines[4].startswith(f"saved small-tuned to {store.root}")
    meta = store.read_meta("small-tuned")
    assert meta.extra["fine_tune"]["limit"] == 300 and meta.config["validation_split"] == 0.0

    status = main(["train", "--start-from", name, "--drawings-weight", "2", "--epochs", "1", "--limit", "300",
                   "--name", "again"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "saved again to" in out and "held-out drawings " in out and "MNIST test " in out
    config = store.read_meta("again").config
    assert (config["arch"], config["start_from"], config["drawings_weight"], config["learning_rate"]) == \
        ("cnn-basic", name, 2, 3e-4), "the base's architecture and the fine-tune defaults under the flags"


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--start-from", "small", "--arch", "mlp-512"], "small is a cnn-basic network, but these settings"),
    (["train", "--start-from", "ghost"], "No model named 'ghost'"),
    (["train", "--start-from", "small", "--dataset", "fashion-mnist", "--drawings-weight", "3"],
     "Your drawings are digits"),
    (["train", "--start-from", "small", "--drawings-weight", "3", "--drawings-held-out", "0.99"],
     "Drawings held out must be between 0.05 and 0.9"),
    (["train", "--epochs", "1"], "--arch (or --start-from)"),
    (["drawings", "finetune", "--model", "small", "--mnist-samples", "0"], "Mnist samples must be"),
])
def test_impossible_command_line_fine_tunes_are_one_line_exit_2(small, tmp_path, monkeypatch, capsys, argv,
                                                                  fragment):
    from core.cli import main

    store, _ = small
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(store.root))
    monkeypatch.setenv("DIGIT_STUDIO_DRAWINGS", str(tmp_path / "none.sqlite3"))
    status = main(argv)
    _, err = capsys.readouterr()
    assert status == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err
    assert saved_models(store) == ["small"]


def test_the_provenance_note_names_stroke_drawn_copies_when_the_run_had_them():
    figures = ({"test_accuracy": 0.9950}, {"test_accuracy": 0.9961})
    plain = TrainConfig.for_preset("cnn-basic", start_from="base", limit=9000)
    extra, note = provenance(plain, None, *figures, 10000, "MNIST", 9000)
    assert note == "Fine-tuned from base on 9,000 MNIST training images; MNIST test 99.50% -> 99.61%."
    assert extra["fine_tune"]["stroke_copies"] == 0
    with_copies = TrainConfig.for_preset("cnn-basic", start_from="base", stroke_copies=60000)
    extra, note = provenance(with_copies, None, *figures, 10000, "MNIST", 54000)
    assert note.startswith("Fine-tuned from base on 54,000 MNIST training images and 60,000 stroke-drawn copies;")
    assert extra["fine_tune"]["stroke_copies"] == 60000

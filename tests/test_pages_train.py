"""Train page (AppTest): real (tiny) training from the page, watched, stopped, queued, found again."""
from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from core.fit.config import TrainConfig
from core.fit.progress import JobState
from core.store import ModelStore

from page_support import TIMEOUT, all_text, metric, page_path, texts, use_registry

TRAIN = page_path("train")
JOB_TIMEOUT = 300      # seconds for a tiny run to train, test and save


@pytest.fixture
def registry(page_registry):
    return page_registry


def open_train(arch: str = "mlp-128-64", batch: int | None = None, **numbers) -> AppTest:
    """The Train page with `arch` chosen, the batch size and number inputs (epochs=, limit=, ...) set."""
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.selectbox(key="train_arch").select(arch).run()
    if batch is not None:
        at.select_slider(key=f"train_{arch}_batch_size").set_value(batch)
    for name, value in numbers.items():
        at.number_input(key=f"train_{arch}_{name}").set_value(value)
    return at.run()


def start(at: AppTest, registry):
    before = {j.id for j in registry.jobs()}
    at.button(key="train_start").click().run()
    assert not at.exception
    new = [j for j in registry.jobs() if j.id not in before]
    assert len(new) == 1, f"Start should submit one job, got {len(new)}; errors: {texts(at.error)}"
    return new[0]


def poll_until(at: AppTest, condition, timeout: float = JOB_TIMEOUT) -> AppTest:
    """Rerun the page (AppTest does not run fragment timers) until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the training job"
        time.sleep(0.5)
        at.run()
        assert not at.exception
    return at.run()


def long_config() -> TrainConfig:
    return TrainConfig.for_preset("cnn-basic", epochs=20, limit=20000, batch_size=32)


def test_train_page_shows_every_preset_and_its_parameter_count(app_store):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    from core.nets.builders import parameter_count
    from core.nets.presets import PRESETS

    assert at.selectbox(key="train_arch").options == list(PRESETS)
    assert f"{parameter_count('cnn-basic'):,} parameters" in all_text(at)
    at.selectbox(key="train_arch").select("tiny-20px").run()
    assert at.number_input(key="train_tiny-20px_epochs").value == 30  # the preset's own defaults
    assert at.number_input(key="train_tiny-20px_limit").value == 5000
    at.selectbox(key="train_arch").select("custom-mlp").run()
    at.slider(key="train_custom-mlp_layers").set_value(2).run()
    at.slider(key="train_custom-mlp_units").set_value(64).run()
    expected = parameter_count("custom-mlp", {"hidden": (64, 64), "activation": "relu", "dropout": 0.0})
    assert f"{expected:,} parameters" in all_text(at)
    assert not at.exception


@pytest.mark.slow
def test_tiny_run_trains_tests_saves_and_can_be_used_for_drawing(app_store, registry):
    at = open_train("mlp-128-64", batch=16, epochs=1, limit=300)
    job = start(at, registry)
    assert at.query_params["job"] == job.id and at.session_state["train_job_id"] == job.id
    assert (job.config.arch, job.config.limit, job.config.epochs, job.config.batch_size) == ("mlp-128-64", 300, 1, 16)
    assert f"Run {job.id}" in all_text(at)
    poll_until(at, lambda: job.state.done)

    result = job.progress().result
    assert job.state == JobState.FINISHED and result is not None
    assert metric(at, "Test accuracy") == f"{result.test_accuracy:.2%}"
    assert result.test_accuracy > 0.4  # far above chance (10%) after 17 batches of 16
    assert f"Saved as model **`{result.model_name}`**" in all_text(at)
    assert app_store.exists(result.model_name)
    assert at.get("vega_lite_chart"), "the loss/accuracy curves and confusion matrix should be drawn"

    at.button(key=f"train_use_{job.id}").click().run()
    assert at.session_state["active_model"] == result.model_name
    assert "In use on the Draw page" in all_text(at)
    assert not at.exception


@pytest.mark.slow
def test_stop_ends_the_run_and_keeps_what_was_learned(app_store, registry):
    at = open_train("cnn-basic", epochs=20, limit=20000)
    job = start(at, registry)
    poll_until(at, lambda: job.progress().batch_curve)  # it is training
    assert at.get("progress"), "a running job shows a progress bar"

    at.button(key=f"train_stop_{job.id}").click().run()
    stopped_at = time.monotonic()
    assert job.state in (JobState.STOPPING, JobState.STOPPED)
    assert job.wait(60), "a stopped run should end within a batch, then test and save"
    ended_in = time.monotonic() - stopped_at
    at.run()
    p = job.progress()
    assert p.state == JobState.STOPPED and p.result is not None, p.error
    assert p.epoch < 20
    assert "Stopped in epoch" in all_text(at)
    assert app_store.exists(p.result.model_name)
    assert ended_in < 60
    assert not at.exception


def test_impossible_settings_are_refused_with_every_reason(app_store, registry):
    at = open_train("cnn-bn", limit=10, learning_rate=0.0)  # cnn-bn has early stopping on
    at.slider(key="train_cnn-bn_validation_split").set_value(0.0).run()
    at.text_input(key="train_cnn-bn_name").input("../escape").run()
    at.button(key="train_start").click().run()

    errors = "\n".join(texts(at.error))
    assert "Training-sample limit must be a whole number from 50" in errors
    assert "Learning rate must be above 0" in errors
    assert "set a validation split above 0" in errors
    assert "Invalid model name" in errors
    assert len(at.error) == 4
    assert registry.jobs() == []
    assert "job" not in at.query_params
    assert not at.exception


def test_second_start_waits_in_the_queue_and_can_be_cancelled(app_store, registry):
    other = registry.submit(long_config())  # someone else's run, from another browser
    deadline = time.monotonic() + JOB_TIMEOUT
    while other.state != JobState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    at = open_train("mlp-128-64", epochs=1, limit=300)
    job = start(at, registry)
    assert job.state == JobState.QUEUED
    text = all_text(at)
    assert "Waiting: 1 run ahead of you (place 1 in the queue)" in text
    assert f"**{other.id}** · cnn-basic · running" in text  # the slot holder is shown

    at.button(key=f"train_stop_{job.id}").click().run()  # the queued run's Cancel
    assert job.wait(30) and job.state == JobState.STOPPED
    poll_until(at, lambda: "Cancelled before it started" in all_text(at), timeout=30)
    assert other.state == JobState.RUNNING  # cancelling mine leaves theirs alone
    assert not at.exception


def test_reloaded_tab_and_returning_session_find_the_run_again(app_store, registry):
    job = registry.submit(TrainConfig.for_preset("mlp-128-64", epochs=1, limit=300))

    reloaded = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    reloaded.query_params["job"] = job.id          # a fresh session, only the URL
    reloaded.run()
    assert f"Run {job.id}" in all_text(reloaded)
    assert reloaded.session_state["train_job_id"] == job.id

    returning = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    returning.session_state["train_job_id"] = job.id  # page switch: session kept, URL cleared
    returning.run()
    assert f"Run {job.id}" in all_text(returning)
    assert returning.query_params["job"] == job.id

    poll_until(returning, lambda: job.state.done)
    assert "Finished" in all_text(returning)

    unknown = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    unknown.query_params["job"] = "job-999-00000"
    unknown.run()
    assert "is not known to this server" in all_text(unknown)
    assert "job" not in unknown.query_params
    assert not (reloaded.exception or returning.exception or unknown.exception)


def test_training_widgets_take_label_and_bounds_from_the_settings_table(app_store):
    from core.fit.config import SETTINGS

    at = open_train("cnn-basic")
    epochs = at.number_input(key="train_cnn-basic_epochs")
    assert epochs.label == SETTINGS["epochs"].label and (epochs.min, epochs.max) == (1, 100)
    seed = at.number_input(key="train_cnn-basic_seed")
    assert seed.label == SETTINGS["seed"].label and seed.max == SETTINGS["seed"].high
    assert at.selectbox(key="train_cnn-basic_dataset").label == SETTINGS["dataset"].label
    assert at.selectbox(key="train_cnn-basic_dataset").options == ["MNIST", "Fashion-MNIST"]
    assert at.toggle(key="train_cnn-basic_early_stopping").label == SETTINGS["early_stopping"].label
    assert at.selectbox(key="train_cnn-basic_optimizer").options == list(SETTINGS["optimizer"].choices)


@pytest.mark.slow
def test_a_run_on_fashion_mnist_is_tested_on_clothes(app_store, registry):
    at = open_train("linear", epochs=1, limit=600)
    at.selectbox(key="train_linear_dataset").select("fashion-mnist").run()
    job = start(at, registry)
    assert job.config.dataset == "fashion-mnist"
    poll_until(at, lambda: job.state.done)
    result = job.progress().result
    assert job.state == JobState.FINISHED and result is not None, job.progress().error
    assert app_store.read_meta(result.model_name).dataset == "fashion-mnist"
    assert result.test_accuracy > 0.4  # chance is 10%
    assert "Confusion matrix on the Fashion-MNIST test set" in [e.label for e in at.expander]
    assert not at.exception


def test_a_run_ended_by_force_says_why_not_cancelled(temp_store, monkeypatch):
    """A worker that did not stop in its grace time: the page shows the note, not 'Cancelled before it started'."""
    from core.fit.config import TrainConfig
    from core.runs.queue import JobRegistry, QueuedJob

    note = "The run did not stop within 1 s of Stop, so its worker was ended; nothing was saved."

    class EndedByForce(QueuedJob):
        def _execute(self):
            self.recorder.finished(None, stopped=True, note=note)

    registry = JobRegistry(1, ModelStore(temp_store), EndedByForce)
    use_registry(monkeypatch, registry)
    job = registry.submit(TrainConfig.for_preset("linear", epochs=1, limit=100))
    assert job.wait(10)
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    at.query_params["job"] = job.id
    at.run()
    assert not at.exception
    assert any(note in text for text in texts(at.warning)), texts(at.warning)
    assert "Cancelled before it started" not in all_text(at)


# --- starting from a stored model (fine-tuning) ----------------------------------------------------------


@pytest.fixture
def small_in_app(app_store, small_trained_model):
    """The session's small cnn-basic model copied into the pages' store, and 20 kept drawings beside it."""
    import shutil

    from core.data import datasets
    from core.drawings import DrawingStore

    source, name = small_trained_model
    for path in source.paths(name):
        shutil.copy(path, app_store.root / path.name)
    mnist = datasets.load("mnist")
    drawings = DrawingStore()
    for i in range(20):
        drawings.add(int(mnist.y_test[i]), mnist.x_test[i])
    yield name
    drawings.close()


@pytest.mark.slow
def test_a_run_from_a_stored_model_is_queued_watched_and_shows_before_and_after(small_in_app, registry):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    assert at.radio(key="train_source").value == "a new network" and not at.number_input(
        key="train_cnn-basic_drawings_weight").value, "a new network trains on MNIST only unless asked"
    at.radio(key="train_source").set_value("a stored model").run()
    at.selectbox(key="train_base_model").select(small_in_app).run()
    assert not at.exception
    arch = at.selectbox(key="train_arch")
    assert arch.value == "cnn-basic" and arch.disabled, "the stored model's own architecture"
    assert at.number_input(key="train_cnn-basic_epochs").value == 3, "fine-tune defaults"
    assert at.number_input(key="train_cnn-basic_learning_rate").value == 3e-4
    assert at.number_input(key="train_cnn-basic_limit").value == 10_000
    assert at.number_input(key="train_cnn-basic_drawings_weight").value == 5
    assert "15 of your 20 drawings to train on (each shown 5×), 5 held out for testing." in \
        all_text(at).replace("**", "")
    assert "active_model" not in at.session_state, "choosing a model to start from does not make it the Draw page's"
    at.number_input(key="train_cnn-basic_epochs").set_value(1)
    at.number_input(key="train_cnn-basic_limit").set_value(500).run()
    assert at.number_input(key="train_cnn-basic_epochs").value == 1, "the defaults are applied once, then kept"

    job = start(at, registry)
    assert (job.config.start_from, job.config.arch, job.config.drawings_weight) == (small_in_app, "cnn-basic", 5)
    assert "from small · 1 epoch" in all_text(at)
    poll_until(at, lambda: job.state.done)
    result = job.progress().result
    assert job.state == JobState.FINISHED and result.model_name == "small-tuned", job.progress().error
    assert metric(at, "Held-out drawings (5)") == f"{result.after['drawings_accuracy']:.1%}"
    assert metric(at, "MNIST test") == f"{result.after['test_accuracy']:.2%}"
    held = next(m for m in at.metric if m.label == "Held-out drawings (5)")
    assert held.proto.delta_description == f"from {result.before['drawings_accuracy']:.1%}", "before, beside after"
    assert ModelStore().read_meta("small-tuned").extra["fine_tuned_from"] == small_in_app


def test_a_run_from_a_stored_model_is_refused_before_it_is_queued(small_in_app, registry):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    at.radio(key="train_source").set_value("a stored model").run()
    at.selectbox(key="train_base_model").select(small_in_app).run()
    at.selectbox(key="train_cnn-basic_dataset").select("fashion-mnist").run()
    at.button(key="train_start").click().run()
    assert any("Your drawings are digits" in e for e in texts(at.error)), texts(at.error)
    at.number_input(key="train_cnn-basic_drawings_weight").set_value(0).run()
    at.button(key="train_start").click().run()
    assert any("small reads mnist, but these settings train on fashion-mnist" in e for e in texts(at.error))
    at.selectbox(key="train_cnn-basic_dataset").select("mnist")
    at.number_input(key="train_cnn-basic_drawings_weight").set_value(5).run()
    from core.drawings import DrawingStore

    drawings = DrawingStore()
    drawings.delete([i for i in drawings.arrays(ids=True)[2][:12]])
    at.button(key="train_start").click().run()
    assert any("Fine-tuning needs at least 10 kept drawings (there are 8)" in w for w in texts(at.warning))
    assert any("Fine-tuning needs at least 10 kept drawings (there are 8)" in e for e in texts(at.error))
    assert not at.exception and registry.jobs() == [], "nothing was queued"


# --- links to a run from a stored model -------------------------------------------------------------------


def fine_tune_widgets(at: AppTest, arch: str = "cnn-best") -> dict:
    """The training widgets' values that a fine-tune link sets, by TrainConfig field."""
    numbers = {name: at.number_input(key=f"train_{arch}_{name}").value
               for name in ("epochs", "learning_rate", "limit", "drawings_weight")}
    return {**numbers, "schedule": at.selectbox(key=f"train_{arch}_schedule").value,
            "augment": at.toggle(key=f"train_{arch}_augment").value,
            "held_out": at.slider(key=f"train_{arch}_drawings_held_out").value}


def test_a_link_to_a_missing_model_names_it_and_keeps_its_own_settings(app_store):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    at.query_params.update({"start_from": "my_model.v2", "epochs": "7", "lr": "0.001", "limit": "2000",
                            "drawings_weight": "2"})
    at.run()
    assert not at.exception
    assert at.radio(key="train_source").value == "a stored model"
    assert at.selectbox(key="train_base_model").value == "default", "another model is chosen in its place"
    assert at.selectbox(key="train_arch").value == "cnn-best"
    expected = {"epochs": 7, "learning_rate": 0.001, "limit": 2000, "drawings_weight": 2,       # the link's own
                "schedule": "constant", "augment": False, "held_out": 0.25}                    # fine-tune defaults
    assert fine_tune_widgets(at) == expected
    [warning] = [w for w in at.warning if "not among the stored digit models" in w.value]
    assert "This link starts from the model **my\\_model\\.v2**" in warning.value, "named, escaped as text"
    assert "it starts from **default** instead, with the link's other settings" in texts([warning])[0]
    assert not at.text, "no second element for the name"

    at.number_input(key="train_cnn-best_seed").set_value(3).run()     # the next rerun: both stay
    assert fine_tune_widgets(at) == expected
    assert any("my_model.v2" in w for w in texts(at.warning)), texts(at.warning)
    at.button(key="train_start")                                       # still there to press


def test_a_link_to_a_stored_model_gets_its_architecture_and_the_fine_tune_defaults(app_store):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    at.query_params.update({"start_from": "default", "epochs": "2"})   # no arch: default is a cnn-best
    at.run()
    assert not at.exception and not at.text, "nothing refused"
    assert [w for w in texts(at.warning) if "kept drawings" not in w] == [], "no drawings kept: only that warning"
    assert at.selectbox(key="train_arch").value == "cnn-best" and at.selectbox(key="train_arch").disabled
    assert fine_tune_widgets(at) == {"epochs": 2, "learning_rate": 3e-4, "limit": 10_000, "drawings_weight": 5,
                                     "schedule": "constant", "augment": False, "held_out": 0.25}
    assert at.text_input(key="train_cnn-best_name").proto.placeholder == "automatic: default-tuned"

    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    at.query_params.update({"start_from": "default", "arch": "cnn-basic", "drawings_weight": "999"})
    at.run()
    assert not at.exception
    message = "\n".join(t.value for t in at.text)
    assert "arch: default is a cnn-best network: a run that starts from it keeps its architecture" in message
    assert "drawings_weight: Weight of your drawings must be a whole number from 0 to 100 (got 999)" in message
    assert at.selectbox(key="train_arch").value == "cnn-best"
    assert at.number_input(key="train_cnn-best_drawings_weight").value == 5, "the fine-tune default instead"


def test_the_copied_link_of_a_fine_tune_opens_the_same_settings(app_store):
    from urllib.parse import parse_qsl, urlsplit

    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    at.radio(key="train_source").set_value("a stored model").run()
    at.toggle(key="train_cnn-best_augment").set_value(True)           # the preset's value, not the fine-tune's
    at.number_input(key="train_cnn-best_limit").set_value(0)
    at.number_input(key="train_cnn-best_epochs").set_value(4).run()
    shown = fine_tune_widgets(at)
    [code] = [c.value for c in at.code if "/train?" in c.value]
    query = dict(parse_qsl(urlsplit(code).query))
    assert query["augment"] == "1" and query["limit"] == "0", query

    again = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    again.query_params.update(query)
    again.run()
    assert not again.exception and not again.text, "nothing refused"
    assert fine_tune_widgets(again) == shown


def test_too_few_drawings_say_how_to_fine_tune_without_them(small_in_app):
    from core.drawings import DrawingStore

    drawings = DrawingStore()
    drawings.delete(list(drawings.arrays(ids=True)[2][:17]))
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    at.radio(key="train_source").set_value("a stored model").run()
    assert any("Fine-tuning needs at least 10 kept drawings (there are 3): keep more on the Draw page. "
               "Or set the weight to 0 to train on MNIST only." in w for w in texts(at.warning)), texts(at.warning)
    assert at.text_input(key="train_cnn-best_name").proto.placeholder == "automatic: default-tuned"
    at.button(key="train_start").click().run()
    assert not at.exception and any("there are 3" in e for e in texts(at.error)), texts(at.error)

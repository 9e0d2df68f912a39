"""AppTest for the Train, Mistakes and Dataset pages: real (tiny) training, real evaluation, real MNIST."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.store import ModelStore
from core.training import JobRegistry, JobState

ROOT = Path(__file__).resolve().parent.parent
TRAIN, MISTAKES, DATASET = (str(ROOT / "pages" / f"{name}.py") for name in ("train", "mistakes", "dataset"))
TIMEOUT = 180          # seconds per script run: two shared cores
JOB_TIMEOUT = 300      # seconds for a tiny run to train, test and save
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def all_text(at: AppTest) -> str:
    return "\n".join(texts(at.markdown) + texts(at.success) + texts(at.warning) + texts(at.info)
                     + texts(at.error) + texts(at.subheader) + texts(at.caption))


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return values[0]


@pytest.fixture
def app_store(tmp_path, monkeypatch):
    """Pages save into (and list from) a throwaway store; cached stores and models are forgotten."""
    root = tmp_path / "models"
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(root))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield ModelStore(root)
    st.cache_resource.clear()


@pytest.fixture
def registry(app_store, monkeypatch):
    """A private one-slot JobRegistry standing in for the process-wide one; its jobs are stopped afterwards."""
    from pages import common

    reg = JobRegistry(1, app_store)
    monkeypatch.setattr(common, "registry", lambda: reg)
    yield reg
    for job in reg.jobs():
        job.stop()
    for job in reg.jobs():
        job.wait(JOB_TIMEOUT)


def open_train(arch: str = "mlp-128-64", batch: int | None = None, **numbers) -> AppTest:
    """The Train page with `arch` chosen, the batch size and number inputs (epochs=, limit=, ...) set."""
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.selectbox(key="train_arch").select(arch).run()
    if batch is not None:
        at.select_slider(key=f"train_{arch}_batch").set_value(batch)
    for name, value in numbers.items():
        at.number_input(key=f"train_{arch}_{name}").set_value(value)
    return at.run()


def start(at: AppTest, registry: JobRegistry):
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


# --- Train -------------------------------------------------------------------------------------
def test_train_page_shows_every_preset_and_its_parameter_count(app_store):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    from core.models import PRESETS, parameter_count

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
    at = open_train("cnn-bn", limit=10, lr=0.0)  # cnn-bn has early stopping on
    at.slider(key="train_cnn-bn_val").set_value(0.0).run()
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
    poll_until(at, lambda: True)
    assert "Cancelled before it started" in all_text(at)
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


# --- Mistakes ----------------------------------------------------------------------------------
@pytest.fixture
def mistakes_page(small_trained_model, monkeypatch):
    store, name = small_trained_model
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(store.root))
    st.cache_resource.clear()
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT)
    at.session_state["active_model"] = name
    at.run()
    assert not at.exception
    yield at
    st.cache_resource.clear()


def captions(at: AppTest) -> list[str]:
    return [v for v in texts(at.markdown) if re.fullmatch(r"\*\*true \d → predicted \d \(\d+%\)\*\*", v)]


def shown_count(at: AppTest) -> int:
    match = re.search(r"\*\*([\d,]+) mistakes\*\* match", all_text(at))
    assert match, all_text(at)
    return int(match.group(1).replace(",", ""))


def test_mistakes_filters_pages_and_inspects(mistakes_page, small_trained_model):
    from pages import common

    at = mistakes_page
    store, name = small_trained_model
    ev = common.evaluation(name)
    total = int((ev.predictions != ev.labels).sum())
    assert metric(at, "Test accuracy") == f"{ev.accuracy:.2%}"
    assert metric(at, "Mistakes") == f"{total:,} of 10,000"
    assert shown_count(at) == total
    first_page = captions(at)
    assert len(first_page) == min(24, total)
    confidences = [int(re.search(r"\((\d+)%\)", c).group(1)) for c in first_page]
    assert confidences == sorted(confidences, reverse=True)  # most confident mistakes first

    at.selectbox(key="mistakes_true").select(3).run()
    threes = int(((ev.predictions != ev.labels) & (ev.labels == 3)).sum())
    assert shown_count(at) == threes and 0 < threes < total
    assert captions(at) and all(c.startswith("**true 3 →") for c in captions(at))

    at.selectbox(key="mistakes_true").select("Any").run()
    at.radio(key="mistakes_sort").set_value("Least confident first").run()
    least = [int(re.search(r"\((\d+)%\)", c).group(1)) for c in captions(at)]
    assert least == sorted(least) and least[0] <= confidences[-1]

    page_one = captions(at)
    at.number_input(key="mistakes_page").set_value(2).run()
    assert "page 2 of" in all_text(at)
    assert captions(at) != page_one

    inspected = ev.mistakes(most_confident_first=False)[24]  # first image of page 2
    at.button(key=f"inspect_{inspected.index}").click().run()
    assert f"### true {inspected.true} → predicted {inspected.predicted}" in all_text(at)
    assert not at.exception


def test_mistakes_reports_a_broken_model_without_a_traceback(app_store):
    app_store.root.mkdir(parents=True)
    (app_store.root / "broken.keras").write_bytes(b"not a keras file")
    (app_store.root / "broken.json").write_text(json.dumps({"arch": "cnn-basic", "created_unix": time.time()}))
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT)
    at.session_state["active_model"] = "broken"
    at.run()
    assert not at.exception
    assert any("broken" in e for e in texts(at.error) + texts(at.warning))


# --- Dataset -----------------------------------------------------------------------------------
def test_dataset_shows_examples_and_the_published_counts(app_store):
    at = AppTest.from_file(DATASET, default_timeout=TIMEOUT).run()
    assert not at.exception
    table = at.dataframe[0].value
    digits = table[table.digit != "all"]
    assert digits.train.tolist() == MNIST_TRAIN_COUNTS
    assert digits.test.tolist() == MNIST_TEST_COUNTS
    assert table[table.digit == "all"].train.item() == 60000
    assert at.get("image"), "the sample grid is shown"
    at.button(key="dataset_shuffle").click().run()
    assert at.session_state["dataset_seed"] == 1
    assert not at.exception

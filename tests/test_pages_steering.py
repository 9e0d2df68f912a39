"""Taking the wheel on the Train page (AppTest): the starter pauses, steps and sees the step's report, changes
the learning rate and resumes; someone else sees no controls and a stale page of theirs cannot act; the
presenter can; a bad rate gets a plain message; the finder fills the learning-rate field."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.fit.config import TrainConfig
from core.fit.progress import JobState

from page_support import TIMEOUT, all_text, page_path
from waiting import wait_until

pytestmark = pytest.mark.slow  # real (tiny) runs in a thread
TRAIN = page_path("train")
LONG = TrainConfig.for_preset("mlp-128-64", epochs=100, limit=2000, batch_size=32)


def open_run(job_id: str, name: str, present: bool = False) -> AppTest:
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    at.query_params["job"] = job_id
    at.query_params["name"] = name
    if present:
        at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    return at


def keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


@pytest.fixture
def running(page_registry):
    job = page_registry.submit(LONG, owner="ada")
    assert wait_until(lambda: job.progress().steps >= 2, timeout=180)
    yield job
    job.stop()


def test_the_starter_pauses_steps_changes_the_rate_and_resumes(running):
    job = running
    at = open_run(job.id, "ada")
    assert f"run_pause_{job.id}" in keys(at) and f"run_step_{job.id}" not in keys(at)
    at.button(key=f"run_pause_{job.id}").click().run()
    assert job.control_state().paused
    assert wait_until(lambda: job.progress().paused, timeout=30)
    at.run()
    assert "Paused: the weights are held" in all_text(at) and f"run_resume_{job.id}" in keys(at)
    steps = job.progress().steps

    at.button(key=f"run_step_{job.id}").click().run()
    assert wait_until(lambda: job.progress().last_step is not None, timeout=30)
    at.run()
    assert not at.exception and job.progress().steps == steps + 1
    text = all_text(at)
    assert "Step 1: one batch of 32 images" in text and "How far each layer's weights moved" in text
    table = at.dataframe[0].value
    assert list(table["layer"]) == [m.name for m in job.progress().last_step.layers] and (table["moved by"] > 0).all()
    report = job.progress().last_step
    figures = {m.label: m.value for m in at.metric}
    assert figures["Batch loss before"] == f"{report.loss_before:.3f}"
    assert figures["Batch loss after"] == f"{report.loss_after:.3f}"
    assert figures["Panel answers changed"] == str(len(report.changed))

    at.number_input(key=f"run_rate_{job.id}").set_value(0.02).run()
    assert job.control_state().learning_rate == pytest.approx(0.02)
    at.button(key=f"run_step_{job.id}").click().run()
    assert wait_until(lambda: job.progress().last_step.number == 2, timeout=30)
    at.run()
    assert "Step 2: one batch of 32 images" in all_text(at) and "learning rate 0.02" in all_text(at)
    assert any("learning rate 0.001 → 0.02" in m.value for m in at.markdown if "<svg" in m.value), \
        "the change is marked on the curves"

    at.button(key=f"run_resume_{job.id}").click().run()
    assert not job.control_state().paused and f"run_pause_{job.id}" in keys(at)
    assert wait_until(lambda: job.progress().steps > steps + 5, timeout=60)

    job.stop()
    assert job.wait(timeout=120)
    at.run()
    assert not at.exception, "the stopped run's curves draw, the change marked on them"
    assert "Stopped in epoch" in all_text(at)


def test_someone_else_cannot_pause_or_step_but_the_presenter_can(running):
    job = running
    other = open_run(job.id, "bob")
    assert not any(k.startswith("run_") for k in keys(other))
    assert "only they, or the presenter, can stop, pause or steer it" in all_text(other)

    stale = open_run(job.id, "ada")                 # drawn for ada, then the tab's name becomes bob's
    stale.session_state["visitor_name"] = "bob"
    stale.query_params["name"] = "bob"
    stale.button(key=f"run_pause_{job.id}").click().run()
    assert not job.control_state().paused and "can steer it" in all_text(stale)

    presenter = open_run(job.id, "bob", present=True)
    presenter.button(key=f"run_pause_{job.id}").click().run()
    assert job.control_state().paused
    presenter.button(key=f"run_resume_{job.id}").click().run()
    assert not job.control_state().paused


def test_a_bad_rate_gets_a_plain_message_and_changes_nothing(running):
    job = running
    at = open_run(job.id, "ada")
    at.number_input(key=f"run_rate_{job.id}").set_value(0.0).run()
    assert "A learning rate must be above 0" in all_text(at) and not at.exception
    assert job.control_state().rate_version == 0 and not job.progress().events


def test_the_finder_runs_through_the_queue_and_use_this_fills_the_rate(page_registry, app_store):
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    for key, value in {"arch": "linear", "limit": "1000", "batch-size": "32", "optimizer": "sgd"}.items():
        at.query_params[key] = value
    at.run()
    before = sorted(info.name for info in app_store.list())
    at.button(key="lr_finder_start").click().run()
    [job] = page_registry.jobs()
    assert job.config.finder_batches == 100 and job.config.arch == "linear"
    assert job.wait(timeout=240) and job.progress().state == JobState.FINISHED
    at.run()
    suggestion = job.progress().finder.suggestion
    assert suggestion is not None and "Suggested learning rate" in all_text(at)
    at.button(key=f"lr_finder_use_{job.id}").click().run()
    assert at.number_input(key="train_linear_learning_rate").value == pytest.approx(float(f"{suggestion:.3g}"))
    assert sorted(info.name for info in app_store.list()) == before, "nothing was saved"


def test_the_augmentation_toggle_shows_the_runs_clean_last_epochs(page_registry):
    """A run with clean last epochs turns its augmentation off by itself: the toggle follows, and the curves mark it."""
    config = LONG.replace(augment=True, clean_epochs=99, limit=20000)   # epoch 2 onwards on plain digits
    job = page_registry.submit(config, owner="ada")
    try:
        assert wait_until(lambda: job.progress().steps >= 2, timeout=180)
        switched_before = any(e.kind == "augment" for e in job.progress().events)
        at = open_run(job.id, "ada")
        if not switched_before:   # on a slow machine the first epoch may be over already
            assert at.toggle(key=f"run_augment_{job.id}").value is True
        assert wait_until(lambda: any(e.kind == "augment" for e in job.progress().events), timeout=180)
        at.run()
        assert not at.exception and at.toggle(key=f"run_augment_{job.id}").value is False
        assert any("augmentation off: the last 99 epochs on plain digits" in m.value for m in at.markdown
                   if "<svg" in m.value), "the switch is marked on the curves"
    finally:
        job.stop()

"""Watch it learn on the pages (AppTest): the live panel while a run trains and after a reload of the tab,
the drawing from Draw in it, replay after the run (Train) and of a saved model (Models), and the Draw
page answering with the run in progress."""
from __future__ import annotations

import re
import time

import pytest
from streamlit.testing.v1 import AppTest

import pages.parts.canvas
from core.fit.config import TrainConfig
from core.fit.progress import JobState
from core.store import ModelStore

from page_support import TIMEOUT, canvas_image, page_path, vertical_bar
from waiting import wait_until

LONG = TrainConfig.for_preset("mlp-128-64", epochs=20, batch_size=16, limit=20000)  # always stopped
PANEL_LABEL = "test images and what the network says they are"


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def panel_block(at: AppTest) -> str | None:
    return next((m for m in markdown(at) if PANEL_LABEL in m), None)


def answers(block: str) -> list[tuple[str, str]]:
    """(✓ or ✗, the class said) for every panel image, in order."""
    return re.findall(r"([✓✗])&nbsp;([^<]+)</div>", block)


def expected(snapshot, panel) -> list[tuple[str, str]]:
    return [("✓" if p == t else "✗", panel.class_names[p]) for p, t in zip(snapshot.predictions, panel.labels)]


def open_train(job_id: str, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(page_path("train"), default_timeout=TIMEOUT)
    at.query_params["job"] = job_id
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


@pytest.mark.slow
def test_the_live_panel_shows_the_run_and_survives_a_reload(page_registry):
    job = page_registry.submit(LONG)
    assert wait_until(lambda: job.progress().snapshot_count >= 3, timeout=180)
    at = open_train(job.id)
    block = panel_block(at)
    assert block is not None, markdown(at)
    assert re.search(r"\d+ of 26 right", block) and len(answers(block)) == 26
    assert any("What the network says now" in m for m in markdown(at))
    assert any("svg" in m and "Loss curve" in m for m in markdown(at)), "light curves while it trains"

    # A reload is a new session: found again from ?job=, and the drawing from Draw joins the panel.
    reloaded = open_train(job.id, state={"draw_last_canvas": canvas_image(vertical_bar)})
    assert panel_block(reloaded) is not None
    version, image = job.probe()
    assert version == 1 and image is not None and image.shape == (28, 28)
    deadline = time.monotonic() + 120
    while not any("The network says" in m for m in markdown(reloaded)):
        assert time.monotonic() < deadline, "the drawing's answer never came"
        time.sleep(0.3)
        reloaded.run()
    shot = job.progress().snapshot
    assert shot.probe_version == version
    reloaded.run()
    assert job.probe()[0] == version, "an unchanged drawing is not sent again"

    reloaded.toggle(key="live_panel_on").set_value(False).run()
    assert panel_block(reloaded) is None and not reloaded.exception
    job.stop()
    assert job.wait(120)


@pytest.mark.slow
def test_replay_shows_what_was_recorded_after_the_run_and_on_the_models_page(page_registry, temp_store):
    job = page_registry.submit(TrainConfig.for_preset("linear", epochs=2, limit=1500, name="replayed"))
    assert job.wait(300) and job.state == JobState.FINISHED, job.progress().error
    snapshots, panel = job.snapshots(), job.progress().panel

    at = open_train(job.id)
    slider = at.select_slider(key=f"train_replay_{job.id}")
    assert slider.options[0] == "before training" and slider.options[-1] == "end of epoch 2"
    assert answers(panel_block(at)) == expected(snapshots[-1], panel)
    slider.set_value(0).run()
    assert answers(panel_block(at)) == expected(snapshots[0], panel)
    middle = len(snapshots) // 2
    at.select_slider(key=f"train_replay_{job.id}").set_value(middle).run()
    assert answers(panel_block(at)) == expected(snapshots[middle], panel)

    saved = ModelStore(temp_store).load_replay("replayed")
    models = AppTest.from_file(page_path("models"), default_timeout=TIMEOUT).run()
    assert not models.exception
    assert models.selectbox(key="models_replay_model").options == ["replayed"], "only models with a replay"
    assert answers(panel_block(models)) == expected(saved.snapshots[-1], saved.panel)
    assert any("Confusion matrix, end of epoch 2" in m for m in markdown(models))
    models.select_slider(key="models_replay_replayed").set_value(0).run()
    assert answers(panel_block(models)) == expected(saved.snapshots[0], saved.panel)
    assert not any("Confusion matrix" in m for m in markdown(models)), "none before the first epoch ends"
    assert not models.exception


@pytest.mark.slow
def test_the_draw_page_answers_with_the_run_in_progress(page_registry, monkeypatch):
    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", lambda **kw: canvas_image(vertical_bar))
    job = page_registry.submit(LONG)
    assert wait_until(lambda: job.progress().snapshot_count >= 2, timeout=180)
    at = AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT).run()
    assert not at.exception
    at.toggle(key="draw_use_live_run").set_value(True).run()
    version = job.probe()[0]
    assert version >= 1, "the drawing was handed to the run"
    deadline = time.monotonic() + 120
    while not any("The run in progress says" in m for m in markdown(at)):
        assert time.monotonic() < deadline, "no answer from the run in progress"
        time.sleep(0.3)
        at.run()
    block = next(m for m in markdown(at) if "The run in progress says" in m)
    shot = job.progress().snapshot
    batch = re.search(r"as of batch ([\d,]+)", block)
    assert batch and int(batch.group(1).replace(",", "")) <= shot.step
    assert not any("Predicted digit" in m for m in markdown(at)), "the saved model's answer is not shown too"
    job.stop()
    assert job.wait(120)

"""Home page (AppTest, through app.py so its page links resolve): the model in use, links, training runs."""
from __future__ import annotations

import json
from types import SimpleNamespace

from streamlit.testing.v1 import AppTest

import app
import pages.parts.resources
from core.store import DEFAULT_MODEL, SHIPPED_DIR

from page_support import ROOT, TIMEOUT, add_copy_of_default, texts


def run_home(state: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at.run()


def test_home_shows_active_model_and_a_link_to_every_other_page(temp_store):
    at = run_home()

    assert not at.exception
    meta = json.loads((SHIPPED_DIR / f"{DEFAULT_MODEL}.json").read_text())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Name"] == DEFAULT_MODEL
    assert metrics["Architecture"] == meta["arch"]
    assert metrics["Test accuracy"] == f"{meta['test_metrics']['accuracy']:.2%}"
    links = [link.proto.label for link in at.get("page_link")]
    assert links == [f"**{page.title}**" for page in app.PAGES if not page.default]  # app.py's one table
    assert {"**Draw**", "**Train**", "**Mistakes**", "**Dataset**", "**Models**"} <= set(links)
    assert any("No training run in progress" in c.value for c in at.caption)


def test_home_active_model_follows_the_choice(temp_store):
    add_copy_of_default(temp_store, "spare", arch="custom-mlp", test_metrics={"accuracy": 0.5})
    at = run_home({"active_model": "spare"})

    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Name": "spare", "Architecture": "custom-mlp", "Test accuracy": "50.00%"}


def test_home_missing_active_model_is_a_warning(temp_store):
    at = run_home({"active_model": "ghost"})

    assert not at.exception
    assert any("ghost" in w and "Models page" in w for w in texts(at.warning))


class FakeJob:
    def __init__(self, **progress):
        self._progress = SimpleNamespace(**progress)

    def progress(self):
        return self._progress


def test_home_shows_training_in_progress(monkeypatch, temp_store):
    from core.fit.config import TrainConfig

    running, queued = SimpleNamespace(value="running"), SimpleNamespace(value="queued")  # JobState values
    jobs = [
        FakeJob(config=TrainConfig(arch="cnn-basic", epochs=5, name="lesson"), state=running, epoch=2, epochs=5,
                fraction_done=0.45, queue_position=None, eta=29.6),
        FakeJob(config=TrainConfig(arch="linear"), state=queued, epoch=0, epochs=5,
                fraction_done=0.0, queue_position=1, eta=None),
    ]
    monkeypatch.setattr(pages.parts.resources, "active_jobs", lambda: jobs)
    at = run_home()

    assert not at.exception
    bars = at.get("progress")
    assert len(bars) == 2
    assert bars[0].value == 45  # percent
    assert "lesson" in bars[0].proto.text and "epoch 3 of 5, about 30 s left" in bars[0].proto.text
    assert "number 1 in the queue" in bars[1].proto.text
    assert "Follow it on the Train page" in [link.proto.label for link in at.get("page_link")]

"""The class on the pages (AppTest): runs carry their visitor's name, only that visitor (or the presenter)
sees Stop, the queue shows each visitor their place, and the leaderboard lists, pins and clears runs."""
from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.fit.config import TrainConfig
from core.fit.progress import JobResult, JobState
from core.runs.queue import JobRegistry, QueuedJob
from core.store import ModelStore
from core.workshop import run_keys

from page_support import TIMEOUT, add_copy_of_default, all_text, page_path, texts, use_registry
from waiting import wait_until

TRAIN, BOARD = page_path("train"), page_path("leaderboard")
CONFIG = TrainConfig.for_preset("linear", epochs=1, limit=1000)


class HeldJob(QueuedJob):
    """Trains nothing: runs until stopped or `finish()`ed, then 'saves' the model named `model` if any."""

    def __init__(self, job_id, config, store, registry, model: str | None = None):
        super().__init__(job_id, config, store, registry)
        self.release, self.model = threading.Event(), model

    def _execute(self) -> None:
        while not (self.release.is_set() or self._stop.is_set()):
            time.sleep(0.01)
        self.recorder.epoch_ended(0, {"val_accuracy": 0.8, "val_loss": 0.5}, 0.001)
        result = JobResult(self.model, 0.81, 0.4, [], 2.0, 1) if self.model else None
        self.recorder.finished(result, stopped=self._stop.is_set())


@pytest.fixture
def held(temp_store, monkeypatch):
    """A one-slot registry of HeldJobs for the pages; `held.models` names the model each next job saves."""

    models: list[str | None] = []
    registry = JobRegistry(1, ModelStore(temp_store), max_per_owner=2,
                           job_factory=lambda *args: HeldJob(*args, model=models.pop(0) if models else None))
    registry.models = models
    use_registry(monkeypatch, registry)
    yield registry
    for job in registry.jobs():
        job.stop()
        job.wait(10)


def train_page(**query) -> AppTest:
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def stop_buttons(at: AppTest) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("train_stop_")]


# --- who may stop a run --------------------------------------------------------------------------------

def test_only_the_visitor_who_started_a_run_or_the_presenter_sees_its_stop(held):
    alice = train_page(name="alice")
    alice.selectbox(key="train_arch").select("linear").run()
    alice.button(key="train_start").click().run()
    (job,) = held.jobs()
    assert wait_until(lambda: job.state == JobState.RUNNING, timeout=10)
    alice.run()
    assert job.owner == "alice" and stop_buttons(alice) == [f"train_stop_{job.id}"]
    assert f"Run {job.id} · linear · alice" in all_text(alice)

    bob = train_page(name="bob", job=job.id)                      # bob opens alice's ?job= link
    assert f"Run {job.id}" in all_text(bob) and bob.get("progress")   # he sees it and its progress...
    assert stop_buttons(bob) == []                                # ...but not its Stop
    assert "Started by alice: only they, or the presenter, can stop, pause or steer it." in all_text(bob)

    anonymous = train_page(job=job.id)
    assert stop_buttons(anonymous) == []
    again = train_page(name="alice", job=job.id)                  # alice's reloaded tab: a new session
    assert stop_buttons(again) == [f"train_stop_{job.id}"]

    presenter = train_page(present="1", job=job.id)
    assert stop_buttons(presenter) == [f"train_stop_{job.id}"]
    presenter.button(key=f"train_stop_{job.id}").click().run()
    assert job.wait(10) and job.state == JobState.STOPPED


def test_a_stop_from_a_page_that_may_not_is_refused(held):
    """The Stop callback checks again: a stale page (its visitor renamed since) cannot stop the run."""
    alice = train_page(name="alice")
    alice.selectbox(key="train_arch").select("linear").run()
    alice.button(key="train_start").click().run()
    (job,) = held.jobs()
    assert wait_until(lambda: job.state == JobState.RUNNING, timeout=10)
    alice.run()
    button = alice.button(key=f"train_stop_{job.id}")
    alice.session_state["visitor_started_runs"] = set()           # as if another visitor had this page:
    alice.query_params["name"] = "mallory"                        # another name, and no key to the run
    alice.query_params.pop("run_key")
    button.click().run()
    time.sleep(0.1)
    assert job.state == JobState.RUNNING
    job.release.set()
    assert job.wait(10)


def test_a_run_started_without_a_name_is_stopped_by_its_own_tab(held):
    at = train_page()
    at.selectbox(key="train_arch").select("linear").run()
    at.button(key="train_start").click().run()
    (job,) = held.jobs()
    assert job.owner is None and stop_buttons(at) == [f"train_stop_{job.id}"]
    at.button(key=f"train_stop_{job.id}").click().run()
    assert job.wait(10) and job.state == JobState.STOPPED


def test_a_run_started_without_a_name_stays_its_starters_after_a_reload(held):
    """The run's key in the starter's address: their reloaded tab (a new session) keeps Stop; the run's id
    alone, as anyone else may open it, does not."""
    starter = train_page()
    starter.selectbox(key="train_arch").select("linear").run()
    starter.button(key="train_start").click().run()
    (job,) = held.jobs()
    key = starter.query_params["run_key"]
    assert starter.query_params["job"] == job.id and run_keys.opens(job.id, key)

    others = train_page(job=job.id)                               # someone else opens the run's id
    assert f"Run {job.id}" in all_text(others) and stop_buttons(others) == []
    assert "Started by another visitor: only they, or the presenter, can stop, pause or steer it." in all_text(others)
    assert "run_key" not in others.query_params

    reloaded = train_page(job=job.id, run_key=key)                # the starter's reloaded tab
    assert stop_buttons(reloaded) == [f"train_stop_{job.id}"] and "Started by" not in all_text(reloaded)
    assert "not used" not in all_text(reloaded)                   # the key is no setting the link refuses
    reloaded.query_params.clear()                                 # away to another page (no id, no key) and back
    reloaded.run()
    assert stop_buttons(reloaded) == [f"train_stop_{job.id}"]
    assert (reloaded.query_params["job"], reloaded.query_params["run_key"]) == (job.id, key)
    reloaded.button(key=f"train_stop_{job.id}").click().run()
    assert job.wait(10) and job.state == JobState.STOPPED


def test_a_wrong_key_in_the_address_is_only_not_the_owners(held):
    """Another run's key, a key cut short or altered, garbage, a huge or repeated parameter: no Stop, no error,
    and the key is taken out of the address."""
    job = held.submit(CONFIG)
    other = held.submit(CONFIG)
    assert wait_until(lambda: job.state == JobState.RUNNING, timeout=10)
    key = run_keys.key_for(job.id)
    wrong = {"another run's": run_keys.key_for(other.id), "cut short": key[:-1], "one more": key + "0",
             "altered": key[:-1] + ("0" if key[-1] != "0" else "1"), "upper case": key.upper(), "empty": "",
             "text": "<b>mine</b> [x](http://evil.example)", "huge": "k" * 100_000, "repeated": [key, key],
             "two values": [key, "x"]}
    for why, value in wrong.items():
        at = train_page(job=job.id, run_key=value)
        assert stop_buttons(at) == [], why
        assert "Started by another visitor" in all_text(at) and "not used" not in all_text(at), why
        assert "run_key" not in at.query_params and at.query_params["job"] == job.id, why
    assert train_page(job=job.id, run_key=key).query_params["run_key"] == key     # the right one is kept


# --- the queue -----------------------------------------------------------------------------------------

def test_each_visitor_sees_their_place_and_a_third_run_is_refused(held):
    first = held.submit(CONFIG, owner="ana")                      # holds the slot
    assert wait_until(lambda: first.state == JobState.RUNNING, timeout=10)
    held.submit(CONFIG, owner="ana")
    bob = train_page(name="bob")
    bob.selectbox(key="train_arch").select("linear").run()
    bob.button(key="train_start").click().run()
    mine = [j for j in held.jobs() if j.owner == "bob"][0]
    assert mine.progress().queue_position == 1                    # before ana's second: her turn was just now
    assert "Waiting: 1 run ahead of you (place 1 in the queue)" in all_text(bob)
    assert "ana" in all_text(bob)                                 # whose the other runs are

    bob.button(key="train_start").click().run()
    bob.button(key="train_start").click().run()                   # a third: refused
    assert any("bob already has 2 runs queued or training" in e for e in texts(bob.error))
    assert len([j for j in held.jobs() if j.owner == "bob"]) == 2
    assert not bob.exception


# --- the leaderboard -----------------------------------------------------------------------------------

def board_rows(at: AppTest) -> list[dict]:
    """The board's rows: an interactive table, or in presenter view a plain (large-type) one."""
    (table,) = list(at.dataframe) or list(at.table)
    frame = table.value
    return (frame.reset_index() if frame.index.name else frame).to_dict("records")


@pytest.fixture
def class_runs(held, temp_store):
    """Carol's saved model (accurate), dan's (less so), a saved model with no author, alice's finished run
    (its model saved too) and bob's run in training."""
    add_copy_of_default(temp_store, "carol-cnn", author="carol", arch="cnn-basic", created_unix=time.time() - 60,
                        test_metrics={"accuracy": 0.99},
                        history=[{"epoch": 1, "val_accuracy": 0.97}, {"epoch": 2, "val_accuracy": 0.98}])
    add_copy_of_default(temp_store, "dan-cnn", author="dan", arch="cnn-basic", created_unix=time.time() - 50,
                        test_metrics={"accuracy": 0.95}, history=[{"epoch": 1, "val_accuracy": 0.9}])
    add_copy_of_default(temp_store, "nobodys", arch="cnn-basic", test_metrics={"accuracy": 0.999})
    add_copy_of_default(temp_store, "alice-linear", author="alice", arch="linear", test_metrics={"accuracy": 0.81})
    held.models.append("alice-linear")
    alice = held.submit(CONFIG, owner="alice")
    assert wait_until(lambda: alice.state == JobState.RUNNING, timeout=10)
    alice.release.set()
    assert alice.wait(10) and alice.state == JobState.FINISHED
    bob = held.submit(CONFIG.replace(epochs=3), owner="bob")
    assert wait_until(lambda: bob.state == JobState.RUNNING, timeout=10)
    return {"alice": alice, "bob": bob}


def test_the_board_lists_every_run_with_its_author(class_runs, temp_store):
    at = AppTest.from_file(BOARD, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    rows = board_rows(at)
    assert [(r["Who"], r["Network"], r["Model"]) for r in rows] == [
        ("carol", "cnn-basic", "carol-cnn"), ("dan", "cnn-basic", "dan-cnn"), ("alice", "linear", "alice-linear"),
        ("bob", "linear", "")]                                    # most accurate first; the model without author left out
    assert rows[0]["Accuracy"] == pytest.approx(0.99) and rows[3]["State"] == "training"
    assert rows[2]["Time"] == "2 s" and "1 epoch" in rows[2]["Settings"]
    assert "nobodys" not in all_text(at)
    curves = at.multiselect(key="leaderboard_curves")
    assert len(curves.value) == 3 and at.get("vega_lite_chart")   # the curves of the first three, overlaid
    assert not [b for b in at.button if b.key and b.key.startswith("leaderboard_")]   # no presenter controls


def test_the_presenter_pins_the_best_per_network_and_clears_without_deleting(class_runs, temp_store):
    at = AppTest.from_file(BOARD, default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.run()
    at.button(key="leaderboard_pin").click().run()
    pinned = {(r["Who"], r["Network"]) for r in board_rows(at) if r["Pinned"]}
    assert pinned == {("carol", "cnn-basic"), ("alice", "linear")}   # the best of each network

    at.button(key="leaderboard_clear").click().run()
    assert [r["Who"] for r in board_rows(at)] == ["carol", "alice"]   # only the pinned stay on the board
    assert {"dan-cnn.keras", "dan-cnn.json", "carol-cnn.keras"} <= {p.name for p in temp_store.iterdir()}

    visitor = AppTest.from_file(BOARD, default_timeout=TIMEOUT).run()   # the board is the server's, for everyone
    assert [r["Who"] for r in board_rows(visitor)] == ["carol", "alice"]

    time.sleep(0.01)
    class_runs["bob"].release.set()                               # bob's run was started before the clear
    fresh = class_runs["bob"]._registry.submit(CONFIG, owner="erin")   # a new run after it appears
    at.run()
    assert [r["Who"] for r in board_rows(at)] == ["carol", "alice", "erin"]
    fresh.stop()

    at.button(key="leaderboard_unpin").click().run()
    at.button(key="leaderboard_restore").click().run()
    assert {r["Who"] for r in board_rows(at)} == {"carol", "dan", "alice", "bob", "erin"}
    assert not any(r["Pinned"] for r in board_rows(at))


def test_a_visitors_real_run_saves_a_model_with_their_name_on_the_board(page_registry, temp_store):
    """A real (tiny) run, started on the Train page by a named visitor, trained in a thread of this process."""
    at = train_page(name="zoe")
    at.selectbox(key="train_arch").select("mlp-128-64").run()
    for name, value in (("epochs", 1), ("limit", 300)):
        at.number_input(key=f"train_mlp-128-64_{name}").set_value(value)
    at.run()
    at.button(key="train_start").click().run()
    (job,) = page_registry.jobs()
    assert job.wait(300) and job.state == JobState.FINISHED, job.progress().error
    name = job.progress().result.model_name
    assert ModelStore(temp_store).read_meta(name).author == "zoe"
    board = AppTest.from_file(BOARD, default_timeout=TIMEOUT).run()
    assert [(r["Who"], r["Model"]) for r in board_rows(board)] == [("zoe", name)]


def test_with_a_presenter_key_presenting_alone_gives_no_powers(class_runs, monkeypatch):
    from page_support import ROOT

    monkeypatch.setenv("DIGIT_STUDIO_PRESENTER_KEY", "s3cret")
    board = AppTest.from_file(BOARD, default_timeout=TIMEOUT)
    board.query_params["present"] = "1"
    board.run()
    assert not [b for b in board.button if b.key and b.key.startswith("leaderboard_")]
    stop = train_page(present="1", job=class_runs["bob"].id)
    assert stop_buttons(stop) == []                               # a student adding ?present=1 stops nothing

    home = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    home.query_params["present"] = "1"
    home.run()
    home.text_input(key="home_presenter_key").input("guess").run()
    assert not home.session_state["presenter_key_ok"]
    home.text_input(key="home_presenter_key").input("s3cret").run()
    assert home.session_state["presenter_key_ok"] is True
    assert "home_presenter_key" not in [t.key for t in home.text_input]   # asked once

    board = AppTest.from_file(BOARD, default_timeout=TIMEOUT)
    board.query_params["present"] = "1"
    board.session_state["presenter_key_ok"] = True
    board.run()
    assert board.button(key="leaderboard_pin")

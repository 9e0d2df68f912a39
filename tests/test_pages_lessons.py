"""Settings in links and lessons on the pages (AppTest): the Train page opens with a link's settings and
names what it refused, lesson steps lock, hide and cap, bad lesson files are reported with their line,
presenter view and joining (name, address, QR code)."""
from __future__ import annotations

import io
import textwrap
import threading
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.fit.config import TrainConfig

from page_support import ROOT, TIMEOUT, all_text, links_in, markdown_sources, page_path, texts
from waiting import wait_until

TRAIN = page_path("train")


@pytest.fixture
def lessons_dir(tmp_path, monkeypatch):
    """A lessons folder for the pages ($DIGIT_STUDIO_LESSONS) with one good lesson and one broken file."""
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "tiny.toml").write_text(textwrap.dedent('''
        title = "Tiny lesson"
        description = "Two steps."
        max_epochs = 2
        max_limit = 1000

        [[steps]]
        title = "A line"
        page = "train"
        text = "Press **Train**."
        archs = ["linear"]
        hidden = ["options", "schedule", "augment"]

        [steps.fixed]
        arch = "linear"
        limit = 1000
        dataset = "mnist"

        [[steps]]
        title = "Any MLP"
        page = "train"
        text = "Now an MLP."
        archs = ["mlp-128-64", "custom-mlp"]
        '''))
    (folder / "broken.toml").write_text('title = "Broken"\n\n[[steps]\ntitle = "x"\n')
    monkeypatch.setenv("DIGIT_STUDIO_LESSONS", str(folder))
    return folder


def open_train(query: dict, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(TRAIN, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def through_router(page: str, query: dict, state: dict | None = None) -> AppTest:
    """`page` opened through app.py (so its page links resolve), with `query` in the URL."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at: AppTest, key: str):
    for kind in ("number_input", "selectbox", "slider", "toggle", "select_slider", "text_input"):
        for w in getattr(at, kind):
            if w.key == key:
                return w
    return None


def link_message(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


# --- settings in links ---------------------------------------------------------------------------------

def test_a_links_settings_land_in_the_widgets(temp_store):
    at = open_train({"arch": "mlp-128-64", "epochs": "2", "lr": "0.01", "limit": "5000", "dataset": "fashion-mnist",
                     "batch-size": "64", "augment": "on", "seed": "7"})
    assert at.selectbox(key="train_arch").value == "mlp-128-64"
    assert widget(at, "train_mlp-128-64_epochs").value == 2
    assert widget(at, "train_mlp-128-64_learning_rate").value == pytest.approx(0.01)
    assert widget(at, "train_mlp-128-64_limit").value == 5000
    assert widget(at, "train_mlp-128-64_dataset").value == "fashion-mnist"
    assert widget(at, "train_mlp-128-64_batch_size").value == 64
    assert widget(at, "train_mlp-128-64_augment").value is True
    assert widget(at, "train_mlp-128-64_seed").value == 7
    assert not at.warning and not link_message(at)


def test_custom_architecture_options_from_a_link(temp_store):
    at = open_train({"arch": "custom-mlp", "hidden": "256,256,256", "dropout": "0.2", "activation": "tanh"})
    assert widget(at, "train_custom-mlp_layers").value == 3
    assert widget(at, "train_custom-mlp_units").value == 256
    assert widget(at, "train_custom-mlp_dropout").value == pytest.approx(0.2)
    assert widget(at, "train_custom-mlp_activation").value == "tanh"


def test_refused_values_are_named_in_one_message_and_the_defaults_used(temp_store):
    at = open_train({"arch": "cnn-basic", "epochs": "500", "lr": "0.02", "batch-size": "100", "colour": "red"})
    messages = link_message(at)
    assert len(messages) == 1 and len(at.warning) == 1            # one message for everything refused
    message = messages[0]
    assert "epochs: Epochs must be a whole number from 1 to 100 (got 500)" in message
    assert "batch-size: The page offers batch sizes" in message   # valid for TrainConfig, not for the slider
    assert "colour: Unknown parameter" in message
    assert "lr" not in message.replace("colour", "")              # the good one is not named
    default = TrainConfig.for_preset("cnn-basic")
    assert widget(at, "train_cnn-basic_epochs").value == default.epochs
    assert widget(at, "train_cnn-basic_batch_size").value == default.batch_size
    assert widget(at, "train_cnn-basic_learning_rate").value == pytest.approx(0.02)


def test_markdown_and_html_in_a_link_are_shown_as_text(temp_store):
    crafted = {"optimizer": "[click me](http://evil.example)", "<img src=x onerror=alert(1)>": "1",
               "epochs": "**bold**<script>alert(1)</script>"}
    at = open_train(crafted)
    message = "\n".join(link_message(at))
    assert "[click me](http://evil.example)" in message and "<img src=x onerror=alert(1)>" in message
    for source in markdown_sources(at):                      # nothing from the URL reached markdown
        assert "evil.example" not in source and "onerror" not in source and "<script" not in source
        assert not [link for link in links_in(source) if "evil" in link]
    assert not at.get("html")


def test_a_link_is_applied_once_so_the_visitor_can_change_it(temp_store):
    at = open_train({"arch": "linear", "epochs": "3"})
    widget(at, "train_linear_epochs").set_value(5)
    at.run()
    at.run()                                                 # later reruns keep the visitor's value
    assert widget(at, "train_linear_epochs").value == 5
    assert not at.exception


def test_the_copy_link_gives_the_settings_on_screen(temp_store):
    at = open_train({"arch": "custom-cnn", "epochs": "4", "filters": "16", "name": "alice"})
    widget(at, "train_custom-cnn_learning_rate").set_value(0.005)
    at.run()
    links = [c.value for c in at.code if "/train?" in c.value]
    assert len(links) == 1
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(links[0]).query)
    assert query["arch"] == ["custom-cnn"] and query["epochs"] == ["4"] and query["lr"] == ["0.005"]
    assert query["filters"] == ["16"] and "name" not in query  # the visitor's name is not handed on

    again = open_train({k: v[0] for k, v in query.items()})  # whoever opens it sees the same settings
    for name in ("epochs", "learning_rate", "filters", "kernel", "dense", "batch_size"):
        key = f"train_custom-cnn_{name}"
        assert widget(again, key).value == widget(at, key).value, name
    assert not link_message(again)


def test_settings_the_page_refuses_make_no_link(temp_store):
    at = open_train({"arch": "linear"})
    widget(at, "train_linear_limit").set_value(10)
    at.run()
    assert not [c for c in at.code if "/train?" in c.value]
    assert "make no link" in all_text(at)


# --- lessons -------------------------------------------------------------------------------------------

def test_a_lesson_step_locks_hides_limits_and_caps(temp_store, lessons_dir, page_registry):
    at = through_router("train", {"lesson": "tiny", "step": "1"})
    assert "A line" in texts(at.subheader) and "Press **Train**." in [m.value for m in at.markdown]
    arch = at.selectbox(key="train_arch")
    assert arch.options == ["linear"] and arch.disabled           # the one architecture, locked
    limit = widget(at, "train_linear_limit")
    assert limit.value == 1000 and limit.disabled                 # fixed: shown, not changeable
    assert widget(at, "train_linear_dataset").disabled
    assert widget(at, "train_linear_schedule") is None            # hidden
    assert widget(at, "train_linear_augment") is None
    assert widget(at, "train_linear_epochs").value == 2           # the preset's 5, lowered to the cap
    assert not widget(at, "train_linear_epochs").disabled
    assert "at most 2 epochs and 1,000 training samples" in all_text(at)

    widget(at, "train_linear_epochs").set_value(3)
    at.run()
    at.button(key="train_start").click().run()
    assert "Epochs: this step allows at most 2 (you asked for 3)." in texts(at.error)
    assert page_registry.jobs() == []                             # Start refused it

    widget(at, "train_linear_epochs").set_value(1)
    at.run()
    at.button(key="train_start").click().run()
    assert not at.error, texts(at.error)
    (job,) = page_registry.jobs()
    assert (job.config.arch, job.config.limit, job.config.epochs) == ("linear", 1000, 1)
    assert not at.exception


def test_the_next_step_changes_the_choice_and_a_link_cannot_pass_the_caps(temp_store, lessons_dir):
    at = through_router("train", {"lesson": "tiny", "step": "2", "arch": "cnn-basic", "epochs": "9"})
    assert at.selectbox(key="train_arch").options == ["mlp-128-64", "custom-mlp"]
    assert not at.selectbox(key="train_arch").disabled
    message = "\n".join(link_message(at))
    assert "arch: This step offers mlp-128-64, custom-mlp (got 'cnn-basic')" in message
    assert "epochs: Epochs lowered from 9 to 2" in message
    assert widget(at, "train_mlp-128-64_epochs").value == 2
    assert widget(at, "train_mlp-128-64_limit").value == 1000     # lesson's max_limit: 'all' lowered to the cap
    labels = [link.proto.label for link in at.get("page_link")]
    assert "Previous step" in labels and not any(label.startswith("Next step") for label in labels)


def test_bad_lesson_files_are_reported_with_file_and_line_and_the_rest_works(temp_store, lessons_dir):
    at = through_router("lessons", {})
    assert "Tiny lesson" in texts(at.subheader)                   # the good one is offered
    assert any("problem" in w for w in texts(at.warning))
    (problem,) = [t.value for t in at.text if "broken.toml" in t.value]
    assert problem.startswith("lessons/broken.toml, line 3: Not valid TOML")
    assert not at.error

    train = through_router("train", {"lesson": "broken", "step": "1"})
    assert "This lesson link could not be opened." in texts(train.warning)
    assert any("broken.toml, line 3" in t.value for t in train.text)
    assert train.selectbox(key="train_arch").options[0] == "linear"   # Train still works, every network offered
    assert len(train.selectbox(key="train_arch").options) > 2


def test_a_lesson_link_with_a_path_or_a_bad_step_is_refused(temp_store, lessons_dir):
    at = through_router("train", {"lesson": "../etc/passwd", "step": "1"})
    assert "This lesson link could not be opened." in texts(at.warning)
    assert any("'../etc/passwd'" in t.value for t in at.text)
    at = through_router("train", {"lesson": "tiny", "step": "7"})
    assert any("has steps 1 to 2 (got 7)" in t.value for t in at.text)


def test_the_room_follows_the_presenter(temp_store, lessons_dir):
    room = through_router("train", {"lesson": "tiny", "step": "1", "name": "sam"})
    presenter = through_router("train", {"lesson": "tiny", "step": "2", "present": "1"})
    assert any("/train?lesson=tiny&step=2" in c.value for c in presenter.code)   # the room's link to this step
    assert presenter.get("image"), "the room's QR code"
    room.run()
    follow = [link for link in room.get("page_link") if "presenter is on step 2" in link.proto.label]
    assert follow, [link.proto.label for link in room.get("page_link")]


def test_lessons_page_lists_the_shipped_lessons(temp_store):
    at = through_router("lessons", {})
    assert {"From a line to a CNN", "Why preprocessing matters", "Overfitting"} <= set(texts(at.subheader))
    assert not at.warning and not at.error


# --- presenter view, names, joining -------------------------------------------------------------------

def presenter_css(at: AppTest) -> list[str]:
    from pages.parts.presenter import PRESENTER_MARK

    return [m.value for m in at.markdown if PRESENTER_MARK in m.value]


def first_run(query: dict, state: dict | None = None) -> AppTest:
    """app.py's first run (Home). AppTest runs the router only then: later runs run the page alone."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at.run()


def test_presenter_view_from_the_link_and_the_toggle(temp_store):
    home = first_run({"present": "1", "name": "ana"})
    (css,) = presenter_css(home)
    assert "ana" not in css                                       # fixed CSS, nothing from the visitor in it
    assert home.sidebar.toggle(key="sidebar_presenter").value is True
    assert home.query_params["present"] == "1" and home.query_params["name"] == "ana"

    home.toggle(key="home_presenter").set_value(False).run()
    assert "present" not in home.query_params and home.session_state["presenting"] is False
    assert home.query_params["name"] == "ana"                     # the name stays in the URL
    assert not home.exception

    plain_view = first_run({"name": "ana"}, {"presenting": False})
    assert not presenter_css(plain_view)
    assert plain_view.sidebar.toggle(key="sidebar_presenter").value is False
    again = first_run({"name": "ana"}, {"presenting": True})      # a page switch drops the query: the session keeps it
    assert presenter_css(again) and again.query_params["present"] == "1"


def test_a_name_is_chosen_once_and_a_bad_one_refused(temp_store):
    at = through_router("home", {})
    at.text_input(key="home_name").input("<b>me</b>").run()
    assert "That name was not taken." in texts(at.warning)
    assert any("'<b>me</b>'" in t.value for t in at.text)
    assert "name" not in at.query_params
    at.text_input(key="home_name").input("Zoë_2").run()
    assert at.session_state["visitor_name"] == "Zoë_2" and at.query_params["name"] == "Zoë_2"
    assert "You are **Zoë\\_2**" in [m.value for m in at.markdown]

    bad = through_router("home", {"name": "[x](http://evil)"})
    assert "The name in this link was not used." in texts(bad.warning)
    assert "visitor_name" not in bad.session_state
    assert not [s for s in markdown_sources(bad) if "evil" in s]


def qr_modules(png: bytes, scale: int, border: int) -> np.ndarray:
    """The QR code's modules (True = dark) read back from the PNG, one pixel from the middle of each."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    size = pixels.shape[0] // scale - 2 * border
    centres = (np.arange(size) + border) * scale + scale // 2
    return pixels[np.ix_(centres, centres)] < 128


def test_home_shows_the_join_address_and_its_qr_code(temp_store, monkeypatch):
    import segno

    from pages.parts import visitor

    url = "http://192.168.1.20:8501"
    monkeypatch.setenv("DIGIT_STUDIO_JOIN_URL", url)
    at = through_router("home", {"present": "1"})
    assert url in [c.value for c in at.code]
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert "Scan to open Digit Studio" in captions
    png = visitor.qr_png(url)
    assert png.startswith(b"\x89PNG")
    expected = np.array(segno.make_qr(url, error="m").matrix, dtype=bool)
    assert np.array_equal(qr_modules(png, scale=12, border=4), expected)   # the PNG holds this address's code


def test_the_join_address_falls_back_to_a_hint(temp_store, monkeypatch):
    monkeypatch.delenv("DIGIT_STUDIO_JOIN_URL", raising=False)
    at = through_router("home", {})
    assert "DIGIT_STUDIO_JOIN_URL" in all_text(at)               # AppTest has no browser address
    assert not at.exception and not at.error


def test_a_links_run_is_expected_by_the_runs_executor(temp_store, monkeypatch):
    """Opening Train from a link tells the registry which run is coming (its idle workers warm that kind), once."""
    from core.runs.queue import JobRegistry

    expected, release = [], threading.Event()

    def expect(self, config):   # held as a fresh server's pool holds it (its first worker importing TensorFlow)
        release.wait(30)
        expected.append(config)
        return True

    monkeypatch.setattr(JobRegistry, "expect", expect)
    at = open_train({"arch": "mlp-128-64", "epochs": "2", "limit": "5000", "seed": "7"})
    assert not at.exception and expected == [], "the page rendered without waiting for the executor"
    release.set()
    assert wait_until(lambda: len(expected) == 1, timeout=10)
    assert [(c.arch, c.epochs, c.limit, c.seed) for c in expected] == [("mlp-128-64", 2, 5000, 7)]
    at.run()
    time.sleep(0.2)
    assert len(expected) == 1, "a rerun of the same link expects nothing more"


def test_settings_chosen_by_hand_tell_the_executor_the_run_on_screen(temp_store, monkeypatch):
    """Plain Train (no link, no lesson): each time the visitor changes the run on screen, the registry is told of
    that run, so idle workers warm it before Start is pressed; a rerun that changes nothing tells it nothing."""
    from core.runs.queue import JobRegistry

    expected = []
    monkeypatch.setattr(JobRegistry, "expect", lambda self, config: expected.append(config) or True)
    at = open_train({})
    assert wait_until(lambda: len(expected) == 1, timeout=10)
    assert expected[0].arch == at.selectbox(key="train_arch").value   # the usual network, as shown
    at.selectbox(key="train_arch").set_value("mlp-128-64").run()
    assert wait_until(lambda: len(expected) == 2, timeout=10)
    at.number_input(key="train_mlp-128-64_epochs").set_value(2).run()
    at.number_input(key="train_mlp-128-64_limit").set_value(10000).run()
    assert wait_until(lambda: len(expected) == 4, timeout=10)
    assert (expected[-1].arch, expected[-1].epochs, expected[-1].limit) == ("mlp-128-64", 2, 10000)
    at.run()
    time.sleep(0.2)
    assert len(expected) == 4, "a rerun that changes nothing expects nothing more"


def test_a_lesson_steps_own_link_tells_the_executor_its_run(temp_store, lessons_dir, monkeypatch):
    """A step opened from its link (?lesson=...&step=..., no settings) expects the run the page shows: the step's
    fixed settings on the architecture it offers; the next step its own run; a rerun nothing more."""
    from core.runs.queue import JobRegistry

    expected = []
    monkeypatch.setattr(JobRegistry, "expect", lambda self, config: expected.append(config) or True)
    at = through_router("train", {"lesson": "tiny", "step": "1"})
    assert not at.exception
    assert wait_until(lambda: len(expected) == 1, timeout=10)
    assert [(c.arch, c.limit, c.epochs, c.dataset) for c in expected] == [("linear", 1000, 2, "mnist")]
    at.run()
    time.sleep(0.2)
    assert len(expected) == 1, "a rerun of the same step expects nothing more"
    at.query_params["step"] = "2"
    at.run()
    assert not at.exception
    assert wait_until(lambda: len(expected) == 2, timeout=10)
    assert expected[1].arch == "mlp-128-64" and expected[1].epochs <= 2 and expected[1].limit <= 1000


def test_the_run_a_step_expects_is_the_one_its_page_shows(temp_store, lessons_dir, monkeypatch):
    """Moving on to a step that offers two architectures, the usual one second: the page shows the step's first
    (the visitor's last one is not offered), and that is the run the executor is told of."""
    from core.runs.queue import JobRegistry

    (lessons_dir / "pair.toml").write_text(textwrap.dedent('''
        title = "Pair"
        description = "A line, then a choice of two convnets."

        [[steps]]
        title = "A line"
        page = "train"
        text = "Press **Train**."
        archs = ["linear"]

        [[steps]]
        title = "Two convnets"
        page = "train"
        text = "Pick one."
        archs = ["cnn-fast", "cnn-basic"]
        '''))
    expected = []
    monkeypatch.setattr(JobRegistry, "expect", lambda self, config: expected.append(config) or True)
    at = through_router("train", {"lesson": "pair", "step": "1"})
    assert wait_until(lambda: len(expected) == 1, timeout=10) and expected[0].arch == "linear"
    at.query_params["step"] = "2"
    at.run()
    assert not at.exception
    assert wait_until(lambda: len(expected) == 2, timeout=10)
    assert at.selectbox(key="train_arch").value == "cnn-fast"
    assert expected[1].arch == "cnn-fast", "the executor warms what the page shows"

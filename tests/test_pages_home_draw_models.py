"""AppTest for the Home, Draw and Models pages.

The canvas is a custom component AppTest cannot drive, so pages.canvas.drawing_canvas
is replaced with a function returning a known drawing. Models tests use a
throwaway store ($DIGIT_STUDIO_MODELS) holding copies of the shipped default.
"""
from __future__ import annotations

import io
import json
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
import streamlit as st
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

import pages.canvas
import pages.common
from core.store import DEFAULT_MODEL, SHIPPED_DIR, StoreError

TIMEOUT = 120  # two shared cores; the first run imports TensorFlow and loads the model
DRAW, UPLOAD = ":material/draw: Draw", ":material/upload: Upload an image"


def canvas_image(draw=None) -> np.ndarray:
    """A 280x280 RGBA canvas as st_canvas returns it: opaque black, with `draw(ImageDraw)` in white."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    if draw:
        draw(ImageDraw.Draw(image))
    return np.asarray(image)


def vertical_bar(pen: ImageDraw.ImageDraw) -> None:
    pen.line([(140, 50), (140, 230)], fill=(255, 255, 255, 255), width=20)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def predicted_digit(at: AppTest) -> int | None:
    """The digit in the page's 'Predicted digit' block, or None when there is none."""
    for block in at.markdown:
        if "Predicted digit" in block.value:
            match = re.search(r">(\d)</div>", block.value)
            assert match, block.value
            return int(match.group(1))
    return None


class FakeModel:
    """Stands in for a Keras model: returns fixed probabilities (or fails) for any input."""

    def __init__(self, probabilities=None, error: Exception | None = None):
        self.probabilities = probabilities
        self.error = error
        self.calls = 0

    def __call__(self, x, training=False):
        self.calls += 1
        assert x.shape == (1, 28, 28, 1) and not training
        if self.error:
            raise self.error
        return np.asarray([self.probabilities], dtype=np.float32)


@pytest.fixture(autouse=True)
def fresh_caches():
    """st.cache_* outlive an AppTest run: each test starts with nothing cached."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def shipped_default():
    if not (SHIPPED_DIR / f"{DEFAULT_MODEL}.keras").exists():
        pytest.fail("models/default.keras is missing: the app ships a default model")


@pytest.fixture
def temp_store(tmp_path, monkeypatch, shipped_default):
    """An empty model store in tmp_path, set before any page creates its cached store."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(root))
    return root


def add_copy_of_default(root, name: str, **meta_changes) -> None:
    """A second model in the store: the shipped default under another name."""
    shutil.copy(SHIPPED_DIR / f"{DEFAULT_MODEL}.keras", root / f"{name}.keras")
    meta = json.loads((SHIPPED_DIR / f"{DEFAULT_MODEL}.json").read_text())
    (root / f"{name}.json").write_text(json.dumps({**meta, "name": name, **meta_changes}))


def run_draw(monkeypatch, image) -> AppTest:
    monkeypatch.setattr(pages.canvas, "drawing_canvas", lambda **kw: image)
    at = AppTest.from_file("../pages/draw.py", default_timeout=TIMEOUT)
    return at.run()


# --- Draw -------------------------------------------------------------------------------------------


def test_draw_vertical_bar_is_read_as_one(monkeypatch, temp_store):
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert not at.error
    assert predicted_digit(at) == 1
    block = next(m.value for m in at.markdown if "Predicted digit" in m.value)
    confidence = float(re.search(r"([\d.]+)% confident", block).group(1))
    assert 60 <= confidence <= 100, "a clean vertical bar should be read with confidence"
    assert not at.warning
    captions = [c for image in at.image for c in image.captions]
    assert "What the network sees: 28 x 28 pixels" in captions
    assert not any(i.value for i in at.info if "Draw a digit" in i.value)
    bars = next(m.value for m in at.markdown if "probability of each digit" in m.value)
    columns = bars.split("title='")[1:]
    assert [c[0] for c in columns] == list("0123456789"), "one bar per digit"
    assert [c[0] for c in columns if "#e4572e" in c] == ["1"], "only the predicted digit's bar is highlighted"


def test_draw_blank_canvas_shows_hint_not_prediction(monkeypatch, temp_store):
    at = run_draw(monkeypatch, None)  # before the first stroke st_canvas returns no image

    assert not at.exception
    assert any(i.value.startswith("Draw a digit") for i in at.info)
    assert predicted_digit(at) is None
    assert not at.image


def test_draw_cleared_canvas_shows_hint(monkeypatch, temp_store):
    at = run_draw(monkeypatch, canvas_image())  # after Clear/reset: an all-black image

    assert not at.exception
    assert any(i.value.startswith("Draw a digit") for i in at.info)
    assert predicted_digit(at) is None


def test_draw_clear_button_mounts_a_new_canvas(monkeypatch, temp_store):
    keys = []

    def fake_canvas(*, stroke_width, key):
        keys.append(key)
        return canvas_image(vertical_bar)

    monkeypatch.setattr(pages.canvas, "drawing_canvas", fake_canvas)
    at = AppTest.from_file("../pages/draw.py", default_timeout=TIMEOUT).run()
    at.button(key="draw_clear").click().run()

    assert not at.exception
    assert keys[0] != keys[-1], "Clear must change the canvas key so a fresh, empty canvas is mounted"


def test_draw_pen_width_reaches_canvas(monkeypatch, temp_store):
    widths = []

    def fake_canvas(*, stroke_width, key):
        widths.append(stroke_width)
        return None

    monkeypatch.setattr(pages.canvas, "drawing_canvas", fake_canvas)
    at = AppTest.from_file("../pages/draw.py", default_timeout=TIMEOUT).run()
    at.slider(key="stroke_width").set_value(30).run()

    assert not at.exception
    assert widths[-1] == 30


def test_draw_low_confidence_is_flagged(monkeypatch, temp_store):
    flat = FakeModel(probabilities=[0.1] * 10)
    monkeypatch.setattr(pages.common, "load_model", lambda name: flat)
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert flat.calls == 1
    assert predicted_digit(at) is not None, "a scribble still gets a prediction"
    assert any("not sure" in w.value.lower() for w in at.warning)


def test_draw_model_that_fails_to_load_is_an_error_not_a_crash(monkeypatch, temp_store):
    def broken(name):
        raise StoreError(f"Model {name!r} (x.keras) could not be loaded: bad zip.")

    monkeypatch.setattr(pages.common, "load_model", broken)
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert any("could not be loaded" in e.value and "Pick another model" in e.value for e in at.error)
    assert predicted_digit(at) is None
    assert at.selectbox(key="model_picker").value == DEFAULT_MODEL  # the picker is still there


def test_draw_model_that_fails_to_predict_is_an_error(monkeypatch, temp_store):
    monkeypatch.setattr(pages.common, "load_model", lambda name: FakeModel(error=ValueError("bad input shape")))
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert any("could not make a prediction" in e.value for e in at.error)


def test_draw_preprocessing_steps_on_request(monkeypatch, temp_store):
    at = run_draw(monkeypatch, canvas_image(vertical_bar))
    assert len(at.image) == 1
    at.toggle(key="draw_show_steps").set_value(True).run()

    assert not at.exception
    captions = [c for image in at.image for c in image.captions]
    for caption in ("1. Ink found", "2. Cropped to the ink", "3. Scaled to fit 20 x 20", "4. Centred in 28 x 28"):
        assert caption in captions


def test_draw_upload_non_image_is_an_error(monkeypatch, temp_store):
    at = run_draw(monkeypatch, None)
    at.segmented_control(key="draw_source").set_value(UPLOAD).run()
    at.file_uploader(key="draw_upload").upload("digit.png", b"this is not a picture", "image/png").run()

    assert not at.exception
    assert any("not an image" in e.value for e in at.error)
    assert predicted_digit(at) is None


def test_draw_upload_png_is_predicted(monkeypatch, temp_store):
    at = run_draw(monkeypatch, None)
    at.segmented_control(key="draw_source").set_value(UPLOAD).run()
    at.file_uploader(key="draw_upload").upload("one.png", png_bytes(canvas_image(vertical_bar)), "image/png").run()

    assert not at.exception
    assert not at.error
    assert predicted_digit(at) == 1


def test_draw_upload_too_large_is_an_error(monkeypatch, temp_store):
    at = run_draw(monkeypatch, None)
    at.segmented_control(key="draw_source").set_value(UPLOAD).run()
    big = png_bytes(canvas_image(vertical_bar)) + b"\0" * (5 * 2**20)
    at.file_uploader(key="draw_upload").upload("big.png", big, "image/png").run()

    assert not at.exception
    assert any("limit is 5.0 MB" in e.value for e in at.error)


# --- Models -----------------------------------------------------------------------------------------


def run_models() -> AppTest:
    return AppTest.from_file("../pages/models.py", default_timeout=TIMEOUT).run()


def button_keys(at: AppTest) -> list[str]:
    return [b.key for b in at.button]


def test_models_lists_default_without_delete(temp_store):
    at = run_models()

    assert not at.exception
    table = at.dataframe[0].value
    assert DEFAULT_MODEL in " ".join(table["model"])
    assert "delete_default" not in button_keys(at)
    assert [d.key for d in at.get("download_button")] == ["download_default"]


def test_models_delete_needs_confirmation(temp_store):
    add_copy_of_default(temp_store, "spare")
    at = run_models()
    assert "delete_spare" in button_keys(at)

    at.button(key="delete_spare").click().run()
    assert not at.exception
    assert (temp_store / "spare.keras").exists(), "one click must not delete"
    assert any("Delete **spare**" in w.value for w in at.warning)

    at.button(key="cancel_delete_spare").click().run()
    assert (temp_store / "spare.keras").exists()
    assert "delete_spare" in button_keys(at)

    at.button(key="delete_spare").click().run()
    at.button(key="confirm_delete_spare").click().run()
    assert not at.exception
    assert not (temp_store / "spare.keras").exists()
    assert not (temp_store / "spare.json").exists()
    assert any("Deleted **spare**" in s.value for s in at.success)
    assert "spare" not in " ".join(at.dataframe[0].value["model"])


def test_models_use_for_drawing_sets_active_model(temp_store):
    add_copy_of_default(temp_store, "spare")
    at = run_models()
    at.button(key="use_spare").click().run()

    assert not at.exception
    assert at.session_state["active_model"] == "spare"
    assert at.button(key="use_spare").disabled


def test_models_broken_entries_are_listed_with_their_error(temp_store):
    add_copy_of_default(temp_store, "corrupt")
    (temp_store / "corrupt.keras").write_bytes(b"not a zip file at all")
    (temp_store / "unreadable.json").write_text("{ this is not json")
    (temp_store / "unreadable.keras").write_bytes(b"")

    at = run_models()

    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("corrupt" in e and "not a valid .keras file" in e for e in errors), errors
    assert any("unreadable" in e and "is unreadable" in e for e in errors), errors
    assert "use_corrupt" not in button_keys(at), "a model that cannot load is not offered for drawing"
    assert "use_default" in button_keys(at)
    assert "delete_corrupt" in button_keys(at) and "delete_unreadable" in button_keys(at)


def test_models_learning_curves_drawn_from_history(temp_store):
    add_copy_of_default(temp_store, "curvy", history=[
        {"epoch": 1, "val_accuracy": 0.9}, {"epoch": 2, "val_accuracy": 0.95}])
    at = run_models()

    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1, "one chart: the learning curves"
    chart = charts[0].proto
    assert "validation accuracy" in chart.spec
    data = pa.ipc.open_stream(chart.datasets[0].data.data).read_all().to_pandas()
    curvy = data[data["model"] == "curvy"]
    assert curvy["epoch"].tolist() == [1, 2]
    assert curvy["validation accuracy"].tolist() == pytest.approx([0.9, 0.95])


# --- Home -------------------------------------------------------------------------------------------


def run_home() -> AppTest:
    """Home is the app's default page; run through app.py so its page links resolve."""
    return AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()


def test_home_shows_active_model_and_links(temp_store):
    at = run_home()

    assert not at.exception
    meta = json.loads((SHIPPED_DIR / f"{DEFAULT_MODEL}.json").read_text())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Name"] == DEFAULT_MODEL
    assert metrics["Architecture"] == meta["arch"]
    assert metrics["Test accuracy"] == f"{meta['test_metrics']['accuracy']:.2%}"
    links = [link.proto.label for link in at.get("page_link")]
    for title in ("Draw", "Train", "Mistakes", "Dataset", "Models"):
        assert f"**{title}**" in links
    assert any("No training run in progress" in c.value for c in at.caption)


def test_home_active_model_follows_the_choice(temp_store):
    add_copy_of_default(temp_store, "spare", arch="custom-mlp", test_metrics={"accuracy": 0.5})
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["active_model"] = "spare"
    at.run()

    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Name": "spare", "Architecture": "custom-mlp", "Test accuracy": "50.00%"}


def test_home_missing_active_model_is_a_warning(temp_store):
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.session_state["active_model"] = "ghost"
    at.run()

    assert not at.exception
    assert any("ghost" in w.value and "Models page" in w.value for w in at.warning)


class FakeJob:
    def __init__(self, **progress):
        self._progress = SimpleNamespace(**progress)

    def progress(self):
        return self._progress


def test_home_shows_training_in_progress(monkeypatch, temp_store):
    from core.config import TrainConfig
    from core.training import JobState

    config = TrainConfig(arch="cnn-basic", epochs=5, name="lesson")
    jobs = [
        FakeJob(config=config, state=JobState.RUNNING, epoch=2, epochs=5, fraction_done=0.45,
                queue_position=None, eta=30.0),
        FakeJob(config=TrainConfig(arch="linear"), state=JobState.QUEUED, epoch=0, epochs=5,
                fraction_done=0.0, queue_position=1, eta=None),
    ]
    monkeypatch.setattr(pages.common, "registry", lambda: SimpleNamespace(active=lambda: jobs))
    at = run_home()

    assert not at.exception
    bars = at.get("progress")
    assert len(bars) == 2
    assert bars[0].value == 45  # percent
    assert "lesson" in bars[0].proto.text and "epoch 3 of 5" in bars[0].proto.text
    assert "number 1 in the queue" in bars[1].proto.text
    assert "Follow it on the Train page" in [link.proto.label for link in at.get("page_link")]

"""Draw page (AppTest): what the user sees for a drawing, a blank canvas, an upload, a failing model.

AppTest cannot drive the canvas (a custom component), so pages.parts.canvas.drawing_canvas is
replaced with a function returning a known drawing. Refused inputs are in test_pages_bad_inputs.py.
"""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

import pages.parts.canvas
import pages.parts.charts
import pages.parts.resources
from core.store import DEFAULT_MODEL, StoreError

from page_support import (
    TIMEOUT,
    UPLOAD,
    FakeModel,
    canvas_image,
    page_path,
    png_bytes,
    predicted_digit,
    texts,
    vertical_bar,
)


def run_draw(monkeypatch, image) -> AppTest:
    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", lambda **kw: image)
    return AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT).run()


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
    assert [c[0] for c in columns if pages.parts.charts.HIGHLIGHT in c] == ["1"], "only the predicted digit's bar is highlighted"


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

    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", fake_canvas)
    at = AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT).run()
    at.button(key="draw_clear").click().run()

    assert not at.exception
    assert keys[0] != keys[-1], "Clear must change the canvas key so a fresh, empty canvas is mounted"


def test_draw_pen_width_reaches_canvas(monkeypatch, temp_store):
    widths = []

    def fake_canvas(*, stroke_width, key):
        widths.append(stroke_width)
        return None

    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", fake_canvas)
    at = AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT).run()
    at.slider(key="stroke_width").set_value(30).run()

    assert not at.exception
    assert widths[-1] == 30


def test_draw_predicts_once_per_run_and_flags_low_confidence(monkeypatch, temp_store):
    flat = FakeModel(probabilities=[0.1] * 10)
    monkeypatch.setattr(pages.parts.resources, "load_model", lambda name: flat)
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert flat.calls == 1, "one prediction per run"
    assert predicted_digit(at) is not None, "a scribble still gets a prediction"
    assert any("not sure" in w.value.lower() for w in at.warning)

    at.toggle(key="draw_show_steps").set_value(True).run()  # a rerun of the drawing fragment
    at.slider(key="stroke_width").set_value(24).run()
    assert flat.calls == 3, "each rerun predicts again, and only once"


def test_draw_model_that_fails_to_load_is_an_error_not_a_crash(monkeypatch, temp_store):
    def broken(name):
        raise StoreError(f"Model {name!r} (x.keras) could not be loaded: bad zip.")

    monkeypatch.setattr(pages.parts.resources, "load_model", broken)
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert any("could not be loaded: bad zip." in e and "Pick another model" in e for e in texts(at.error))
    assert predicted_digit(at) is None
    assert at.selectbox(key="model_picker").value == DEFAULT_MODEL  # the picker is still there


def test_draw_model_that_fails_to_predict_is_an_error(monkeypatch, temp_store):
    monkeypatch.setattr(pages.parts.resources, "load_model", lambda name: FakeModel(error=ValueError("bad input shape")))
    at = run_draw(monkeypatch, canvas_image(vertical_bar))

    assert not at.exception
    assert any("could not make a prediction (ValueError:" in e and "bad input shape" in e for e in texts(at.error))


def test_draw_preprocessing_steps_on_request(monkeypatch, temp_store):
    at = run_draw(monkeypatch, canvas_image(vertical_bar))
    assert [c for image in at.image for c in image.captions] == ["What the network sees: 28 x 28 pixels"]
    at.toggle(key="draw_show_steps").set_value(True).run()

    assert not at.exception
    captions = [c for image in at.image for c in image.captions]
    for caption in ("1. Ink found", "2. Cropped to the ink", "3. Scaled to fit 20 x 20", "4. Centred in 28 x 28"):
        assert caption in captions


def test_draw_upload_png_is_predicted(monkeypatch, temp_store):
    at = run_draw(monkeypatch, None)
    at.segmented_control(key="draw_source").set_value(UPLOAD).run()
    assert any("Upload a picture of one digit" in i for i in texts(at.info))
    at.file_uploader(key="draw_upload").upload("one.png", png_bytes(canvas_image(vertical_bar)), "image/png").run()

    assert not at.exception
    assert not at.error
    assert predicted_digit(at) == 1


# --- keeping a drawing (issue 12) -------------------------------------------------------------------

def keep_choice(at: AppTest):
    """The 'What digit is it?' control under the answer (its key changes with each new drawing)."""
    found = [c for c in at.get("button_group") if str(c.key).startswith("keep_label_")]
    return at.segmented_control(key=found[0].key) if found else None


def test_draw_keep_with_a_corrected_label_then_relabel_then_clear(monkeypatch, temp_store):
    import io

    import numpy as np
    from PIL import Image

    from core.data.preprocess import canvas_to_mnist
    from core.drawings import DrawingStore

    drawing = canvas_image(vertical_bar)
    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", lambda **kw: drawing)
    at = AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT)
    at.session_state["visitor_name"] = "ada"
    at.run()
    assert predicted_digit(at) == 1
    assert keep_choice(at).value == 1, "the network's answer is pre-filled"
    assert at.button(key="keep_drawing").label == "Keep as a 1"

    keep_choice(at).set_value(7).run()
    assert "The network said 1; you say it is a 7." in texts(at.caption)
    at.button(key="keep_drawing").click().run()

    assert not at.exception and not at.error
    assert any(s.startswith("Kept as a 7 (drawing #1). 1 drawing kept so far") for s in texts(at.success))
    assert not [b for b in at.button if b.key == "keep_drawing"], "the same drawing cannot be kept twice"
    store = DrawingStore()
    (kept,) = store.list(canvas=True)
    assert (kept.label, kept.predicted, kept.model, kept.author) == (7, 1, DEFAULT_MODEL, "ada")
    assert 0.6 <= kept.confidence <= 1
    assert np.array_equal(kept.network_input(), np.round(canvas_to_mnist(drawing).image * 255) / 255)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(kept.canvas_png))), drawing), "the canvas as drawn"

    keep_choice(at).set_value(4).run()
    at.button(key="keep_relabel").click().run()
    assert store.get(kept.id).label == 4 and store.count() == 1
    assert any(s.startswith("Kept as a 4 (drawing #1)") for s in texts(at.success))

    assert "canvas_generation" not in at.session_state
    at.button(key="keep_clear").click().run()
    assert at.session_state["canvas_generation"] == 1, "Clear mounts a new, empty canvas"


@pytest.mark.parametrize("picture", ["blank", "dot"])
def test_draw_keep_is_not_offered_without_a_reading(monkeypatch, temp_store, picture):
    from page_support import pen_dot

    at = run_draw(monkeypatch, canvas_image() if picture == "blank" else canvas_image(pen_dot(6)))
    assert not at.exception
    assert keep_choice(at) is None and not [b for b in at.button if b.key == "keep_drawing"]


def test_draw_keep_is_not_offered_for_an_upload_error(monkeypatch, temp_store):
    at = run_draw(monkeypatch, None)
    at.segmented_control(key="draw_source").set_value(UPLOAD).run()
    at.file_uploader(key="draw_upload").upload("x.png", b"not a picture", "image/png").run()
    assert at.error and not at.exception
    assert keep_choice(at) is None


def test_draw_a_damaged_drawings_database_is_a_message_and_drawing_goes_on(monkeypatch, temp_store):
    from core.drawings import FILE_NAME

    database = temp_store / FILE_NAME
    database.write_bytes(b"not a database, just bytes " * 100)
    at = run_draw(monkeypatch, canvas_image(vertical_bar))
    at.button(key="keep_drawing").click().run()

    assert not at.exception
    assert predicted_digit(at) == 1, "the rest of the page still works"
    assert any("is damaged or is not a drawings database" in e for e in texts(at.error))
    at.slider(key="stroke_width").set_value(24).run()
    assert predicted_digit(at) == 1

    at.button(key="keep_move_aside").click().run()
    assert any(s.startswith("The damaged file was moved to") for s in texts(at.success))
    assert len(list(temp_store.glob(f"{FILE_NAME}.damaged-*"))) == 1
    at.button(key="keep_drawing").click().run()
    assert any(s.startswith("Kept as a 1 (drawing #1). 1 drawing kept so far") for s in texts(at.success))
    assert not at.error and not at.exception


# --- phones and touch (issue 11) -------------------------------------------------------------------

@pytest.mark.parametrize("agent, phone", [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", True),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Mobile Safari/537.36", True),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/130.0.0.0 Safari/537.36", False),  # a tablet: the desktop layout fits
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", False),
    ("", False),
])
def test_phones_are_told_by_their_user_agent(agent, phone):
    assert pages.parts.canvas.looks_like_phone(agent) is phone


def test_draw_on_a_phone_gets_a_larger_canvas_and_an_undo_button_that_needs_no_hover(monkeypatch, temp_store):
    """A stand-in for the component: it holds two strokes until the page resets it (initial_drawing),
    and, like the real one, reports the old drawing once more in the run right after the reset."""
    first, second = {"type": "path", "path": [["M", 140, 50], ["L", 140, 230]]}, {"type": "path", "path": [["M", 60, 60]]}
    calls = []

    def fake_canvas(*, stroke_width, key):
        reset = pages.parts.canvas.reset_drawing(key)
        if reset is None:
            reported = [first, second]
        elif calls[-1]["reset"] != reset:  # reset in this run: the component has not reloaded yet
            reported = calls[-1]["reported"]
        else:
            reported = reset["objects"]
        calls.append({"side": pages.parts.canvas.canvas_side(), "reset": reset, "reported": reported})
        pages.parts.canvas.remember_drawing(key, {"objects": reported})
        return canvas_image(vertical_bar) if reported else canvas_image()

    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", fake_canvas)
    at = AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT)
    at.query_params["phone"] = "1"
    at.run()
    assert not at.exception
    assert calls[-1]["side"] == 320, "a phone gets the 320 px canvas"
    assert not [c for c in texts(at.caption) if "hover" in c], "no advice that needs a mouse"
    assert predicted_digit(at) == 1
    undo = at.button(key="draw_undo")
    assert not undo.disabled

    undo.click().run()
    assert calls[-1]["reset"]["objects"] == [first], "the canvas is reloaded without its last stroke"
    at.button(key="draw_undo").click().run()  # a second tap before the component has caught up
    assert calls[-1]["reset"]["objects"] == [], "two taps take back two strokes"
    assert calls[-2]["reset"][pages.parts.canvas.REVISION_FIELD] < calls[-1]["reset"][pages.parts.canvas.REVISION_FIELD]
    at.run()  # the component reports the empty canvas
    assert at.button(key="draw_undo").disabled, "nothing left to take back"
    assert any(i.value.startswith("Draw a digit") for i in at.info)

    at.button(key="draw_clear").click().run()
    assert calls[-1]["reset"] is None, "Clear mounts a new canvas with nothing to reload"


def test_draw_on_a_desktop_keeps_the_280_canvas_and_phone_0_turns_the_phone_layout_off(monkeypatch, temp_store):
    sides = []
    monkeypatch.setattr(pages.parts.canvas, "drawing_canvas",
                        lambda **kw: sides.append(pages.parts.canvas.canvas_side()) or canvas_image(vertical_bar))
    at = AppTest.from_file(page_path("draw"), default_timeout=TIMEOUT).run()
    assert sides[-1] == 280
    assert any("hover over the canvas" in c for c in texts(at.caption))
    assert at.button(key="draw_undo").disabled, "the stand-in reported no strokes"

    at.query_params["phone"] = "1"
    at.run()
    assert sides[-1] == 320
    at.query_params["phone"] = "0"
    at.run()
    assert sides[-1] == 280 and not at.exception

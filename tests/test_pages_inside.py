"""Inside the network (AppTest, through app.py's router): what the user sees for a test image, a drawing, an
upload and a hand-over from Mistakes, for the shipped CNN, a small MLP, a linear model and a Fashion-MNIST model.

What the page shows is checked against core.explain run on the same model and input (the oracle):
the predicted class, the number of pictures (one per layer that has one), the neighbours' count.
"""
from __future__ import annotations

import html
import threading
import re

import keras
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import explain
from core.data import datasets
from core.nets.builders import build_model, for_inference
from core.store import DEFAULT_MODEL, ModelMeta, ModelStore

from page_support import (ROOT, TIMEOUT, all_text, blank_paper_png, canvas_image, png_bytes, texts, vertical_bar,
                          seen, with_embeddings)

INSIDE = "pages/inside.py"
DRAWING, TEST, UPLOAD = ":material/draw: Your drawing", ":material/image: A test image", ":material/upload: Upload"
ANSWER = re.compile(r"Predicted</div><div[^>]*>([^<]+)</div>")


def open_inside(state: dict | None = None) -> AppTest:
    """The app, then the Inside page, as a user who clicks it in the navigation (state set before)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(INSIDE).run()
    assert not at.exception, [e.value for e in at.exception]
    return with_embeddings(at)


def answers(at: AppTest) -> list[str]:
    """The predicted class of each model shown, in order, as the user reads it."""
    return [html.unescape(m.group(1)) for block in at.markdown if (m := ANSWER.search(block.value))]


def captions(at: AppTest) -> list[str]:
    return [c for image in at.image for c in image.captions]


def neighbour_captions(at: AppTest) -> list[str]:
    return [c for c in captions(at) if re.fullmatch(r".+ \(\d\.\d\d\)", c)]


def layer_pictures(model, image) -> int:
    """How many layer pictures the page should draw: every layer not folded away, but the output (bars)."""
    layers = explain.activations(model, image)
    return sum(1 for layer in layers[:-1] if not layer.folded and layer.values.ndim in (1, 3))


def save(store_root, name: str, model, arch: str, dataset: str = "mnist") -> None:
    ModelStore(store_root).save(name, model, ModelMeta(arch=arch, dataset=dataset))


@pytest.fixture
def small_mlp(small_mlp_model):
    """A custom-mlp (one hidden layer of 32) trained for one epoch on 5,000 MNIST digits: ~90% right (conftest)."""
    return small_mlp_model


def test_a_test_image_shows_answer_saliency_layers_filters_neighbours_and_map(temp_store):
    at = open_inside()

    mnist = datasets.load("mnist")
    model = ModelStore().load(DEFAULT_MODEL)
    image = mnist.x_test[0].astype(np.float32) / 255
    expected = explain.answer(model, image)
    assert at.segmented_control(key="inside_source").value == TEST  # no drawing yet: a test image
    assert answers(at) == [str(expected.predicted)] == [str(mnist.y_test[0])]
    assert "✓ right" in all_text(at)
    shown = captions(at)
    assert shown[0] == "test image #0: what the network gets, 28 x 28"
    assert shown[1].startswith(f"Evidence for {expected.predicted} (Grad-CAM at ")
    assert len(neighbour_captions(at)) == 8
    assert all(c.startswith(f"{mnist.y_test[0]} (") for c in neighbour_captions(at)), neighbour_captions(at)
    assert any(c.startswith("conv2d: all 32, one kernel each") for c in shown)
    # input + saliency + one picture per layer + first-layer kernels + 8 neighbours
    assert len(at.image) == 2 + layer_pictures(model, image) + 1 + 8
    assert len(at.get("vega_lite_chart")) == 1  # the map of the test set
    assert [e.label for e in at.expander] == ["Folded away: flatten, dropout"]
    assert not at.error and not at.warning

    at.number_input(key="inside_index").set_value(1).run()
    assert answers(at) == [str(explain.answer(model, mnist.x_test[1].astype(np.float32) / 255).predicted)]
    assert captions(at)[0].startswith("test image #1:")


def test_side_by_side_mlp_and_cnn_follow_the_what_if_sliders(temp_store, small_mlp):
    save(temp_store, "little-mlp", small_mlp, "custom-mlp")
    at = open_inside({"active_model": "little-mlp"})
    at.number_input(key="inside_index").set_value(3).run()
    at.selectbox(key="inside_compare").select(DEFAULT_MODEL).run()
    assert not at.exception

    mnist = datasets.load("mnist")
    image = mnist.x_test[3].astype(np.float32) / 255
    cnn = ModelStore().load(DEFAULT_MODEL)
    assert answers(at) == [str(explain.answer(small_mlp, image).predicted), str(explain.answer(cnn, image).predicted)]
    saliency = [c for c in captions(at) if c.startswith("Evidence for ")]
    assert len(saliency) == 2
    assert saliency[0].endswith("(integrated gradients)") and "(Grad-CAM at " in saliency[1]
    # the layers below are the MLP's: one strip for the 32 hidden units, its 32 first-layer weight pictures
    assert "32 units: blue above the line = positive, vermillion below = negative" in captions(at)
    assert any(re.match(r"[\w\\]+: all 32, one unit's weights from every input pixel", c)  # "dense\_4": escaped
               for c in captions(at))

    at.slider(key="inside_dx").set_value(8).run()
    at.slider(key="inside_degrees").set_value(20).run()
    assert not at.exception
    moved = [explain.what_if(m, image, dx=8, degrees=20) for m in (small_mlp, cnn)]
    assert answers(at) == [str(w.predicted) for w in moved]
    assert "Changed: moved +8 right, +0 down, turned +20°." in all_text(at)
    assert captions(at)[0] == "test image #3, changed: what the network gets, 28 x 28"

    at.selectbox(key="inside_target").select(2).run()
    assert [c[:15] for c in captions(at) if c.startswith("Evidence for ")] == ["Evidence for 2 "] * 2
    at.button(key="inside_reset").click().run()
    assert at.slider(key="inside_dx").value == 0 and "Changed:" not in all_text(at)

    at.segmented_control(key="inside_which").set_value(DEFAULT_MODEL).run()
    assert any(c.startswith("conv2d: all 32, one kernel each") for c in captions(at))

    at.selectbox(key="inside_model").select(DEFAULT_MODEL).run()  # the second model becomes the first
    assert not at.exception
    assert at.selectbox(key="inside_compare").value == "none" and len(answers(at)) == 1


def test_a_linear_model_shows_its_ten_class_templates(temp_store):
    keras.utils.set_random_seed(1)
    save(temp_store, "flat", for_inference(build_model("linear"), logits=True), "linear")
    at = open_inside({"active_model": "flat"})

    assert any("class templates" in t for t in texts(at.markdown))
    assert [str(d) for d in range(10)] == [c for c in captions(at) if len(c) == 1]
    # a layer name, markdown-escaped ("dense\_3"): Keras numbers its layers on across tests
    assert any(re.match(r"[\w\\]+: the first 64 of 100, one unit's weights", c) for c in captions(at))


def test_a_fashion_model_uses_its_class_names_and_offers_no_drawing(temp_store):
    keras.utils.set_random_seed(2)
    save(temp_store, "clothes", build_model("custom-mlp", {"hidden": (16,)}), "custom-mlp", "fashion-mnist")
    at = open_inside({"active_model": "clothes", "draw_last_canvas": canvas_image(vertical_bar)})

    fashion = datasets.load("fashion-mnist")
    assert at.segmented_control(key="inside_source").options == ["A test image", "Upload"]  # shown without icons
    true = fashion.spec.class_names[fashion.y_test[0]]
    assert true == "Ankle boot"
    verdicts = "".join(m.value for m in at.markdown)
    assert answers(at)[0] in fashion.spec.class_names
    assert ("✗ wrong: it is Ankle boot" in verdicts) != (answers(at) == ["Ankle boot"] and "✓ right" in verdicts)
    assert all(re.fullmatch(r"(.+) \(\d\.\d\d\)", c).group(1) in fashion.spec.class_names
               for c in neighbour_captions(at))
    assert len(neighbour_captions(at)) == 8


def test_the_drawing_from_draw_is_read_with_its_preprocessing_variants(temp_store):
    at = open_inside({"draw_last_canvas": canvas_image(vertical_bar)})

    assert at.segmented_control(key="inside_source").value == DRAWING
    assert answers(at) == ["1"]
    assert captions(at)[0] == "your drawing: what the network gets, 28 x 28"
    assert [c for c in captions(at) if c in (explain.FULL, *explain.ABLATIONS)] == [explain.FULL, *explain.ABLATIONS]
    at.selectbox(key="inside_variant").select("not inverted").run()
    assert "Changed: not inverted." in all_text(at)
    assert not at.exception


def test_no_drawing_yet_says_where_to_draw(temp_store):
    at = open_inside({"draw_last_canvas": None})
    at.segmented_control(key="inside_source").set_value(DRAWING).run()

    assert not at.exception and not at.error
    assert any("No drawing yet. Draw a digit on the Draw page" in t for t in texts(at.info))
    assert answers(at) == [] and not at.image


@pytest.mark.parametrize("file_name, data, where, says", [
    ("digit.png", lambda: b"this is not a picture", "error", "This file is not an image we can read"),
    ("paper.png", blank_paper_png, "info", "Nothing to read in the uploaded picture."),
])
def test_a_bad_upload_gives_a_message_not_a_traceback(temp_store, file_name, data, where, says):
    at = open_inside()
    at.segmented_control(key="inside_source").set_value(UPLOAD).run()
    at.file_uploader(key="inside_upload").upload(file_name, data(), "image/png").run()

    assert not at.exception
    assert any(says in t for t in texts(getattr(at, where))), texts(getattr(at, where))
    assert answers(at) == [] and not at.image


def test_an_uploaded_digit_is_read(temp_store):
    at = open_inside()
    at.segmented_control(key="inside_source").set_value(UPLOAD).run()
    at.file_uploader(key="inside_upload").upload("one.png", png_bytes(canvas_image(vertical_bar)), "image/png").run()

    assert not at.exception
    assert answers(at) == ["1"]
    assert captions(at)[0] == "the uploaded picture: what the network gets, 28 x 28"


def test_look_inside_on_a_mistakes_card_opens_that_test_image(temp_store):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/mistakes.py").run()
    assert not at.exception
    buttons = [b for b in at.button if b.key and b.key.startswith("look_inside_")]
    assert buttons, "every mistake card has a Look inside button"
    index = int(buttons[1].key.removeprefix("look_inside_"))
    buttons[1].click().run()

    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value.endswith("Inside the network")
    assert at.segmented_control(key="inside_source").value == TEST
    assert at.number_input(key="inside_index").value == index
    assert captions(at)[0] == f"test image #{index}: what the network gets, 28 x 28"
    mnist = datasets.load("mnist")
    assert "✗ wrong: it is " + str(mnist.y_test[index]) in "".join(m.value for m in at.markdown)


def test_the_page_renders_before_the_training_images_are_embedded(temp_store, monkeypatch):
    """The ~70,000 images go through the model in a thread after the page rendered: the answer and the layers
    are shown at once, a progress bar stands where the neighbours will be, and the next run shows them."""
    release, embed = threading.Event(), explain.embed

    def held_embed(model, images, *args, **kwargs):
        assert release.wait(TIMEOUT), "never released"
        return embed(model, images, *args, **kwargs)

    monkeypatch.setattr(explain, "embed", held_embed)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page(INSIDE).run()
    assert not at.exception, [e.value for e in at.exception]
    mnist = datasets.load("mnist")
    assert answers(at) == [str(mnist.y_test[0])]
    assert any(c.startswith("conv2d: all 32") for c in captions(at))
    assert neighbour_captions(at) == [] and not at.get("vega_lite_chart")
    assert any(p.proto.text.startswith("Passing all 70,000 training and test images through default")
               for p in at.get("progress")), [p.proto for p in at.get("progress")]

    release.set()
    with_embeddings(at)
    assert len(neighbour_captions(at)) == 8 and len(at.get("vega_lite_chart")) == 1
    assert not at.get("progress")


def test_embeddings_that_fail_say_so_and_the_rest_of_the_page_stays(temp_store, monkeypatch):
    def broken_embed(model, images, *args, **kwargs):
        raise MemoryError("out of memory")

    monkeypatch.setattr(explain, "embed", broken_embed)
    at = with_embeddings(open_inside())
    assert not at.exception
    assert any("could not be passed through default: MemoryError: out of memory" in seen(e.value) for e in at.error), \
        [e.value for e in at.error]
    assert answers(at) and neighbour_captions(at) == []


def test_while_the_model_loads_the_input_shows_and_the_answer_follows(temp_store, monkeypatch):
    """A fresh server: the page renders with its input while the model loads in a thread of its own, then reruns
    with everything once it is ready."""
    from pages.parts import resources

    ready, warmed = [False], []
    monkeypatch.setattr(resources, "model_ready", lambda name: ready[0])
    monkeypatch.setattr(resources, "warm_model", warmed.append)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page(INSIDE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert warmed == [DEFAULT_MODEL]
    assert any(i.value.startswith(f"Loading TensorFlow and {DEFAULT_MODEL}") for i in at.info)
    assert captions(at) == ["test image #0: what the network gets, 28 x 28"] and answers(at) == []
    at.number_input(key="inside_index").set_value(2).run()
    assert captions(at) == ["test image #2: what the network gets, 28 x 28"], "the input can be chosen meanwhile"

    ready[0] = True
    at.run()
    assert not at.exception and not any(i.value.startswith("Loading TensorFlow") for i in at.info)
    expected = explain.answer(ModelStore().load(DEFAULT_MODEL), datasets.load("mnist").x_test[2] / 255)
    assert answers(at) == [str(expected.predicted)], "the answer, for the input chosen while it loaded"

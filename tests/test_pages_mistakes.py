"""Mistakes page (AppTest): a real small model, its real evaluation: filters, pages, inspect, a broken model."""
from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.store import ModelStore

from page_support import TIMEOUT, all_text, metric, page_path, texts

MISTAKES = page_path("mistakes")


@pytest.fixture
def mistakes_page(small_trained_model, monkeypatch, fresh_caches):
    store, name = small_trained_model
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(store.root))
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT)
    at.session_state["active_model"] = name
    at.run()
    assert not at.exception
    return at


def captions(at: AppTest) -> list[str]:
    return [v for v in texts(at.markdown) if re.fullmatch(r"\*\*true \d → predicted \d \(\d+%\)\*\*", v)]


def shown_count(at: AppTest) -> int:
    match = re.search(r"\*\*([\d,]+) mistakes\*\* match", all_text(at))
    assert match, all_text(at)
    return int(match.group(1).replace(",", ""))


def test_mistakes_filters_pages_and_inspects(mistakes_page, small_trained_model):
    from pages.parts import resources

    at = mistakes_page
    store, name = small_trained_model
    ev = resources.evaluation(name)
    total = int((ev.predictions != ev.labels).sum())
    assert metric(at, "Test accuracy") == f"{ev.accuracy:.2%}"
    assert metric(at, "Mistakes") == f"{total:,} of 10,000"
    assert shown_count(at) == total
    first_page = captions(at)
    assert len(first_page) == min(24, total)
    confidences = [int(re.search(r"\((\d+)%\)", c).group(1)) for c in first_page]
    assert confidences == sorted(confidences, reverse=True)  # most confident mistakes first
    png_button = next(d for d in at.get("download_button") if d.key == "mistakes_confusion_png")
    assert png_button.proto.label == "Download as PNG for your slides"

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
    (app_store.root / "broken.keras").write_bytes(b"not a keras file")
    (app_store.root / "broken.json").write_text(json.dumps({"arch": "cnn-basic", "created_unix": time.time()}))
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT)
    at.session_state["active_model"] = "broken"
    at.run()
    assert not at.exception
    assert any("broken" in e for e in texts(at.error) + texts(at.warning))


def test_confusion_png_is_the_pages_heat_map():
    from pages.parts import charts

    matrix = np.diag([980, 1100, 1000, 990, 950, 870, 940, 1000, 930, 960])
    matrix[4, 9], matrix[7, 2] = 40, 3
    png = Image.open(io.BytesIO(charts.confusion_png(matrix)))
    assert png.format == "PNG" and min(png.size) >= 1200  # sharp on a slide
    colours = {rgb for _, rgb in png.convert("RGB").getcolors(1 << 20)}
    fills, dark = charts.confusion_fills(matrix)
    for t, p in ((0, 0), (4, 9), (7, 2)):  # right answers, the worst mistake, a rare one: the page's colours
        assert tuple(int(fills[t, p][i:i + 2], 16) for i in (1, 3, 5)) in colours, (t, p, fills[t, p])
    assert dark[4, 9] and not dark[7, 2] and not dark[0, 0]


def test_a_fashion_model_is_tested_on_clothes_and_its_mistakes_named(temp_store):
    """A model whose metadata says Fashion-MNIST is evaluated on Fashion-MNIST's test set, with class names."""
    from core.data import datasets

    from page_support import add_copy_of_default

    add_copy_of_default(temp_store, "clothes", dataset="fashion-mnist")
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT)
    at.session_state["active_model"] = "clothes"
    at.run()
    assert not at.exception
    names = datasets.FASHION_MNIST.class_names
    assert at.selectbox(key="mistakes_true").label == "True piece of clothing"
    assert at.selectbox(key="mistakes_true").options == ["Any", *names]  # AppTest lists the shown labels
    common = metric(at, "Most common mistake")
    assert " → " in common and common.split(" → ")[0] in names, common
    accuracy = float(metric(at, "Test accuracy").rstrip("%")) / 100
    assert accuracy < 0.5, "a digit network scored on clothes: far below its MNIST 99.5%"
    caption = [text for text in texts(at.markdown) if text.startswith("**true ")][0]
    assert any(f"true {name} → predicted" in caption for name in names), caption


# --- your drawings as the source (issue 12) ---------------------------------------------------------

def keep_mnist_digits(root, n: int, wrong_every: int):
    """n MNIST test digits kept as drawings, every wrong_every-th labelled one more than it is: the store."""
    from core.data import datasets
    from core.drawings import FILE_NAME, DrawingStore

    mnist = datasets.load("mnist")
    store = DrawingStore(root / FILE_NAME)
    for i in range(n):
        label = int(mnist.y_test[i])
        store.add((label + 1) % 10 if i % wrong_every == 0 else label, mnist.x_test[i])
    return store


def test_mistakes_on_your_drawings(temp_store):
    from core.drawings import evaluate_on_drawings
    from core.store import DEFAULT_MODEL

    store = keep_mnist_digits(temp_store, 40, wrong_every=4)
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT).run()
    assert at.segmented_control(key="mistakes_source").options == ["MNIST test set", "Your drawings"]
    at.segmented_control(key="mistakes_source").set_value("drawings").run()

    assert not at.exception and not at.error
    ev = evaluate_on_drawings(ModelStore(temp_store).load(DEFAULT_MODEL), store)
    _, _, ids = store.arrays(ids=True)
    wrong = ev.mistakes()
    assert len(wrong) >= 10, "the drawings labelled one more than they are"
    assert metric(at, "Accuracy on your drawings") == f"{ev.accuracy:.2%}"
    assert metric(at, "Mistakes") == f"{len(wrong)} of 40"
    assert shown_count(at) == len(wrong)
    assert len(captions(at)) == len(wrong)
    shown_ids = [int(c.removeprefix("Drawing #")) for c in texts(at.caption) if c.startswith("Drawing #")]
    assert shown_ids == [int(ids[m.index]) for m in wrong], "each misread drawing, with its id"

    true = wrong[0].true
    at.selectbox(key="mistakes_true").select(true).run()
    assert shown_count(at) == sum(m.true == true for m in wrong)
    assert all(c.startswith(f"**true {true} →") for c in captions(at))
    at.button(key=f"inspect_drawing_{ids[wrong[0].index]}").click().run()
    assert f"Drawing #{ids[wrong[0].index]}" in all_text(at)

    at.segmented_control(key="mistakes_source").set_value("test set").run()
    assert metric(at, "Test accuracy").endswith("%") and not at.exception, "the test set, as before"


def test_mistakes_on_your_drawings_with_none_kept_says_how_to_keep_some(temp_store):
    at = AppTest.from_file(MISTAKES, default_timeout=TIMEOUT)
    at.session_state["mistakes_source"] = "drawings"
    at.run()

    assert not at.exception and not at.error
    assert any("No drawings kept yet. On the Draw page" in i and "click Keep" in i for i in texts(at.info))

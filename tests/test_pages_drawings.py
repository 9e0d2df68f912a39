"""Drawings page (AppTest): counts, the gallery (filters, pages, relabel, delete with a confirmation), export
data, the import report, a damaged database, a model tested on the drawings, and fine-tuning on them."""
from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.drawings import FILE_NAME, DrawingStore
from core.store import DEFAULT_MODEL, ModelStore

from page_support import (
    TIMEOUT,
    all_text,
    canvas_image,
    links_in,
    markdown_sources,
    metric,
    page_path,
    png_bytes,
    texts,
)

DRAWINGS = page_path("drawings")
AUTHORS = ("ada", "bob", None)


@pytest.fixture
def drawings(temp_store, monkeypatch):
    """The pages' drawings store: by default beside the (temporary) model store."""
    monkeypatch.delenv("DIGIT_STUDIO_DRAWINGS", raising=False)
    store = DrawingStore()
    assert store.path == temp_store / FILE_NAME, "the drawings follow $DIGIT_STUDIO_MODELS"
    yield store
    store.close()


def mnist_test(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n MNIST test digits as uint8 (n, 28, 28), and their labels."""
    from core.data import datasets

    mnist = datasets.load("mnist")
    return mnist.x_test[:n], mnist.y_test[:n]


def keep_digits(store: DrawingStore, n: int, wrong_every: int = 0) -> list[int]:
    """n MNIST test digits kept as drawings by ada, bob and someone unnamed; with `wrong_every`, every
    wrong_every-th one labelled one more than it is (a drawing any good model disagrees with)."""
    x, y = mnist_test(n)
    ids = []
    for i in range(n):
        label = (int(y[i]) + 1) % 10 if wrong_every and i % wrong_every == 0 else int(y[i])
        ids.append(store.add(label, x[i], author=AUTHORS[i % 3], model="default", predicted=int(y[i]),
                             confidence=0.9))
    return ids


def open_drawings(tab: str | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(DRAWINGS, default_timeout=TIMEOUT)
    if tab:
        at.session_state["drawings_tab"] = tab
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at.run()


def card_ids(at: AppTest) -> list[int]:
    """The drawings shown in the gallery, in page order (each card has a label selectbox)."""
    return [int(s.key.rsplit("_", 1)[1]) for s in at.selectbox if s.key and s.key.startswith("drawing_label_")]


def test_counts_gallery_pages_and_filters(drawings):
    ids = keep_digits(drawings, 30)
    at = open_drawings()

    assert not at.exception and not at.error
    assert metric(at, "Drawings kept") == "30"
    chart = next(c for c in at.get("vega_lite_chart") if "drawings" in c.proto.spec)
    data = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().to_pandas()
    assert dict(zip(data["label"], data["drawings"])) == drawings.counts()
    assert card_ids(at) == ids[::-1][:24], "24 a page, newest first"
    assert "30 drawings match · page 1 of 2" in all_text(at).replace("**", "")
    assert any("default said" in c for c in texts(at.caption)), "what the model said is on each card"

    at.number_input(key="drawings_page").set_value(2).run()
    assert card_ids(at) == ids[::-1][24:]

    at.selectbox(key="drawings_label").select(4).run()
    fours = [d.id for d in drawings.list(label=4)]
    assert fours and card_ids(at) == fours
    assert at.number_input(key="drawings_page").value == 1, "a new filter starts at its first page"

    at.selectbox(key="drawings_label").select("Any").run()
    assert at.selectbox(key="drawings_author").options == ["Everyone", "No name", "ada", "bob"]
    at.selectbox(key="drawings_author").select("ada").run()
    assert card_ids(at) == [d.id for d in drawings.list(author="ada")]
    assert all(" · ada · " in c for c in texts(at.caption) if c.startswith("#"))
    at.selectbox(key="drawings_author").select("(no name)").run()
    assert card_ids(at) == [d.id for d in drawings.list(author="")] and len(card_ids(at)) == 10
    assert not at.exception


def test_relabel_from_a_card(drawings):
    ids = keep_digits(drawings, 3)
    at = open_drawings()
    before = drawings.get(ids[0]).label
    new = (before + 5) % 10
    at.selectbox(key=f"drawing_label_{ids[0]}").select(new).run()

    assert not at.exception
    assert drawings.get(ids[0]).label == new
    assert f"Drawing #{ids[0]} is now a {new}." in texts(at.success)
    assert at.selectbox(key=f"drawing_label_{ids[0]}").value == new


def test_delete_a_selection_after_a_confirmation(drawings):
    ids = keep_digits(drawings, 5)
    at = open_drawings()
    assert at.button(key="drawings_delete").disabled, "nothing selected, nothing to delete"
    for drawing_id in ids[1], ids[3]:
        at.checkbox(key=f"drawing_pick_{drawing_id}").check().run()
    assert at.button(key="drawings_delete").label == "Delete selected (2)"

    at.button(key="drawings_delete").click().run()
    assert any("Delete 2 drawings for good?" in w for w in texts(at.warning))
    assert drawings.count() == 5, "nothing deleted before the confirmation"
    at.button(key="drawings_cancel_delete").click().run()
    assert not at.warning and drawings.count() == 5

    at.button(key="drawings_delete").click().run()
    at.button(key="drawings_confirm_delete").click().run()
    assert not at.exception
    assert sorted(d.id for d in drawings.list()) == [ids[0], ids[2], ids[4]]
    assert "Deleted 2 drawings." in texts(at.success)
    assert metric(at, "Drawings kept") == "3"
    assert card_ids(at) == [ids[4], ids[2], ids[0]]


@pytest.fixture
def deferred_downloads(monkeypatch):
    """file name -> the callable a download button computes its data with, when clicked."""
    found = {}
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        found[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return found


def test_export_buttons_give_a_zip_of_pngs_and_an_mnist_npz(drawings, deferred_downloads):
    ids = keep_digits(drawings, 4)
    with_canvas = drawings.add(7, mnist_test(1)[0][0], canvas_image(), author="ada")
    at = open_drawings("Export and import")
    assert not at.exception
    at.checkbox(key="drawings_export_canvases").check().run()

    archive = zipfile.ZipFile(io.BytesIO(deferred_downloads["drawings.zip"]()))
    rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    assert [r["file"] for r in rows] == [f"{i:06d}.png" for i in [*ids, with_canvas]]
    assert [int(r["label"]) for r in rows] == [drawings.get(i).label for i in [*ids, with_canvas]]
    picture = np.asarray(Image.open(io.BytesIO(archive.read(f"{ids[0]:06d}.png"))))
    assert np.array_equal(picture, drawings.get(ids[0]).image)
    assert rows[-1]["canvas"] == f"canvas/{with_canvas:06d}.png", "the original drawings, when asked for"
    assert Image.open(io.BytesIO(archive.read(rows[-1]["canvas"]))).size == (280, 280)

    npz = np.load(io.BytesIO(deferred_downloads["drawings.npz"]()))
    x, y = drawings.arrays()
    assert npz["x_test"].dtype == np.uint8 and npz["x_test"].shape == (5, 28, 28)
    assert np.array_equal(npz["x_test"], x) and np.array_equal(npz["y_test"], y)
    assert npz["ids"].tolist() == [*ids, with_canvas]


def drawing_zip(rows: list[tuple[str, str]], files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("labels.csv", "file,label\n" + "".join(f"{name},{label}\n" for name, label in rows))
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_import_reports_what_came_in_and_each_refused_file_as_plain_text(drawings):
    x, _ = mnist_test(3)
    evil = "[evil](http://evil.example).png"
    data = drawing_zip([("a.png", "3"), ("b.png", "8"), ("c.png", "x"), (evil, "1")],
                       {"a.png": png_bytes(x[0]), "b.png": png_bytes(x[1]), "c.png": png_bytes(x[2]),
                        evil: b"<b>not a picture</b>", "notes.txt": b"hello"})
    at = open_drawings("Export and import")
    assert at.button(key="drawings_import").disabled, "nothing to import before a file is chosen"
    at.file_uploader(key="drawings_import_0").upload("mine.zip", data, "application/zip").run()
    at.button(key="drawings_import").click().run()

    assert not at.exception
    assert sorted(d.label for d in drawings.list()) == [3, 8]
    assert "Imported 2 drawings, 3 refused." in texts(at.warning)
    refused = "\n".join(t.value for t in at.text).splitlines()
    assert refused[0].startswith("c.png: Label must be a whole number from 0 to 9")
    assert refused[1].startswith(f"{evil}: Not an image")
    assert refused[2] == "notes.txt: Not an image, and not listed in labels.csv."
    assert len(refused) == 3
    assert not any("evil" in source or links_in(source) for source in markdown_sources(at)), \
        "file names are plain text, never markdown"
    assert metric(at, "Drawings kept") == "2", "the counts include what came in"
    assert not at.file_uploader(key="drawings_import_1").value, "the uploader is emptied for the next zip"

    at.file_uploader(key="drawings_import_1").upload("mine.zip", data, "application/zip").run()
    at.button(key="drawings_import").click().run()
    assert "Imported 0 drawings, 2 already kept, 3 refused." in texts(at.warning)
    assert drawings.count() == 2

    at.file_uploader(key="drawings_import_2").upload("broken.zip", b"PK not really", "application/zip").run()
    at.button(key="drawings_import").click().run()
    assert any("This is not a zip file" in e for e in texts(at.error))
    assert not at.exception


def test_a_damaged_database_is_a_message_with_a_way_out(drawings):
    drawings.path.write_bytes(b"these are not the drawings you are looking for" * 100)
    at = open_drawings()

    assert not at.exception
    assert at.title and "Your drawings" in at.title[0].value
    error = texts(at.error)[0]
    assert "is damaged or is not a drawings database" in error and str(drawings.path) in error
    at.button(key="drawings_move_aside").click().run()

    assert not at.exception and not at.error
    assert any("The damaged file was moved to" in s for s in texts(at.success))
    assert len(list(drawings.path.parent.glob(f"{FILE_NAME}.damaged-*"))) == 1
    assert any("No drawings kept yet" in i for i in texts(at.info))
    drawings.add(2, mnist_test(1)[0][0])
    assert metric(open_drawings(), "Drawings kept") == "1", "a new, empty database took its place"


def test_a_model_tested_on_the_drawings_next_to_its_mnist_figure(drawings):
    from core.drawings import evaluate_on_drawings

    keep_digits(drawings, 40, wrong_every=5)
    at = open_drawings("Test a model")
    assert not at.exception and not at.error

    store = ModelStore()
    expected = evaluate_on_drawings(store.load(DEFAULT_MODEL), drawings)
    wrong = int((expected.predictions != expected.labels).sum())
    assert wrong >= 8, "the mislabelled drawings are mistakes"
    assert metric(at, "Accuracy on your drawings") == f"{expected.accuracy:.2%}"
    assert metric(at, "MNIST test accuracy") == f"{store.read_meta(DEFAULT_MODEL).test_accuracy:.2%}"
    assert metric(at, "Mistakes") == f"{wrong} of 40"
    chart = next(c for c in at.get("vega_lite_chart") if "predicted" in c.proto.spec)
    assert chart.proto.spec


def test_fine_tuning_is_refused_before_training_with_too_few_drawings(drawings):
    keep_digits(drawings, 5)
    at = open_drawings("Fine-tune")

    assert not at.exception
    assert any("Fine-tuning needs at least 10 kept drawings (there are 5)" in w for w in texts(at.warning))
    assert not at.get("page_link"), "no way to the Train page without enough drawings"


def test_the_fine_tune_tab_shows_the_plan_and_opens_the_train_page_with_it_filled_in(drawings):
    from urllib.parse import parse_qs

    from core.workshop.links import settings_from_query

    from page_support import ROOT

    keep_digits(drawings, 20, wrong_every=4)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["drawings_tab"] = "Fine-tune"
    at.run()
    at.switch_page("pages/drawings.py").run()
    assert not at.exception and not at.error
    assert "15 of your 20 drawings to train on (each shown 5×), 5 held out for testing, plus 9,000 MNIST digits " \
           "(1,000 more to check each epoch); 3 epochs at learning rate 0.0003." in all_text(at).replace("**", ""), \
        "the limit's 10,000 digits, less the validation share"
    assert not [b for b in at.button if b.key == "tune_start"], "nothing trains in this page"
    [link] = [link for link in at.get("page_link") if link.proto.label.startswith("Fine-tune")]
    assert link.proto.label == "Fine-tune default on the Train page"
    query = parse_qs(link.proto.query_string)
    config = settings_from_query(query).config()
    assert (config.start_from, config.arch, config.drawings_weight, config.epochs, config.limit) == \
        ("default", "cnn-best", 5, 3, 10_000)

    # Following the link: the Train page starts from the stored model, with these settings in its widgets.
    at.query_params.update({key: values[0] for key, values in query.items()})
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.error
    assert at.radio(key="train_source").value == "a stored model"
    assert at.selectbox(key="train_base_model").value == "default"
    assert at.selectbox(key="train_arch").value == "cnn-best" and at.selectbox(key="train_arch").disabled
    assert at.number_input(key="train_cnn-best_epochs").value == 3
    assert at.number_input(key="train_cnn-best_drawings_weight").value == 5
    assert "15 of your 20 drawings to train on (each shown 5×), 5 held out for testing." in \
        all_text(at).replace("**", "")
    assert not at.warning, texts(at.warning)


def test_see_these_mistakes_opens_the_mistakes_page_on_the_drawings(drawings):
    from page_support import ROOT

    keep_digits(drawings, 12, wrong_every=3)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["drawings_tab"] = "Test a model"
    at.run()
    at.switch_page("pages/drawings.py").run()
    at.button(key="drawings_see_mistakes").click().run()

    assert not at.exception
    assert at.title[0].value.endswith("Mistakes")
    assert at.segmented_control(key="mistakes_source").value == "drawings"
    assert any(c.startswith("Drawing #") for c in texts(at.caption))

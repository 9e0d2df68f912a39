"""Models page (AppTest): the table, learning curves and their PNG, use, delete, broken entries."""
from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.store import DEFAULT_MODEL

from page_support import TIMEOUT, add_copy_of_default, open_page, page_path, texts


def run_models() -> AppTest:
    return AppTest.from_file(page_path("models"), default_timeout=TIMEOUT).run()


def button_keys(at: AppTest) -> list[str]:
    return [b.key for b in at.button]


def download_keys(at: AppTest) -> list[str]:
    return [d.key for d in at.get("download_button")]


def test_models_lists_default_without_delete(temp_store):
    at = run_models()

    assert not at.exception
    table = at.dataframe[0].value
    assert table["model"].tolist() == [f"▶ {DEFAULT_MODEL}"]
    assert "delete_default" not in button_keys(at)
    assert "download_default" in download_keys(at)


def test_models_table_shows_settings_and_time_with_the_shared_formatters(temp_store):
    add_copy_of_default(temp_store, "timed", train_seconds=185.4, stopped_early=True, config={
        "epochs": 3, "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "limit": 5000,
        "validation_split": 0.1, "augment": True, "seed": 7})
    at = run_models()

    assert not at.exception
    row = at.dataframe[0].value.set_index("model").loc["timed"]
    assert row["training time"] == "3 min 05 s"
    assert row["settings"] == ("3 epochs · 5,000 samples · batch 64 · adam lr 0.001 · validation 10% · "
                               "augmentation · seed 7 · stopped by user")


def test_models_delete_needs_confirmation(temp_store):
    add_copy_of_default(temp_store, "spare")
    at = run_models()
    assert "delete_spare" in button_keys(at)

    at.button(key="delete_spare").click().run()
    assert not at.exception
    assert (temp_store / "spare.keras").exists(), "one click must not delete"
    assert any("Delete spare for good?" in w.replace("**", "") for w in texts(at.warning))

    at.button(key="cancel_delete_spare").click().run()
    assert (temp_store / "spare.keras").exists()
    assert "delete_spare" in button_keys(at)

    at.button(key="delete_spare").click().run()
    at.button(key="confirm_delete_spare").click().run()
    assert not at.exception
    assert not (temp_store / "spare.keras").exists()
    assert not (temp_store / "spare.json").exists()
    assert any("Deleted **spare**" in s for s in texts(at.success))
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
    errors = texts(at.error)
    assert any("corrupt" in e and "not a valid .keras file" in e for e in errors), errors
    assert any("unreadable" in e and "is unreadable" in e for e in errors), errors
    assert "use_corrupt" not in button_keys(at), "a model that cannot load is not offered for drawing"
    assert "use_default" in button_keys(at)
    assert "delete_corrupt" in button_keys(at) and "delete_unreadable" in button_keys(at)


def test_models_learning_curves_drawn_from_history_with_a_png_for_slides(temp_store):
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
    button = next(d for d in at.get("download_button") if d.key == "models_curves_png")
    assert button.proto.label == "Download as PNG for your slides"


def test_learning_curves_png_shows_every_model():
    from types import SimpleNamespace

    from core.store import ModelMeta
    from pages.models import curves_frame
    from pages.parts import charts

    infos = [SimpleNamespace(name=name, meta=ModelMeta("mlp-512", history=tuple(
                 {"epoch": e, "val_accuracy": a} for e, a in points)))
             for name, points in (("a", [(1, 0.9), (2, 0.95)]), ("b", [(1, 0.8)]), ("c", []))]
    frame, missing = curves_frame(infos)
    assert missing == ["c"]
    png = Image.open(io.BytesIO(charts.learning_curves_png(frame)))
    assert png.format == "PNG" and png.width >= 1500  # 10 inches at 200 dpi: sharp on a slide
    pixels = png.convert("RGB").getcolors(1 << 20)
    colours = {rgb for _, rgb in pixels}
    for hex_colour in charts.CATEGORICAL[:2]:  # a line in the palette's colour for each model
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, hex_colour


def test_every_export_format_is_offered_and_the_export_loads(temp_store):
    from core.nets.export import FORMATS
    from pages.models import export_file

    at = open_page("models")
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    for fmt in FORMATS.values():
        if fmt.name != "keras":
            assert fmt.label in labels, (fmt.label, labels)
    assert ".keras (as saved)" in labels
    litert = export_file("default", "litert")
    assert litert[4:8] == b"TFL3", "a LiteRT flatbuffer"
    onnx = export_file("default", "onnx")
    import onnx as onnx_lib
    assert onnx_lib.load_model_from_string(onnx).graph.input[0].name == "image"


@pytest.mark.parametrize("accuracies, label_format", [((0.9953, 0.9963, 0.9958), ".2%"), ((0.90, 0.95), ".1%")])
def test_learning_curve_ticks_are_told_apart_when_the_curves_lie_close(accuracies, label_format):
    """A model trained further moves within a tenth of a point: one decimal would label every tick 99.6%."""
    from pages.parts import charts

    frame = pd.DataFrame({"model": "m", "epoch": range(1, len(accuracies) + 1), "validation accuracy": accuracies})
    assert charts.learning_curves_chart(frame).to_dict()["encoding"]["y"]["axis"]["format"] == label_format

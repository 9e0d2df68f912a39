import json

import keras
import numpy as np
import pytest

from core.nets import builders
from core.store import DEFAULT_MODEL, SHIPPED_DIR, ModelMeta, ModelStore, StoreError, TestMetrics, validate_name


def tiny_model():
    return builders.build_model("custom-mlp", {"hidden": (8,)})


def test_save_load_roundtrip_keeps_weights_and_metadata(store):
    model = tiny_model()
    store.save("roundtrip", model, ModelMeta("custom-mlp", test_metrics=TestMetrics(0.5), created_unix=1.0))
    loaded = store.load("roundtrip")
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    info = next(i for i in store.list() if i.name == "roundtrip")
    assert info.error is None and info.test_accuracy == 0.5 and info.meta.arch == "custom-mlp"
    assert json.loads((store.root / "roundtrip.json").read_text())["name"] == "roundtrip"


def test_crash_mid_save_leaves_nothing_listed_and_keeps_the_old_model(store, monkeypatch):
    store.save("keeper", tiny_model(), ModelMeta("v1"))
    before = sorted(p.name for p in store.root.iterdir())
    model = tiny_model()

    def crash(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(model, "save", crash)
    for name in ("keeper", "fresh"):
        with pytest.raises(OSError, match="disk full"):
            store.save(name, model, ModelMeta("v2"))
    assert sorted(p.name for p in store.root.iterdir()) == before, "no temporary or half-written file left"
    assert [i.name for i in store.list() if i.name != DEFAULT_MODEL] == ["keeper"]
    assert store.read_meta("keeper").arch == "v1"
    store.load("keeper")


def test_corrupt_files_are_reported_and_the_rest_still_works(store):
    store.save("good", tiny_model(), ModelMeta("custom-mlp"))
    (store.root / "garbage.keras").write_bytes(b"\x00not a zip")
    (store.root / "garbage.json").write_text("{}")
    (store.root / "badmeta.keras").write_bytes(b"")
    (store.root / "badmeta.json").write_text("{not json")
    (store.root / "orphan.json").write_text("{}")
    infos = {i.name: i for i in store.list()}
    assert infos["good"].error is None
    assert "not a valid .keras file" in infos["garbage"].error
    assert "unreadable" in infos["badmeta"].error
    assert "missing" in infos["orphan"].error
    with pytest.raises(StoreError, match="garbage"):
        store.load("garbage")
    store.load("good")


def test_zip_that_is_not_a_model_fails_to_load_with_a_message(store):
    import zipfile

    store.root.mkdir(parents=True)
    with zipfile.ZipFile(store.root / "fake.keras", "w") as z:
        z.writestr("config.json", "{broken")
    (store.root / "fake.json").write_text("{}")
    assert "not a valid .keras file" in {i.name: i for i in store.list()}["fake"].error, "broken when listed"
    with pytest.raises(StoreError, match="fake"):
        store.load("fake")


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "spaces here", "model.keras", "..", "a\\b"])
def test_path_tricks_are_refused(store, name):
    with pytest.raises(StoreError, match="Invalid model name"):
        validate_name(name)
    with pytest.raises(StoreError):
        store.save(name, tiny_model(), ModelMeta("custom-mlp"))


def test_default_cannot_be_deleted_and_others_can(store):
    with pytest.raises(StoreError, match="cannot be deleted"):
        store.delete(DEFAULT_MODEL)
    store.save("temp", tiny_model(), ModelMeta("custom-mlp"))
    store.delete("temp")
    assert not store.exists("temp") and not (store.root / "temp.keras").exists()
    with pytest.raises(StoreError, match="No model named"):
        store.delete("temp")


def test_store_folder_moves_with_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "elsewhere"))
    moved = ModelStore()
    moved.save("here", tiny_model(), ModelMeta("custom-mlp"))
    assert (tmp_path / "elsewhere" / "here.keras").exists()
    assert moved.unique_name("here") == "here-2"


def test_shipped_default_model_is_small_accurate_and_loads_safely():
    meta = json.loads((SHIPPED_DIR / "default.json").read_text())
    assert (SHIPPED_DIR / "default.keras").stat().st_size < 5 * 2**20
    assert meta["test_metrics"]["accuracy"] >= 0.992
    assert meta["arch"].startswith("cnn")
    assert ModelStore().read_meta(DEFAULT_MODEL).test_accuracy == meta["test_metrics"]["accuracy"]
    model = ModelStore().load(DEFAULT_MODEL)
    probs = np.asarray(model(np.zeros((1, 28, 28, 1), np.float32), training=False))
    assert probs.shape == (1, 10) and probs.sum() == pytest.approx(1.0, rel=1e-5)
    assert isinstance(model, keras.Model)


GOOD_META = {"arch": "custom-mlp", "dataset": "mnist", "config": {"epochs": 1}, "created": "2026-01-01 10:00:00",
             "created_unix": 1.0, "history": [{"epoch": 1, "loss": 0.5}], "parameters": 10,
             "test_metrics": {"accuracy": 0.9, "loss": 0.3, "confusion": [[1, 0], [0, 1]]},
             "train_seconds": 2.5, "stopped_early": False}


@pytest.mark.parametrize("key, value, reason", [
    ("test_metrics", {"accuracy": "0.9"}, "'accuracy' should be a number"),
    ("test_metrics", "great", "'test_metrics' should be an object"),
    ("created", None, "'created' should be text"),
    ("history", [{"epoch": 1, "loss": "low"}], "'history' should be a list of per-epoch numbers"),
    ("history", {"epoch": 1}, "'history'"),
    ("parameters", "many", "'parameters' should be a whole number"),
    ("train_seconds", [1], "'train_seconds'"),
    ("stopped_early", "no", "'stopped_early' should be true or false"),
    ("config", [1, 2], "'config' should be an object"),
    ("arch", 5, "'arch' should be text"),
    ("test_metrics", {"accuracy": 7}, "'accuracy' should be a number from 0 to 1"),
])
def test_metadata_with_a_wrong_type_is_one_unreadable_entry(store, key, value, reason):
    store.save("good", tiny_model(), ModelMeta("custom-mlp"))
    store.save("bad", tiny_model(), ModelMeta("custom-mlp"))
    (store.root / "bad.json").write_text(json.dumps({**GOOD_META, key: value}))
    infos = {i.name: i for i in store.list()}
    assert infos["good"].error is None and infos["bad"].meta is None
    assert "unreadable" in infos["bad"].error and reason in infos["bad"].error
    with pytest.raises(StoreError, match="unreadable"):
        store.read_meta("bad")


def test_old_metadata_without_new_fields_still_reads(store):
    store.save("old", tiny_model(), ModelMeta("custom-mlp"))
    (store.root / "old.json").write_text(json.dumps({"arch": "cnn-basic", "test_metrics": {"accuracy": 0.98}}))
    meta = store.read_meta("old")
    assert (meta.arch, meta.dataset, meta.test_accuracy, meta.history, meta.created) == ("cnn-basic", "mnist", 0.98, (), "")


def test_metadata_round_trip_keeps_every_field_and_extra_keys(store):
    meta = ModelMeta.from_json({**GOOD_META, "stroke_set_accuracy": {"a": 0.98}, "note": "hello"})
    store.save("full", tiny_model(), meta)
    again = store.read_meta("full")
    assert again == meta and again.extra == {"stroke_set_accuracy": {"a": 0.98}}


def test_interrupted_saves_leave_nothing_the_app_cannot_list_or_delete(store):
    store.save("good", tiny_model(), ModelMeta("custom-mlp"))
    (store.root / ".good.abc123.keras").write_bytes(b"PK half")     # killed during model.save
    (store.root / "halfway.keras").write_bytes((store.root / "good.keras").read_bytes())  # killed before metadata
    infos = {i.name: i for i in store.list()}
    assert not (store.root / ".good.abc123.keras").exists(), "temporary file of a killed save swept"
    assert "no metadata" in infos["halfway"].error
    store.delete("halfway")
    assert not (store.root / "halfway.keras").exists()


def test_entry_with_an_invalid_name_is_listed_and_can_be_deleted(store):
    store.save("good", tiny_model(), ModelMeta("custom-mlp"))
    (store.root / "bad name!.json").write_text("{}")
    infos = {i.name: i for i in store.list()}
    assert "Invalid model name" in infos["bad name!"].error
    store.delete("bad name!")
    assert "bad name!" not in {i.name for i in store.list()}
    for trick in ("../good", "/etc/passwd", ".lock", ""):
        with pytest.raises(StoreError):
            store.delete(trick)
    assert store.exists("good")


def test_model_that_safe_mode_refuses_is_broken_when_listed(store):
    import zipfile

    store.root.mkdir(parents=True)
    config = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {
        "function": {"class_name": "__lambda__", "config": {"code": "..."}}}}]}}
    with zipfile.ZipFile(store.root / "evil.keras", "w") as z:
        z.writestr("config.json", json.dumps(config))
    with zipfile.ZipFile(store.root / "nocfg.keras", "w") as z:
        z.writestr("readme.txt", "hello")
    for name in ("evil", "nocfg"):
        (store.root / f"{name}.json").write_text(json.dumps(GOOD_META))
    infos = {i.name: i for i in store.list()}
    assert "safe mode" in infos["evil"].error and "not a Keras model" in infos["nocfg"].error


def test_a_store_path_that_is_a_file_is_reported(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        ModelStore(path).list()
    with pytest.raises(StoreError, match="is a file"):
        ModelStore(path).save("x", tiny_model(), ModelMeta("custom-mlp"))


@pytest.mark.slow
def test_two_processes_saving_the_same_base_name_at_once_get_two_models(store):
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = textwrap.dedent(f"""
        import sys, time; sys.path.insert(0, {str(root)!r})
        from core.nets import builders
        from core.store import ModelMeta, ModelStore
        model = builders.build_model("custom-mlp", {{"hidden": (8,)}})
        store = ModelStore({str(store.root)!r})
        while time.time() < float(sys.argv[1]):
            time.sleep(0.001)
        print(store.save("same", model, ModelMeta(sys.argv[2]), new=True))
    """)
    import time
    start = time.time() + 12  # both processes are ready (TensorFlow imported) by then
    procs = [subprocess.Popen([sys.executable, "-c", script, str(start), tag], stdout=subprocess.PIPE, text=True)
             for tag in ("first", "second")]
    names = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert names == ["same", "same-2"]
    assert {store.read_meta(n).arch for n in names} == {"first", "second"}

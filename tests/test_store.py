import json

import keras
import numpy as np
import pytest

from core import models
from core.store import DEFAULT_MODEL, SHIPPED_DIR, ModelStore, StoreError, validate_name


def tiny_model():
    return models.build_model("custom-mlp", {"hidden": (8,)})


def test_save_load_roundtrip_keeps_weights_and_metadata(store):
    model = tiny_model()
    store.save("roundtrip", model, {"arch": "custom-mlp", "test_metrics": {"accuracy": 0.5}, "created_unix": 1.0})
    loaded = store.load("roundtrip")
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    info = next(i for i in store.list() if i.name == "roundtrip")
    assert info.error is None and info.test_accuracy == 0.5 and info.meta["name"] == "roundtrip"


def test_crash_mid_save_leaves_nothing_listed_and_keeps_the_old_model(store, monkeypatch):
    store.save("keeper", tiny_model(), {"version": 1})
    before = sorted(p.name for p in store.root.iterdir())
    model = tiny_model()

    def crash(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(model, "save", crash)
    for name in ("keeper", "fresh"):
        with pytest.raises(OSError, match="disk full"):
            store.save(name, model, {"version": 2})
    assert sorted(p.name for p in store.root.iterdir()) == before, "no temporary or half-written file left"
    assert [i.name for i in store.list() if i.name != DEFAULT_MODEL] == ["keeper"]
    assert store.read_meta("keeper")["version"] == 1
    store.load("keeper")


def test_corrupt_files_are_reported_and_the_rest_still_works(store):
    store.save("good", tiny_model(), {})
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
    with pytest.raises(StoreError, match="could not be loaded"):
        store.load("fake")


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "spaces here", "model.keras", "..", "a\\b"])
def test_path_tricks_are_refused(store, name):
    with pytest.raises(StoreError, match="Invalid model name"):
        validate_name(name)
    with pytest.raises(StoreError):
        store.save(name, tiny_model(), {})


def test_default_cannot_be_deleted_and_others_can(store):
    with pytest.raises(StoreError, match="cannot be deleted"):
        store.delete(DEFAULT_MODEL)
    store.save("temp", tiny_model(), {})
    store.delete("temp")
    assert not store.exists("temp") and not (store.root / "temp.keras").exists()
    with pytest.raises(StoreError, match="No model named"):
        store.delete("temp")


def test_store_folder_moves_with_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGIT_STUDIO_MODELS", str(tmp_path / "elsewhere"))
    moved = ModelStore()
    moved.save("here", tiny_model(), {})
    assert (tmp_path / "elsewhere" / "here.keras").exists()
    assert moved.unique_name("here") == "here-2"


def test_shipped_default_model_is_small_accurate_and_loads_safely():
    meta = json.loads((SHIPPED_DIR / "default.json").read_text())
    assert (SHIPPED_DIR / "default.keras").stat().st_size < 5 * 2**20
    assert meta["test_metrics"]["accuracy"] >= 0.992
    assert meta["arch"].startswith("cnn")
    model = ModelStore().load(DEFAULT_MODEL)
    probs = np.asarray(model(np.zeros((1, 28, 28, 1), np.float32), training=False))
    assert probs.shape == (1, 10) and probs.sum() == pytest.approx(1.0, rel=1e-5)
    assert isinstance(model, keras.Model)

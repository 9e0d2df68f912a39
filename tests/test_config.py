import dataclasses

import pytest

from core.fit.config import ConfigError, TrainConfig


def test_presets_fill_in_their_defaults_and_overrides_win():
    cfg = TrainConfig.for_preset("mlp-512")
    assert (cfg.optimizer, cfg.epochs, cfg.batch_size) == ("rmsprop", 5, 128)
    tiny = TrainConfig.for_preset("tiny-20px", epochs=2)
    assert tiny.limit == 5000 and tiny.epochs == 2 and tiny.batch_size == 32


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3


@pytest.mark.parametrize("changes, fragment", [
    ({"epochs": 0}, "Epochs must be a whole number from 1 to 100"),
    ({"epochs": 101}, "Epochs"),
    ({"batch_size": 5000}, "Batch size"),
    ({"learning_rate": 0}, "Learning rate must be above 0"),
    ({"learning_rate": -1e-3}, "Learning rate"),
    ({"optimizer": "magic"}, "Optimizer must be one of"),
    ({"validation_split": 0.9}, "Validation split"),
    ({"validation_split": 0.0, "early_stopping": True}, "set a validation split above 0"),
    ({"limit": 10}, "Training-sample limit"),
    ({"name": "../etc/passwd"}, "Invalid model name"),
    ({"arch": "custom-cnn", "options": {"kernel_size": 11}}, "Kernel size"),
])
def test_impossible_settings_are_refused_with_a_message(changes, fragment):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes)
    assert fragment in str(info.value)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as info:
        TrainConfig(epochs=0, batch_size=0, learning_rate=0)
    assert len(info.value.problems) == 3


@pytest.mark.parametrize("changes, fragment", [
    ({"arch": "custom-mlp", "options": [1]}, "must be a JSON object"),
    ({"arch": "custom-mlp", "options": 5}, "must be a JSON object"),
    ({"arch": "custom-mlp", "options": {"hidden": None}}, "hidden must be a list"),
    ({"arch": "custom-mlp", "options": {"hidden": [64.5]}}, "Units per layer must be a whole number"),
    ({"arch": "custom-mlp", "options": {"hidden": ["64"]}}, "Units per layer"),
    ({"arch": "custom-cnn", "options": {"blocks": 1.5}}, "Blocks must be a whole number"),
    ({"arch": "custom-cnn", "options": {"batch_norm": "no"}}, "batch_norm must be true or false"),
    ({"arch": "custom-cnn", "options": {"dropout": "lots"}}, "Dropout must be a number"),
    ({"seed": 4294967296}, "Seed must be a whole number from 0 to 2147483647"),
    ({"seed": -1}, "Seed"),
    ({"epochs": 1e100}, "Epochs"),
    ({"epochs": "5"}, "Epochs"),
    ({"augment": "yes"}, "Augmentation must be true or false"),
    ({"dataset": "emnist"}, "Dataset must be one of mnist, fashion-mnist"),
    ({"dataset": None}, "Dataset"),
    ({"learning_rate": float("nan")}, "Learning rate"),
    ({"learning_rate": float("inf")}, "Learning rate"),
    ({"name": 7}, "Model name must be text"),
])
def test_bad_values_of_every_kind_are_refused(changes, fragment):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes)
    assert fragment in str(info.value)


def test_settings_table_drives_validation_and_summary():
    from core.fit.config import SETTINGS

    assert set(SETTINGS) == {f.name for f in dataclasses.fields(TrainConfig)} - {"arch", "options"}
    line = TrainConfig.for_preset("cnn-fast", dataset="fashion-mnist", limit=5000, seed=3).summary()
    assert line == "fashion-mnist · 2 epochs · 5,000 samples · batch 128 · adam lr 0.008 (one-cycle) · validation 10% · seed 3"


def test_from_dict_round_trip_and_refusals():
    cfg = TrainConfig.for_preset("custom-mlp", options={"hidden": [32]}, epochs=2)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="Unknown setting"):
        TrainConfig.from_dict({**cfg.to_dict(), "turbo": True})
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.from_dict(["epochs", 2])


def test_importing_config_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys; import core.fit.config, core.runs.queue, core.store, core.data.datasets; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=__import__("pathlib").Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False", out.stderr


def test_settings_differences_name_each_setting_that_differs_in_both_runs_values():
    from core.fit.config import settings_differences

    plain = TrainConfig.for_preset("cnn-fast", limit=20000, seed=1, name="plain").to_dict()
    augmented = TrainConfig.for_preset("cnn-fast", limit=20000, seed=1, augment=True, name="aug").to_dict()
    assert settings_differences(augmented, plain) == ["Augmentation: on / off"]  # names are not compared
    drawn = {**plain, "stroke_copies": 6000, "seed": 2, "limit": None}
    assert settings_differences(plain, drawn) == ["Training-sample limit: 20,000 / all",
                                                  "Stroke-drawn copies: 0 / 6,000", "Seed: 1 / 2"]
    mlp = TrainConfig.for_preset("custom-mlp", options={"hidden": [32]}).to_dict()
    assert settings_differences(mlp, plain)[:2] == ["Architecture: custom-mlp / cnn-fast",
                                                    "Architecture options: hidden=[32] / the preset's own"]
    assert settings_differences(plain, dict(plain)) == []


def test_settings_differences_take_a_setting_stored_before_it_existed_as_its_default_and_no_settings_as_unknown():
    from core.fit.config import settings_differences

    new = TrainConfig.for_preset("cnn-fast", stroke_copies=0).to_dict()
    old = {k: v for k, v in new.items() if k not in ("stroke_copies", "drawings_weight")}
    assert settings_differences(old, new) == []
    assert settings_differences(old, {**new, "stroke_copies": 10}) == ["Stroke-drawn copies: 0 / 10"]
    assert settings_differences({}, new) is None and settings_differences(new, None) is None

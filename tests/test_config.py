import dataclasses

import pytest

from core.config import ConfigError, TrainConfig


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

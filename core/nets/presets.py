"""The architecture presets as data: name, source, the training settings they override, their options.

TensorFlow-free, so settings can be validated and listed (`python -m core archs`) without
importing Keras; core/nets/builders.py holds the Keras builders of the same names.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class ArchitectureError(ValueError):
    """Unknown architecture or impossible architecture options."""


MLP_LIMITS = {"layers": (0, 4), "units": (8, 1024), "dropout": (0.0, 0.8)}
CNN_LIMITS = {"blocks": (1, 3), "filters": (4, 128), "kernel_size": (2, 7), "dropout": (0.0, 0.8),
              "dense_units": (0, 512)}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")


def _check_number(label: str, value: Any, limits: tuple[float, float], whole: bool) -> None:
    low, high = limits
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise ArchitectureError(f"{label} must be {kind} from {low} to {high} (got {value!r}).")


def check_mlp(hidden=(128,), activation="relu", dropout=0.0) -> None:
    """Refuse impossible MLP options before anything is built."""
    if not isinstance(hidden, (list, tuple)):
        raise ArchitectureError(f"hidden must be a list of layer sizes, such as [256, 128] (got {hidden!r}).")
    _check_number("Number of hidden layers", len(hidden), MLP_LIMITS["layers"], whole=True)
    for units in hidden:
        _check_number("Units per layer", units, MLP_LIMITS["units"], whole=True)
    _check_number("Dropout", dropout, MLP_LIMITS["dropout"], whole=False)
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ArchitectureError(f"Activation must be one of {', '.join(ACTIVATIONS)} (got {activation!r}).")


def check_cnn(blocks=2, filters=32, kernel_size=3, batch_norm=True, dropout=0.25, dense_units=128) -> None:
    """Refuse impossible CNN options before anything is built."""
    for name, value in (("blocks", blocks), ("filters", filters), ("kernel_size", kernel_size),
                        ("dense_units", dense_units)):
        _check_number(name.replace("_", " ").capitalize(), value, CNN_LIMITS[name], whole=True)
    _check_number("Dropout", dropout, CNN_LIMITS["dropout"], whole=False)
    if not isinstance(batch_norm, bool):
        raise ArchitectureError(f"batch_norm must be true or false (got {batch_norm!r}).")


@dataclass(frozen=True)
class Preset:
    """A named architecture, where it comes from, and the training settings its source used (as overrides)."""

    name: str
    source: str
    parameters: int                            # for MNIST-shaped input, default options (checked by a test)
    logits: bool = False                       # the model outputs logits, not probabilities
    settings: dict[str, Any] = field(default_factory=dict)   # TrainConfig fields this preset overrides
    check: Callable[..., None] | None = None
    default_options: dict[str, Any] = field(default_factory=dict)

    @property
    def configurable(self) -> bool:
        return self.check is not None


PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("linear", "TensorFlow 2 beginner demo without activations (~92%)", 79_510, logits=True),
    Preset("mlp-512", "Deep Learning with Python, ch. 2 (97.8% after 5 epochs)", 407_050,
           settings={"optimizer": "rmsprop"}),
    Preset("mlp-128-64", "Keras MLP tutorial (~97%)", 109_386, logits=True, settings={"epochs": 10}),
    Preset("tiny-20px", "400-25-15-10 network trained on 5,000 images (~91%)", 10_575, logits=True,
           settings={"batch_size": 32, "epochs": 30, "limit": 5000}),
    Preset("cnn-basic", "Classic two-block convnet (~99%)", 225_034),
    Preset("cnn-bn", "CNN tutorial with BN, dropout, early stopping, ReduceLROnPlateau (>98%)", 225_930,
           settings={"epochs": 10, "early_stopping": True, "reduce_lr": True}),
    Preset("cnn-fast", "Digit Studio's fast one: three small BN conv blocks, one-cycle (99.1% in 2 epochs: 0.22x the time of Keras' example)", 17_818,
           settings={"schedule": "one-cycle", "learning_rate": 8e-3, "epochs": 2}),
    Preset("cnn-best", "Digit Studio's own BN convnet: augmentation, then 3 clean epochs, weights averaged over 3, "
                       "one-cycle on all 60,000 digits (99.71% in 15 epochs, median of 3 seeds)", 304_074,
           settings={"schedule": "one-cycle", "learning_rate": 3e-3, "epochs": 15, "augment": True,
                     "clean_epochs": 3, "weight_average": 3, "validation_split": 0.0}),
    Preset("custom-mlp", "Your own MLP, built with the sliders", 101_770, check=check_mlp,
           default_options={"hidden": (128,), "activation": "relu", "dropout": 0.0}),
    Preset("custom-cnn", "Your own CNN, built with the sliders", 422_026, check=check_cnn,
           default_options={"blocks": 2, "filters": 32, "kernel_size": 3, "batch_norm": True,
                            "dropout": 0.25, "dense_units": 128}),
]}


def get_preset(name: str) -> Preset:
    """The preset called `name`, or an error listing the known ones."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ArchitectureError(f"Unknown architecture {name!r}; choose one of: {', '.join(PRESETS)}.") from None


def validate_options(arch: str, options: Any = None) -> dict[str, Any]:
    """The preset's options merged with `options`, checked; raises ArchitectureError with a plain message."""
    preset = get_preset(arch)
    if options is not None and not isinstance(options, dict):
        raise ArchitectureError(f"Architecture options must be a JSON object such as {{\"dropout\": 0.2}} "
                                f"(got {options!r}).")
    if options and not preset.configurable:
        raise ArchitectureError(f"{arch} takes no options (got {', '.join(map(str, options))}).")
    merged = {**preset.default_options, **(options or {})}
    unknown = set(merged) - set(preset.default_options)
    if unknown:
        raise ArchitectureError(f"{arch} has no option(s) {', '.join(sorted(map(str, unknown)))}.")
    if preset.check:
        preset.check(**merged)
    return merged

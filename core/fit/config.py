"""TrainConfig: every setting of a training run, declared once in SETTINGS and validated in one place.

SETTINGS drives the validation here, the command-line flags (core/cli/train.py), the Train
page's widget limits and the one-line summary. TensorFlow-free: importing it is instant.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.data.datasets import DATASETS, DEFAULT_DATASET
from core.nets.presets import ArchitectureError, get_preset, validate_options
from core.store import StoreError, validate_name

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "one-cycle")
MAX_SEED = 2**31 - 1


class ConfigError(ValueError):
    """Impossible training settings; `problems` lists each in plain words."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(" ".join(problems))


@dataclass(frozen=True)
class Setting:
    """One training setting: what it is called, what values it takes, and what it means."""

    label: str
    kind: type                       # int, float, bool or str
    low: float | None = None
    high: float | None = None
    above_low: bool = False          # the low bound itself is refused (a learning rate of 0)
    choices: tuple[str, ...] = ()
    optional: bool = False           # None means "not set" (all samples, an automatic name)
    help: str = ""
    flag: str | None = None          # command-line flag, when not --field-name

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this setting, as a sentence; None when it is fine."""
        if value is None and self.optional:
            return None
        if self.choices:
            if not isinstance(value, str) or value not in self.choices:
                return f"{self.label} must be one of {', '.join(self.choices)} (got {value!r})."
            return None
        if self.kind is bool:
            return None if isinstance(value, bool) else f"{self.label} must be true or false (got {value!r})."
        if self.kind is str:
            return None if isinstance(value, str) else f"{self.label} must be text (got {value!r})."
        kinds = int if self.kind is int else (int, float)
        fits = (not isinstance(value, bool) and isinstance(value, kinds)
                and (value > self.low if self.above_low else value >= self.low) and value <= self.high)
        if fits:
            return None
        if self.kind is int:
            return f"{self.label} must be a whole number from {self.low} to {self.high} (got {value!r})."
        if self.above_low:
            return f"{self.label} must be above {self.low:g} and at most {self.high:g} (got {value!r})."
        return f"{self.label} must be between {self.low:g} and {self.high:g} (got {value!r})."


SETTINGS: dict[str, Setting] = {
    "dataset": Setting("Dataset", str, choices=tuple(DATASETS), help="What the network learns to recognise."),
    "epochs": Setting("Epochs", int, 1, 100, help="Passes over the training samples."),
    "batch_size": Setting("Batch size", int, 1, 4096, help="Samples per weight update."),
    "learning_rate": Setting("Learning rate", float, 0, 10, above_low=True, flag="lr",
                             help="How big a step each update takes."),
    "optimizer": Setting("Optimizer", str, choices=OPTIMIZERS),
    "schedule": Setting("Learning-rate schedule", str, choices=SCHEDULES,
                        help="one-cycle: warm up to the learning rate, then ease down to 1% of it."),
    "validation_split": Setting("Validation split", float, 0, 0.5,
                                help="Held out from the training samples to check the model on unseen images."),
    "limit": Setting("Training-sample limit", int, 50, 60000, optional=True,
                     help="Train on a random subset: fewer samples train faster and learn less."),
    "augment": Setting("Augmentation", bool, help="Randomly shift, turn and zoom the training images."),
    "clean_epochs": Setting("Clean last epochs", int, 0, 100,
                            help="With augmentation: train this many last epochs on the digits as they are, so "
                                 "the network ends on real digits (the first epoch is always augmented; "
                                 "0: augment to the end)."),
    "weight_average": Setting("Weight averaging", int, 0, 100,
                              help="Test and save the average of the weights over about this many last epochs "
                                   "(a moving average, at most the whole run) instead of the last weights: it "
                                   "smooths out the last steps' noise (0: the last weights)."),
    "stroke_copies": Setting("Stroke-drawn copies", int, 0, 120000,
                             help="Add this many training digits redrawn with a round pen, the way people draw "
                                  "with a mouse, so the network learns to read drawings (digits only; about "
                                  "4 ms each to make before training starts)."),
    "start_from": Setting("Start from", str, optional=True,
                          help="A stored model's name: train it further instead of building a new network "
                               "(its architecture and dataset must match these settings); empty: a new network."),
    "drawings_weight": Setting("Weight of your drawings", int, 0, 100,
                               help="Train on the kept drawings too: each training drawing is shown this many "
                                    "times per epoch (0: not used; digits only)."),
    "drawings_held_out": Setting("Drawings held out", float, 0.05, 0.9,
                                 help="Share of the kept drawings never trained on, kept to measure the model "
                                      "on before and after training."),
    "early_stopping": Setting("Early stopping", bool,
                              help="Stop when the validation loss has not improved for 3 epochs."),
    "reduce_lr": Setting("Reduce learning rate on plateau", bool,
                         help="Halve the learning rate when the validation loss stalls."),
    "seed": Setting("Seed", int, 0, MAX_SEED, help="Same seed, same settings: the same run again."),
    "name": Setting("Model name", str, optional=True, help="Letters, digits, '-', '_' or '.'; automatic if empty."),
}


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings (after nanoGPT's GPTConfig: plain fields, checked in __post_init__)."""

    arch: str = "cnn-basic"
    options: dict[str, Any] = field(default_factory=dict)
    dataset: str = DEFAULT_DATASET
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    validation_split: float = 0.1
    limit: int | None = None
    augment: bool = False
    clean_epochs: int = 0
    weight_average: int = 0
    stroke_copies: int = 0
    start_from: str | None = None
    drawings_weight: int = 0
    drawings_held_out: float = 0.25
    early_stopping: bool = False
    reduce_lr: bool = False
    seed: int = 0
    name: str | None = None

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    @classmethod
    def for_preset(cls, arch: str, **overrides: Any) -> "TrainConfig":
        """The preset's own settings, with `overrides` (None values are ignored) on top."""
        try:
            preset = get_preset(arch)
        except ArchitectureError as exc:
            raise ConfigError([str(exc)]) from None
        chosen = {k: v for k, v in overrides.items() if v is not None}
        return cls(arch=arch, **{**preset.settings, **chosen})

    @classmethod
    def from_dict(cls, values: Any) -> "TrainConfig":
        """A config from stored or sent values (unknown keys are refused, so nothing is silently dropped)."""
        if not isinstance(values, dict):
            raise ConfigError([f"Settings must be a mapping of names to values (got {values!r})."])
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError([f"Unknown setting(s): {', '.join(map(str, unknown))}."])
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        return settings_summary(self.to_dict())

    def problems(self) -> list[str]:
        """Everything wrong with these settings, as sentences; empty when they are fine."""
        problems = []
        try:
            validate_options(self.arch, self.options)
        except ArchitectureError as exc:
            problems.append(str(exc))
        for name, setting in SETTINGS.items():
            problem = setting.problem(getattr(self, name))
            if problem:
                problems.append(problem)
        if self.schedule == "one-cycle" and self.reduce_lr is True:
            problems.append("Reduce-LR-on-plateau cannot adjust a one-cycle schedule: turn one of them off.")
        if (self.early_stopping is True or self.reduce_lr is True) and self.validation_split == 0:
            problems.append("Early stopping and reduce-LR-on-plateau watch the validation loss: "
                            "set a validation split above 0.")
        if isinstance(self.stroke_copies, int) and self.stroke_copies > 0 and self.dataset in DATASETS \
                and not DATASETS[self.dataset].is_digits:
            problems.append(f"Stroke-drawn copies are redrawn digits: {DATASETS[self.dataset].title} has none. "
                            "Set them to 0.")
        if isinstance(self.drawings_weight, int) and self.drawings_weight > 0 and self.dataset in DATASETS \
                and not DATASETS[self.dataset].is_digits:
            problems.append(f"Your drawings are digits: {DATASETS[self.dataset].title} has none. "
                            "Set the weight of your drawings to 0.")
        for label, value in (("Start from", self.start_from), (None, self.name)):
            if not isinstance(value, str):
                continue
            try:
                validate_name(value)
            except StoreError as exc:
                problems.append(f"{label}: {exc}" if label else str(exc))
        return problems


def settings_summary(values: dict[str, Any]) -> str:
    """A run's settings in one short line; tolerates partial or old stored settings."""
    v = values if isinstance(values, dict) else {}

    def number(key: str) -> Any:
        value = v.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    parts = []
    if v.get("dataset") not in (None, DEFAULT_DATASET):
        parts.append(str(v["dataset"]))
    if number("epochs") is not None:
        parts.append(f"{v['epochs']:g} epoch{'s' if v['epochs'] != 1 else ''}")
    parts.append(f"{number('limit'):,.0f} samples" if number("limit") else "all samples")
    if number("batch_size") is not None:
        parts.append(f"batch {v['batch_size']:g}")
    if isinstance(v.get("optimizer"), str):
        lr = f" lr {number('learning_rate'):g}" if number("learning_rate") is not None else ""
        schedule = f" ({v['schedule']})" if v.get("schedule") not in (None, "constant") else ""
        parts.append(f"{v['optimizer']}{lr}{schedule}")
    if number("validation_split") is not None:
        parts.append(f"validation {v['validation_split']:.0%}")
    parts += [label for key, label in (("augment", "augmentation"), ("early_stopping", "early stopping"),
                                       ("reduce_lr", "reduce LR")) if v.get(key) is True]
    if v.get("augment") is True and number("clean_epochs"):
        parts.append(f"last {v['clean_epochs']:g} epoch{'s' if v['clean_epochs'] != 1 else ''} clean")
    if number("weight_average"):
        parts.append(f"weights averaged over {v['weight_average']:g} epoch{'s' if v['weight_average'] != 1 else ''}")
    if number("stroke_copies"):
        parts.append(f"{v['stroke_copies']:,.0f} stroke-drawn copies")
    if isinstance(v.get("start_from"), str):
        parts.insert(0, f"from {v['start_from']}")
    if number("drawings_weight"):
        held = f", {v['drawings_held_out']:.0%} held out" if number("drawings_held_out") is not None else ""
        parts.append(f"your drawings ×{v['drawings_weight']:g}{held}")
    if isinstance(v.get("options"), dict) and v["options"]:
        parts.append(", ".join(f"{k}={val}" for k, val in v["options"].items()))
    if number("seed") is not None:
        parts.append(f"seed {v['seed']:g}")
    return " · ".join(parts)


NOT_SET = {"limit": "all", "start_from": "a new network"}   # what None means for an optional setting


def _setting_value(key: str, value: Any) -> str:
    if value is None:
        return NOT_SET.get(key, "not set")
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "the preset's own"
    return str(value)


def settings_differences(first: Any, second: Any) -> list[str] | None:
    """How two runs' stored settings differ, one phrase per setting ("Augmentation: on / off"), the architecture
    and its options first, then SETTINGS' order; None when either run's settings were not stored. A setting
    missing from one (stored before it existed) counts as its default. Model names are not compared."""
    if not isinstance(first, dict) or not isinstance(second, dict) or not first or not second:
        return None
    defaults = TrainConfig().to_dict() | {"arch": None, "options": {}}
    labels = {"arch": "Architecture", "options": "Architecture options",
              **{key: setting.label for key, setting in SETTINGS.items() if key != "name"}}
    return [f"{label}: {_setting_value(key, first.get(key, defaults[key]))} / "
            f"{_setting_value(key, second.get(key, defaults[key]))}"
            for key, label in labels.items() if first.get(key, defaults[key]) != second.get(key, defaults[key])]

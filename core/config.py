"""TrainConfig: every setting of a training run, validated in one place."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core import models
from core.store import StoreError, validate_name

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "one-cycle")
LIMITS = {"epochs": (1, 100), "batch_size": (1, 4096), "limit": (50, 60000)}


class ConfigError(ValueError):
    """Impossible training settings; `problems` lists each in plain words."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(" ".join(problems))


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings (after nanoGPT's GPTConfig: plain fields, checked in __post_init__)."""

    arch: str = "cnn-basic"
    options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    validation_split: float = 0.1
    limit: int | None = None
    augment: bool = False
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
        """The preset's own defaults, with `overrides` (None values are ignored) on top."""
        try:
            preset = models.get_preset(arch)
        except models.ArchitectureError as exc:
            raise ConfigError([str(exc)]) from None
        defaults = {name: getattr(preset, name) for name in
                    ("optimizer", "schedule", "learning_rate", "batch_size", "epochs", "limit",
                     "augment", "early_stopping", "reduce_lr")}
        chosen = {k: v for k, v in overrides.items() if v is not None}
        return cls(arch=arch, **{**defaults, **chosen})

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def problems(self) -> list[str]:
        """Everything wrong with these settings, as sentences; empty when they are fine."""
        problems = []

        def check_int(name: str, value: Any, label: str) -> None:
            low, high = LIMITS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                problems.append(f"{label} must be a whole number from {low} to {high} (got {value!r}).")

        try:
            models.validate_options(self.arch, self.options)
        except models.ArchitectureError as exc:
            problems.append(str(exc))
        check_int("epochs", self.epochs, "Epochs")
        check_int("batch_size", self.batch_size, "Batch size")
        if self.limit is not None:
            check_int("limit", self.limit, "Training-sample limit")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) \
                or not 0 < self.learning_rate <= 10:
            problems.append(f"Learning rate must be above 0 and at most 10 (got {self.learning_rate!r}).")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"Optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r}).")
        if self.schedule not in SCHEDULES:
            problems.append(f"Learning-rate schedule must be one of {', '.join(SCHEDULES)} (got {self.schedule!r}).")
        elif self.schedule == "one-cycle" and self.reduce_lr:
            problems.append("Reduce-LR-on-plateau cannot adjust a one-cycle schedule: turn one of them off.")
        if not isinstance(self.validation_split, (int, float)) or not 0 <= self.validation_split <= 0.5:
            problems.append(f"Validation split must be between 0 and 0.5 (got {self.validation_split!r}).")
        elif (self.early_stopping or self.reduce_lr) and self.validation_split == 0:
            problems.append("Early stopping and reduce-LR-on-plateau watch the validation loss: "
                            "set a validation split above 0.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"Seed must be a whole number 0 or above (got {self.seed!r}).")
        if self.name is not None:
            try:
                validate_name(self.name)
            except StoreError as exc:
                problems.append(str(exc))
        return problems

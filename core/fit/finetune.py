"""Fine-tuning: a run that starts from a stored model, trains on the users' kept drawings too, or both.

TrainConfig says what (start_from, drawings_weight, drawings_held_out); this module is the part the
recipe and train() call, so a fine-tune is an ordinary run in every executor. A seeded share of the
drawings is held out and never trained on: accuracy on it, and on the test set, before and after,
says whether the model now reads people's drawings better without forgetting MNIST. The figures and
where the model came from go in its metadata (ModelMeta.extra) and note. `check` refuses a missing or
mismatched base model and too few drawings before anything is loaded; FineTuneSettings and
`config_for` give the command line's and the pages' fine-tune its settings.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.fit.config import MAX_SEED, TrainConfig

if TYPE_CHECKING:
    from core.store import ModelMeta, ModelStore

MIN_DRAWINGS = 10
# What choosing "a stored model" starts from: a few gentle epochs on part of MNIST plus the drawings.
FINE_TUNE_DEFAULTS: dict[str, Any] = {"epochs": 3, "learning_rate": 3e-4, "schedule": "constant", "optimizer": "adam",
                                      "limit": 10_000, "drawings_weight": 5, "augment": False,
                                      "early_stopping": False, "reduce_lr": False, "validation_split": 0.1,
                                      "weight_average": 0}
LIMITS = {"epochs": (1, 20), "drawing_weight": (1, 100), "mnist_samples": (50, 60_000), "batch_size": (8, 1024)}


class FineTuneError(ValueError):
    """A fine-tune that cannot run: a mismatched base model, too few drawings, impossible settings.
    Raised before any training."""


@dataclass(frozen=True)
class FineTuneSettings:
    """The command line's fine-tune (`python -m core drawings finetune`), checked by `check`; `config`
    turns it into the TrainConfig that train() runs."""

    epochs: int = 3
    held_out: float = 0.25          # share of the drawings kept for testing, never trained on
    drawing_weight: int = 5         # each training drawing is shown this many times per epoch
    mnist_samples: int = 10_000     # MNIST training digits mixed in, so the model keeps reading MNIST
    learning_rate: float = 3e-4     # Adam; low, to adjust a trained model rather than retrain it
    batch_size: int = 64
    seed: int = 0                   # the held-out choice, the MNIST sample and the shuffling

    def check(self) -> "FineTuneSettings":
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise FineTuneError(f"{name.replace('_', ' ').capitalize()} must be a whole number from {low} "
                                    f"to {high} (got {value!r}).")
        if isinstance(self.held_out, bool) or not isinstance(self.held_out, (int, float)) \
                or not 0.05 <= self.held_out <= 0.9:
            raise FineTuneError(f"Held-out share must be between 0.05 and 0.9 (got {self.held_out!r}).")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) \
                or not 1e-6 <= self.learning_rate <= 0.1:
            raise FineTuneError(f"Learning rate must be from 1e-06 to 0.1 (got {self.learning_rate!r}).")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise FineTuneError(f"Seed must be a whole number from 0 to {MAX_SEED} (got {self.seed!r}).")
        return self

    def config(self, base: str, meta: "ModelMeta", name: str | None = None) -> TrainConfig:
        """The run: `base` trained further on `mnist_samples` MNIST digits (no validation share) plus the drawings."""
        return config_for(base, meta, epochs=self.epochs, drawings_held_out=float(self.held_out),
                          drawings_weight=self.drawing_weight, limit=self.mnist_samples,
                          learning_rate=float(self.learning_rate), batch_size=self.batch_size, seed=self.seed,
                          validation_split=0.0, name=name)


def config_for(base: str, meta: "ModelMeta", **overrides: Any) -> TrainConfig:
    """A fine-tune of stored model `base` (its metadata `meta`): its architecture, options and dataset,
    FINE_TUNE_DEFAULTS, then `overrides`. ConfigError if they make no valid run."""
    stored = meta.config if isinstance(meta.config, dict) else {}
    options = stored.get("options") if isinstance(stored.get("options"), dict) else {}
    defaults = dict(FINE_TUNE_DEFAULTS)
    if meta.dataset != "mnist":
        defaults.pop("drawings_weight")  # drawings are digits
    values = {"options": options, "dataset": meta.dataset, **defaults, "start_from": base, **overrides}
    return TrainConfig.for_preset(values.pop("arch", meta.arch), **values)


def held_out_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held_out) index arrays of n drawings; the held-out share is rounded, at least 1, seeded."""
    held = min(max(1, int(round(n * share))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def plan(drawing_count: int, held_out: float) -> tuple[int, int]:
    """(trained on, held out) for this many drawings, or FineTuneError if there are too few."""
    if drawing_count < MIN_DRAWINGS:
        raise FineTuneError(f"Fine-tuning needs at least {MIN_DRAWINGS} kept drawings (there "
                            f"{'is' if drawing_count == 1 else 'are'} {drawing_count}): keep more on the Draw page.")
    train, held = held_out_split(drawing_count, held_out, 0)
    return len(train), len(held)


class KeptDrawings:
    """Drawings as arrays, standing in for a DrawingStore where the database cannot be reached (a Ray node)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x, self.y

    def count(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DrawingSplit:
    """The drawings of one run, normalised like the dataset: those trained on (each repeated `weight`
    times) and those held out."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_held: np.ndarray
    y_held: np.ndarray
    count: int          # all the drawings used: trained on plus held out
    weight: int

    @property
    def held(self) -> int:
        return len(self.y_held)


def base_meta(config: TrainConfig, store: "ModelStore") -> "ModelMeta | None":
    """The stored model `config` starts from (None for a new network); StoreError if it is missing or broken,
    FineTuneError if it reads another dataset or has another architecture than `config`."""
    if config.start_from is None:
        return None
    meta = store.read_meta(config.start_from)
    name = config.start_from
    if meta.dataset != config.dataset:
        raise FineTuneError(f"{name} reads {meta.dataset}, but these settings train on {config.dataset}: "
                            f"choose {meta.dataset}, or another model to start from.")
    if meta.arch != config.arch:
        raise FineTuneError(f"{name} is a {meta.arch} network, but these settings ask for {config.arch}: a run that "
                            f"starts from a stored model keeps its architecture (choose {meta.arch}).")
    return meta


def drawing_split(config: TrainConfig, drawings=None) -> DrawingSplit | None:
    """The run's drawings (from `drawings`, else the DrawingStore), split by config.seed; None when the
    config does not use them; FineTuneError if there are too few."""
    if not config.drawings_weight:
        return None
    if drawings is None:
        from core.drawings import DrawingStore

        drawings = DrawingStore()
    x, y = drawings.arrays()
    plan(len(y), config.drawings_held_out)
    train, held = held_out_split(len(y), config.drawings_held_out, config.seed)
    from core.data.datasets import normalise

    return DrawingSplit(np.repeat(normalise(x[train]), config.drawings_weight, axis=0),
                        np.repeat(y[train], config.drawings_weight), normalise(x[held]), y[held], len(y),
                        config.drawings_weight)


def check(config: TrainConfig, store: "ModelStore", drawings=None) -> tuple[int, int] | None:
    """Everything a fine-tune needs, checked before anything is loaded or trained: the base model (see
    base_meta) and enough drawings. Returns (trained on, held out) when the run uses drawings."""
    base_meta(config, store)
    if not config.drawings_weight:
        return None
    if drawings is None:
        from core.drawings import DrawingStore

        drawings = DrawingStore()
    return plan(drawings.count(), config.drawings_held_out)


def load_base(config: TrainConfig, store: "ModelStore"):
    """The stored model to train further (outputs probabilities), after base_meta's checks."""
    base_meta(config, store)
    return store.load(config.start_from)


def with_drawings(split, drawings: DrawingSplit):
    """`split` (core.data.datasets.Split) with the drawings to train on added to its training samples."""
    from core.data.datasets import Split

    return Split(np.concatenate([split.x_train, drawings.x_train]),
                 np.concatenate([split.y_train, drawings.y_train.astype(split.y_train.dtype)]),
                 split.x_val, split.y_val)


def tuned(config: TrainConfig) -> bool:
    """Whether a run is a fine-tune: it starts from a stored model or trains on the drawings."""
    return config.start_from is not None or bool(config.drawings_weight)


def scores(model, drawings: DrawingSplit | None, test_accuracy: float | None = None, test=None) -> dict[str, float]:
    """{"drawings_accuracy" (held-out drawings, if any), "test_accuracy"} of a probabilities model; the test
    accuracy as given, else measured on `test` = (x, y)."""
    from core.nets.evaluation import evaluate

    figures = {}
    if drawings is not None:
        figures["drawings_accuracy"] = evaluate(model, drawings.x_held, drawings.y_held).accuracy
    figures["test_accuracy"] = test_accuracy if test_accuracy is not None else evaluate(model, *test).accuracy
    return figures


def default_name(config: TrainConfig) -> str | None:
    """`<base>-tuned` for a run that starts from a stored model and was given no name (the store adds -2, -3)."""
    if config.name is None and config.start_from is not None:
        return f"{config.start_from}-tuned"
    return None


def provenance(config: TrainConfig, drawings: DrawingSplit | None, before: dict, after: dict,
               test_samples: int, test_title: str, mnist_samples: int) -> tuple[dict[str, Any], str]:
    """(ModelMeta.extra, note) of a fine-tuned run: where it came from, its drawings and the figures."""
    settings = {k: getattr(config, k) for k in ("epochs", "learning_rate", "optimizer", "batch_size", "limit",
                                                "stroke_copies", "drawings_weight", "drawings_held_out", "seed")}
    extra = {"fine_tuned_from": config.start_from, "drawings": drawings.count if drawings else 0,
             "held_out": drawings.held if drawings else 0, "before": before, "after": after,
             "fine_tune": settings, "test_samples": test_samples}
    source = f"Fine-tuned from {config.start_from}" if config.start_from else "Trained"
    copies = f" and {config.stroke_copies:,} stroke-drawn copies" if config.stroke_copies else ""
    if drawings:
        held = drawings.held
        note = (f"{source} on {drawings.count - held} of your drawings ({held} held out for testing) and "
                f"{mnist_samples:,} MNIST digits{copies}; held-out drawings "
                f"{100 * before['drawings_accuracy']:.1f}% -> {100 * after['drawings_accuracy']:.1f}%, ")
    else:
        note = f"{source} on {mnist_samples:,} {test_title} training images{copies}; "
    note += f"{test_title} test {100 * before['test_accuracy']:.2f}% -> {100 * after['test_accuracy']:.2f}%."
    return extra, note


def as_probabilities(preset):
    """The preset of a model loaded from the store: it outputs probabilities whatever the preset builds."""
    return dataclasses.replace(preset, logits=False)


def figure_lines(before: dict, after: dict, test_title: str) -> list[str]:
    """'held-out drawings 0.1800 -> 0.7800' and '<dataset> test ...' lines, for the command line."""
    rows = [("drawings_accuracy", "held-out drawings"), ("test_accuracy", f"{test_title} test")]
    return [f"{title:<17} {before[key]:.4f} -> {after[key]:.4f}" for key, title in rows if key in before]

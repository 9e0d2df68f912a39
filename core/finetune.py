"""Fine-tune a stored model on MNIST plus the users' drawings; the result is saved as a new model.

A seeded share of the drawings is held out and never trained on: accuracy on it, and on
MNIST test, before and after, says whether the model now reads people's drawings better
without forgetting MNIST. The figures and where the model came from go in its metadata
(ModelMeta.extra). A plain function, so the command line and a training job can both call it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

MIN_DRAWINGS = 10
LIMITS = {"epochs": (1, 20), "drawing_weight": (1, 100), "mnist_samples": (0, 60_000), "batch_size": (8, 1024)}


class FineTuneError(ValueError):
    """Impossible fine-tuning settings, or too few drawings; raised before any training."""


@dataclass(frozen=True)
class FineTuneSettings:
    """How to fine-tune: every field has a sensible default and is checked by `check`."""

    epochs: int = 3
    held_out: float = 0.25          # share of the drawings kept for testing, never trained on
    drawing_weight: int = 5         # each training drawing is shown this many times per epoch
    mnist_samples: int = 10_000     # MNIST training digits mixed in, so the model keeps reading MNIST
    learning_rate: float = 3e-4     # Adam; low, to adjust a trained model rather than retrain it
    batch_size: int = 64
    seed: int = 0                   # the held-out choice, the MNIST sample and the shuffling
    test_limit: int | None = None   # MNIST test digits scored before and after (None: all 10,000)

    def check(self) -> "FineTuneSettings":
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise FineTuneError(f"{name.replace('_', ' ').capitalize()} must be a whole number from {low} "
                                    f"to {high} (got {value!r}).")
        if isinstance(self.held_out, bool) or not isinstance(self.held_out, (int, float)) \
                or not 0 < self.held_out < 1:
            raise FineTuneError(f"Held-out share must be between 0 and 1, both excluded (got {self.held_out!r}).")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, (int, float)) \
                or not 1e-6 <= self.learning_rate <= 0.1:
            raise FineTuneError(f"Learning rate must be from 1e-06 to 0.1 (got {self.learning_rate!r}).")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise FineTuneError(f"Seed must be a whole number from 0 to 4294967295 (got {self.seed!r}).")
        if self.test_limit is not None and (isinstance(self.test_limit, bool) or not isinstance(self.test_limit, int)
                                            or not 100 <= self.test_limit <= 10_000):
            raise FineTuneError(f"Test limit must be a whole number from 100 to 10000 (got {self.test_limit!r}).")
        return self


@dataclass(frozen=True)
class FineTuneResult:
    """The saved model's name and the figures before and after: {"drawings_accuracy", "mnist_accuracy"}."""

    model_name: str
    base: str
    drawings: int                  # all the drawings used: trained on plus held out
    held_out: int
    before: dict[str, float]
    after: dict[str, float]
    history: tuple[dict[str, float], ...]
    train_seconds: float


def held_out_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held_out) index arrays of n drawings; the held-out share is rounded, at least 1, seeded."""
    held = min(max(1, int(round(n * share))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def plan(drawing_count: int, settings: FineTuneSettings) -> tuple[int, int]:
    """(trained on, held out) for this many drawings, or FineTuneError if there are too few."""
    settings.check()
    if drawing_count < MIN_DRAWINGS:
        raise FineTuneError(f"Fine-tuning needs at least {MIN_DRAWINGS} kept drawings (there "
                            f"{'is' if drawing_count == 1 else 'are'} {drawing_count}): keep more on the Draw page.")
    train, held = held_out_split(drawing_count, settings.held_out, settings.seed)
    return len(train), len(held)


def _scores(model, x_drawings, y_drawings, x_test, y_test):
    """({"drawings_accuracy", "mnist_accuracy"}, the MNIST test Evaluation)."""
    from core.evaluation import evaluate

    mnist = evaluate(model, x_test, y_test)
    return {"drawings_accuracy": evaluate(model, x_drawings, y_drawings).accuracy,
            "mnist_accuracy": mnist.accuracy}, mnist


def fine_tune(base: str, drawings=None, settings: FineTuneSettings | None = None, *, store=None,
              name: str | None = None, callbacks=()) -> FineTuneResult:
    """Train `base` (a stored MNIST model) further on MNIST plus the drawings and save it as a new model
    named `name` (default `<base>-tuned`, or -2, -3... if taken). Settings, the name, the base model and
    the number of drawings are all checked before training starts. `callbacks`: Keras callbacks
    (progress, stop) passed to fit."""
    from core import datasets
    from core.drawings import DrawingStore
    from core.store import ModelStore, validate_name

    settings = (settings or FineTuneSettings()).check()
    store = store or ModelStore()
    drawings = drawings or DrawingStore()
    name = validate_name(name or f"{base}-tuned")
    meta = store.read_meta(base)  # StoreError if missing or broken
    if meta.dataset != "mnist":
        raise FineTuneError(f"{base} reads {meta.dataset}, not digits: fine-tune a model trained on MNIST.")
    x_all, y_all = drawings.arrays()
    plan(len(y_all), settings)
    train, held = held_out_split(len(y_all), settings.held_out, settings.seed)
    mnist = datasets.load("mnist")
    x_test, y_test = mnist.test_arrays()
    if settings.test_limit:
        x_test, y_test = x_test[:settings.test_limit], y_test[:settings.test_limit]
    x_held, y_held = datasets.normalise(x_all[held]), y_all[held]

    import keras

    model = store.load(base)
    before, _ = _scores(model, x_held, y_held, x_test, y_test)
    x_fit = np.repeat(datasets.normalise(x_all[train]), settings.drawing_weight, axis=0)
    y_fit = np.repeat(y_all[train], settings.drawing_weight)
    if settings.mnist_samples:
        sample = datasets.split(mnist, validation_split=0.0, seed=settings.seed, limit=settings.mnist_samples)
        x_fit, y_fit = np.concatenate([sample.x_train, x_fit]), np.concatenate([sample.y_train, y_fit])
    keras.utils.set_random_seed(settings.seed)
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    started = time.perf_counter()
    fit = model.fit(x_fit, y_fit.astype(np.int64), batch_size=settings.batch_size, epochs=settings.epochs,
                    shuffle=True, verbose=0, callbacks=list(callbacks))
    seconds = time.perf_counter() - started
    after, tested = _scores(model, x_held, y_held, x_test, y_test)
    history = tuple({k: float(v[i]) for k, v in fit.history.items()} for i in range(len(fit.epoch)))
    saved = _save(store, name, model, meta, base, settings, len(y_all), len(held), before, after, history, seconds,
                  tested, bool(getattr(model, "stop_training", False)))
    return FineTuneResult(saved, base, len(y_all), len(held), before, after, history, round(seconds, 2))


def _save(store, name, model, meta, base, settings, n, held, before, after, history, seconds, tested,
          stopped) -> str:
    """Save an uncompiled copy with its provenance in ModelMeta.extra; returns the name used."""
    from core import models
    from core.store import ModelMeta, TestMetrics

    extra = {"fine_tuned_from": base, "drawings": n, "held_out": held, "before": before, "after": after,
             "fine_tune": asdict(settings), "mnist_test_samples": len(tested.labels)}
    summary = tested.summary()
    note = (f"Fine-tuned from {base} on {n - held} of your drawings ({held} held out for testing) and "
            f"{settings.mnist_samples:,} MNIST digits; held-out drawings {100 * before['drawings_accuracy']:.1f}% -> "
            f"{100 * after['drawings_accuracy']:.1f}%, MNIST test {100 * before['mnist_accuracy']:.2f}% -> "
            f"{100 * after['mnist_accuracy']:.2f}%.")
    new = ModelMeta(arch=meta.arch, dataset="mnist", config=meta.config, history=history,
                    test_metrics=TestMetrics(summary["accuracy"], summary["loss"], tuple(summary["precision"]),
                                             tuple(summary["recall"]), tuple(map(tuple, summary["confusion"]))),
                    parameters=model.count_params(),
                    created=time.strftime("%Y-%m-%d %H:%M:%S"), created_unix=time.time(),
                    train_seconds=round(seconds, 2), stopped_early=stopped, note=note, extra=extra)
    return store.save(name, models.for_inference(model, logits=False), new, new=True)

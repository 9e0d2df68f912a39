"""From a TrainConfig to a compiled model and the exact `fit` arguments.

TrainingJob and the benchmarks share this, so "bare model.fit" and "fit through a
job" train the very same thing. A run that starts from a stored model, or trains on the
users' drawings too, gets them from core.fit.finetune.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.data import datasets
from core.data.augment import augmented_dataset
from core.data.batches import batches
from core.fit import finetune, warm
from core.fit.config import TrainConfig
from core.nets import builders
from core.store.run_events import RunEvent, clean_text

WARMUP_SHARE = 0.2  # one-cycle: share of all steps spent warming up to the peak rate


@dataclass
class FitPlan:
    """A compiled model and the keyword arguments for its `fit`, minus callbacks."""

    model: keras.Model
    preset: builders.Preset
    fit_args: dict[str, Any]
    batches_per_epoch: int
    train_samples: int
    has_validation: bool
    dataset_samples: int = 0                           # of train_samples, those from the dataset itself
    drawings: finetune.DrawingSplit | None = None      # the users' drawings trained on and held out
    train_data: tuple[np.ndarray, np.ndarray] | None = None  # (x, y) trained on, as arrays (Steps, gradients)
    augment_flag: Any = None                           # a tf.Variable: augmentation on or off from the next batch
    validation_data: tuple[np.ndarray, np.ndarray] | None = None  # (x, y) validated on, as arrays


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over GPUs (or logical CPUs) when more than one is present, else the default."""
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def built_before_fit(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Create the compiled loss's and metrics' state (and any layer's) now, from one batch's shapes, as Keras does
    itself before fit under a distribution strategy of its own. Under the default strategy Keras leaves it to the
    first trace of the training step, and a tf.function that creates variables while it traces is traced again:
    a first run traced its training step twice (mlp-128-64: about 0.15 s more, a tenth of a short run's first
    run; benchmarks section 14). Nothing for a model that is built already (a kept one, core.fit.warm)."""
    model._symbolic_build(data_batch=(x, y))  # Keras' own (private) step: no public call builds the metrics


def learning_rate(config: TrainConfig, batches_per_epoch: int):
    """A constant rate, or a one-cycle schedule: warm up to the peak, then cosine down to 1% of it."""
    if config.schedule == "constant":
        return config.learning_rate
    total = config.epochs * batches_per_epoch
    warmup = max(1, int(total * WARMUP_SHARE))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 10, decay_steps=max(1, total - warmup), alpha=0.01,
        warmup_target=config.learning_rate, warmup_steps=warmup)


def average_momentum(config: TrainConfig, batches_per_epoch: int) -> float | None:
    """The moving average's momentum for `weight_average` epochs (at most the run's): its horizon, 1 / (1 -
    momentum), is that many epochs' steps. Keras' optimizer keeps the average and fit ends by copying it into
    the weights (use_ema). None when the run keeps its last weights."""
    if not config.weight_average:
        return None
    steps = max(1, min(config.weight_average, config.epochs) * batches_per_epoch)
    return 1.0 - 1.0 / (steps + 1)


def plan_fit(config: TrainConfig, store=None, drawings=None, stop_requested=None, clock=None,
             keep_warm: bool = False) -> FitPlan:
    """Seed everything, split the data, build (or load, with `start_from`) and compile the model inside the
    distribution strategy. `store` holds the model to start from (default ModelStore()); `drawings` the
    users' drawings (default DrawingStore()). A fine-tune's problems (core.fit.finetune.check) are raised
    before anything is loaded. Making stroke copies takes a while: `stop_requested()` true then raises
    core.fit.progress.StopRequested. `clock` (a core.fit.progress.PhaseClock) times the data and the build.
    With `keep_warm` (a worker that trains run after run), the compiled model comes from core.fit.warm."""
    from core.fit.progress import PhaseClock

    clock = clock or PhaseClock()
    if config.start_from is not None and store is None:
        from core.store import ModelStore

        store = ModelStore()
    finetune.base_meta(config, store)                  # a missing or mismatched base: before the data
    kept = finetune.drawing_split(config, drawings)    # too few drawings: likewise
    preset = builders.get_preset(config.arch)
    seed_everything(config.seed, keep_kernels=keep_warm)
    with clock("data"):
        dataset = datasets.load(config.dataset)
        split = datasets.split(dataset, config.validation_split, config.seed, config.limit)
        dataset_samples = len(split.y_train)
        if config.stroke_copies:
            split = with_stroke_copies(split, dataset, config.stroke_copies, config.seed, stop_requested)
        if kept is not None:
            split = finetune.with_drawings(split, kept)
    batches_per_epoch = int(np.ceil(len(split.y_train) / config.batch_size))
    def compile_model(model: keras.Model) -> None:
        optimizer = keras.optimizers.get({"class_name": config.optimizer, "config": {}})
        momentum = average_momentum(config, batches_per_epoch)
        optimizer = optimizer.__class__(learning_rate=learning_rate(config, batches_per_epoch),
                                        **({"use_ema": True, "ema_momentum": momentum} if momentum else {}))
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=preset.logits),
                      metrics=["accuracy"])

    def build() -> keras.Model:
        return builders.build_model(config.arch, config.options, dataset.spec.input_shape, dataset.spec.num_classes)

    with clock("build"), distribution_strategy().scope():
        key = warm.model_key(config, preset.logits, dataset.spec.input_shape, dataset.spec.num_classes,
                             batches_per_epoch) if keep_warm else None
        if key is not None:
            model = warm.compiled_model(key, build, compile_model,
                                        config.learning_rate if config.schedule == "constant" else None)
        else:
            if config.start_from is not None:
                model = finetune.load_base(config, store)
                preset = finetune.as_probabilities(preset)
            else:
                model = build()
            compile_model(model)
        built_before_fit(model, split.x_train[:config.batch_size], split.y_train[:config.batch_size])
    has_val = len(split.y_val) > 0
    with clock("data"):  # the pipelines: copying the arrays in costs a short run ~10-20 ms
        validation = batches(split.x_val, split.y_val, config.batch_size, shuffle=False) if has_val else None
        fit_args: dict[str, Any] = dict(epochs=config.epochs, verbose=0, validation_data=validation,
                                        shuffle=False)  # the batches shuffle themselves (Keras warns otherwise)
        augment_flag = None
        if config.augment:
            augment_flag = tf.Variable(True, trainable=False, name="augment")  # switched mid-run (core.fit.steering)
            fit_args.update(x=augmented_dataset(split.x_train, split.y_train, config.batch_size, config.seed,
                                                switch=augment_flag))
        else:  # not the arrays themselves: Keras' own pipeline for them can hang when dropped (core.data.batches)
            fit_args.update(x=batches(split.x_train, split.y_train, config.batch_size, config.seed))
    return FitPlan(model, preset, fit_args, batches_per_epoch, len(split.y_train), has_val, dataset_samples, kept,
                   (split.x_train, split.y_train), augment_flag,
                   (split.x_val, split.y_val) if has_val else None)


def seed_everything(seed: int, keep_kernels: bool = False) -> None:
    """keras.utils.set_random_seed(seed); with `keep_kernels`, TensorFlow's eager seed is set the same way but
    its kernel cache is kept. tf.random.set_seed clears that cache, and a warm worker's next run then pays
    TensorFlow's function instantiation again: most of a second, the largest part of a short run's overhead
    (`make bench`, section 14). Our runs draw no random numbers from cached eager kernels (initializers and
    dropout use Keras' seeded generators, the data shuffles are new datasets), so the run is the same: a test
    checks that a reused worker trains the same weights as a fresh one."""
    if not keep_kernels:
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils
    from tensorflow.python.eager import context

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    eager = context.context()
    eager._seed, eager._rng = seed, random.Random(seed)  # context._set_global_seed without ClearCaches


def with_stroke_copies(split: datasets.Split, dataset: datasets.Dataset, n: int, seed: int,
                       stop_requested=None) -> datasets.Split:
    """`split` with n of its training digits redrawn as mouse strokes added to the training samples;
    core.fit.progress.StopRequested as soon as `stop_requested()` is true while they are made."""
    from core.data.stroke_copies import stroke_copies
    from core.fit.progress import StopRequested

    def progress(done: int, total: int) -> None:
        if stop_requested is not None and stop_requested():
            raise StopRequested

    x, y = stroke_copies(dataset.x_train[split.train_index], split.y_train, n, seed, progress)
    return datasets.Split(np.concatenate([split.x_train, x]), np.concatenate([split.y_train, y]),
                          split.x_val, split.y_val)


def standard_callbacks(config: TrainConfig, plan: FitPlan, recorder=None) -> list[keras.callbacks.Callback]:
    """Early stopping and reduce-LR-on-plateau, as the config asks, and its clean last epochs (through the
    plan's augmentation switch; told to `recorder`, when given, as the run's "augmentation off" event)."""
    monitor = "val_loss" if plan.has_validation else "loss"
    callbacks: list[keras.callbacks.Callback] = []
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=3, restore_best_weights=True))
    if config.reduce_lr:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1, min_lr=1e-5))
    if config.clean_epochs and plan.augment_flag is not None:
        callbacks.append(CleanLastEpochs(plan.augment_flag, first_clean(config), recorder))
    return callbacks


def first_clean(config: TrainConfig) -> int:
    """The first epoch (0-based) trained without augmentation: `clean_epochs` before the end, never the first."""
    return max(1, config.epochs - config.clean_epochs)


class CleanLastEpochs(keras.callbacks.Callback):
    """Turns the augmentation off from epoch `first` on: the network ends on the digits as they are. The switch is
    the one the Train page's Augmentation toggle sets, so it is recorded the same way (an "augment" event): the
    toggle shows it, and the curves mark it."""

    def __init__(self, augment_flag, first: int, recorder=None):
        super().__init__()
        self.augment_flag, self.first, self.recorder = augment_flag, first, recorder

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.first and bool(self.augment_flag.numpy()):   # not already off (a visitor's toggle)
            self.augment_flag.assign(False)
            if self.recorder is not None:
                steps = epoch * int((self.params or {}).get("steps") or 0)
                epochs = int((self.params or {}).get("epochs") or epoch + 1)
                self.recorder.event_recorded(RunEvent("augment", steps, float(epoch), 0.0, clean_text(epochs - epoch)))

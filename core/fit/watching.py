"""Watching a run learn, in the training process: a fixed panel of test images re-predicted every N batches
with the weights of that moment, the user's drawing with them, the first-layer filters, each layer's
gradient and weight figures (core.fit.layer_stats), and a confusion matrix after each epoch. Each snapshot
goes to the recorder as plain data (core.store.snapshots).

The cost is kept small: one forward pass on at most ~32 images per snapshot, N batches apart where N
makes the snapshots take under BUDGET of the training time and come no oftener than MIN_INTERVAL
seconds (measured as the run goes: a snapshot's cost and a batch's time). The layer figures cost more (a
gradient, every weight's histogram): they come with a snapshot only once LAYER_BUDGET of the training time
since the last ones pays for them, so together the snapshots stay under 3%.
"""
from __future__ import annotations

import dataclasses
import math
import time
import traceback

import keras
import numpy as np

from core.data import datasets
from core.store.snapshots import Panel, Snapshot, quantise_filters, to_uint8

PER_CLASS = 2           # panel images per class
HARD = 6                # and this many hard ones (closer to another class's mean than to their own)
MAX_FILTERS = {"conv": 32, "dense": 16}
CONFUSION_IMAGES = 1000  # validation images counted for the per-epoch confusion matrix
BUDGET = 0.02           # share of training time snapshots may take (the aim is under 3%)
MIN_INTERVAL = 1.0      # seconds of training between snapshots, at least (the Train page polls every second)
LAYER_BUDGET = 0.01     # share of training time the layer figures may add on top


_margins: dict[tuple, np.ndarray] = {}


def choose_panel(dataset: datasets.Dataset, seed: int, per_class: int = PER_CLASS,
                 hard: int = HARD) -> tuple[np.ndarray, Panel]:
    """choose_panel_of, with each dataset's margins worked out once per process: what makes a short run's
    panel cost 0.1-0.4 s (every test image against every class mean), the same whatever the seed."""
    key = (dataset.spec.name, len(dataset.y_test))
    if key not in _margins:
        _margins[key] = _mean_margins(dataset)
    return choose_panel_of(dataset, seed, per_class, hard, margin=_margins[key])


def _mean_margins(dataset: datasets.Dataset) -> np.ndarray:
    """Each test image's distance to its own class mean less that to the nearest other (> 0: nearer another's)."""
    y = dataset.y_test.astype(np.int64)
    flat = dataset.x_test.reshape(len(y), -1).astype(np.float32) / 255.0
    means = np.stack([flat[y == c].mean(axis=0) for c in range(dataset.spec.num_classes)])
    distances = _distances(flat, means)
    own = distances[np.arange(len(y)), y]
    distances[np.arange(len(y)), y] = np.inf
    return own - distances.min(axis=1)


def choose_panel_of(dataset: datasets.Dataset, seed: int, per_class: int = PER_CLASS,
                    hard: int = HARD, margin: np.ndarray | None = None) -> tuple[np.ndarray, Panel]:
    """Test images to watch, the same for the same seed: `per_class` of each class, then `hard` ones.

    The hard ones are the test images a nearest-class-mean classifier gets most wrong (a 4 that sits
    nearer the average 9 than the average 4): the classic confusable ones, found without any model.
    Returns the float input batch (n, 28, 28, 1) and the Panel. `margin`: _mean_margins(dataset), if known.
    """
    rng = np.random.default_rng(seed)
    x, y = dataset.x_test, dataset.y_test.astype(np.int64)
    classes = dataset.spec.num_classes
    margin = _mean_margins(dataset) if margin is None else margin  # > 0: nearer another class's mean
    hard_pool = np.argsort(-margin)[:max(hard * 10, hard)]
    hard_picked: list[int] = []
    for i in rng.permutation(hard_pool):           # different true classes where possible
        if len(hard_picked) < hard and y[i] not in {y[j] for j in hard_picked}:
            hard_picked.append(int(i))
    hard_picked += [int(i) for i in rng.permutation(hard_pool) if i not in hard_picked][:hard - len(hard_picked)]
    typical = []
    for c in range(classes):
        pool = np.flatnonzero((y == c) & (margin < 0))
        typical += [int(i) for i in rng.choice(pool, size=min(per_class, len(pool)), replace=False)]
    order = typical + sorted(hard_picked, key=lambda i: y[i])
    panel = Panel(images=x[order].astype(np.uint8), labels=y[order],
                  hard=np.array([i in hard_picked for i in order]), class_names=tuple(dataset.spec.class_names),
                  dataset=dataset.spec.name, source="test")
    return datasets.normalise(x[order]), panel


def _distances(flat: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Squared distances of every image to every class mean, without an (n, classes, pixels) array."""
    return (flat ** 2).sum(axis=1)[:, None] - 2 * flat @ means.T + (means ** 2).sum(axis=1)[None]


class SnapshotCallback(keras.callbacks.Callback):
    """Takes the run's snapshots and hands them to `recorder.snapshot_taken`.

    `probe()` returns (version, 28x28 image or None): the user's drawing, read at each snapshot.
    `every` fixes N (for tests); by default N adapts to the measured costs (see the module docstring).
    `layers` (a core.fit.layer_stats.LayerWatch) adds each layer's figures, the gradient taken on
    `gradient_data` (x, y).
    """

    def __init__(self, recorder, panel_x: np.ndarray, panel: Panel, probe=None, logits: bool = False,
                 confusion: tuple[np.ndarray, np.ndarray] | None = None, every: int | None = None,
                 layers=None, gradient_data: tuple[np.ndarray, np.ndarray] | None = None):
        super().__init__()
        self.recorder, self.panel_x, self.panel = recorder, np.asarray(panel_x, np.float32), panel
        self.probe, self.logits, self.confusion_data, self.every = probe, logits, confusion, every
        self.layers, self.gradient_data = layers, gradient_data
        self.step = self.epoch = self.batch = 0
        self.seq = 0
        self.taken: list[Snapshot] = []   # kept here too, for tests; the recorder is the real keeper
        self.snapshot_seconds: list[float] = []   # each snapshot's cost (the first, which traces, left out)
        self.confusion_seconds: list[float] = []  # each epoch end's (its confusion matrix included)
        self.seconds = 0.0                        # all of this callback's time, tracing included
        self.first_batch_seconds = 0.0            # the first batch, which traces the training step
        self._forward = None
        self._next_at = 1
        self._due: tuple[bool, int] | None = None   # (take it, gap to the next), planned as its batch began
        self._batch_time: float | None = None
        self._cost: float | None = None
        self._last_end = 0.0
        self._fit_start = 0.0
        self._snapshot_took = 0.0
        self._remember_took = 0.0
        self._layers_cost: float | None = None   # what the layer figures add to a snapshot (moving average)
        self._layers_at = 0.0                    # when they were last taken
        self.layer_snapshots = 0                 # snapshots that carry them

    @property
    def batch_seconds(self) -> float:
        """A usual batch's time so far (a moving average; 0 before the second batch)."""
        return self._batch_time or 0.0

    # --- Keras hooks ---------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        started = time.perf_counter()
        import tensorflow as tf

        model = self.model
        if self.layers is not None:
            self._forward = self.layers.output    # traced once per kept model (core.fit.layer_stats)
        else:
            self._forward = tf.function(lambda x: model(x, training=False),
                                        input_signature=[tf.TensorSpec((None, *self.panel_x.shape[1:]), tf.float32)])
        self._forward(self.panel_x[:1])          # traced now, with the first snapshot's cost
        self._fit_start = time.perf_counter()
        self._snapshot()                      # before training: the untrained network (traces the forward pass)
        self._last_end = time.perf_counter()
        self.seconds += self._last_end - started - self._snapshot_took  # _snapshot counts its own

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch = epoch, 0

    def on_train_batch_begin(self, batch, logs=None):
        self._due = self._plan_snapshot(self.step + 1, batch + 1) if self.step + 1 >= self._next_at else None
        if self.layers is not None and self._due is not None and self._due[0] and self._layers_due():
            started = time.perf_counter()
            self.layers.remember()            # the update ratio of the batch this snapshot follows
            took = time.perf_counter() - started
            self._remember_took += took       # counted with the snapshot it serves
            self._last_end += took            # not a batch's time

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.step += 1
        self.batch = batch + 1
        if self.step > 1:  # the first batch includes tracing: not a batch's time
            took = now - self._last_end
            self._batch_time = took if self._batch_time is None else 0.8 * self._batch_time + 0.2 * took
        else:
            self.first_batch_seconds = now - self._last_end
        if self.step >= self._next_at:
            take, gap = self._due if self._due is not None else self._plan_snapshot(self.step, self.batch)
            if take:
                self._snapshot()
            self._next_at = self.step + gap
        self._due = None
        self._last_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.confusion_data is not None:  # the run's last snapshot has the layer figures, whatever their budget
            self._snapshot(confusion=True, with_layers=epoch + 1 == (self.params or {}).get("epochs"))
        self._last_end = time.perf_counter()

    def on_train_end(self, logs=None):
        if not self.taken or self.taken[-1].step != self.step:
            self._snapshot(with_layers=True)  # where a stopped run ended, its figures with it

    # --- for a Step by hand (core.fit.steering) --------------------------------------------------------

    def skip(self, seconds: float) -> None:
        """`seconds` went by that were not training (a pause): left out of the next batch's time."""
        self._last_end += seconds

    def stepped(self) -> Snapshot:
        """A batch was trained by hand: count it and take a snapshot of the weights after it."""
        self.step += 1
        return self._snapshot(with_layers=True)   # while paused the figures cost no training time

    def panel_answers(self) -> np.ndarray:
        """The network's answer for each panel digit now."""
        return self._probabilities(self.panel_x).argmax(axis=1)

    # --- the work ------------------------------------------------------------------------------------

    def _layers_due(self) -> bool:
        """The layer figures come with the next snapshot: the first one, then once LAYER_BUDGET of the time
        since the last ones covers what they cost."""
        if self._layers_cost is None:
            return True
        return (time.perf_counter() - self._layers_at) * LAYER_BUDGET >= self._layers_cost

    def _plan_snapshot(self, step: int, batch: int) -> tuple[bool, int]:
        """For the snapshot due when the run reaches `step` (batch `batch` of its epoch): whether it is taken, and
        the batches to the next one (1, 2, 4, 8 ... then every N). It is left out when its epoch's own end, which
        takes a snapshot of its own, is under a quarter of that gap away (2 of a short run's 11), and then the
        batch before it remembers no weights for it (the epoch end's update ratio would span several batches)."""
        gap = min(step, self._interval_batches())
        steps = (self.params or {}).get("steps")
        near_end = self.confusion_data is not None and bool(steps) and steps - batch < gap / 4
        return not near_end, gap

    def _interval_batches(self) -> int:
        """N: batches between snapshots."""
        if self.every:
            return int(self.every)
        if not self._batch_time:
            return 1
        seconds = max(MIN_INTERVAL, (self._cost or 0.0) / BUDGET)
        return max(1, math.ceil(seconds / self._batch_time))

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        return self._softmax(np.asarray(self._forward(x), dtype=np.float32))

    def _softmax(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)
        if self.logits:
            with np.errstate(over="ignore", invalid="ignore"):   # a diverged run's outputs are not numbers
                out = np.exp(out - out.max(axis=1, keepdims=True))
                out /= out.sum(axis=1, keepdims=True)
        return out

    def _filters(self) -> tuple[str, np.ndarray | None]:
        try:
            from core.explain import first_layer_weights

            weights = first_layer_weights(self.model, units=max(MAX_FILTERS.values()))
        except Exception:  # a model without a conv or dense layer to draw: snapshots without filters
            return "", None
        return weights.kind, quantise_filters(weights.images[:MAX_FILTERS.get(weights.kind, 16)])

    def _confusion(self) -> tuple[np.ndarray, int]:
        x, y = self.confusion_data
        classes = len(self.panel.class_names)
        predicted = np.concatenate([self._probabilities(x[i:i + 500]).argmax(axis=1) for i in range(0, len(x), 500)])
        matrix = np.zeros((classes, classes), np.int32)
        np.add.at(matrix, (np.asarray(y, np.int64), predicted), 1)
        return matrix, len(y)

    def _snapshot(self, confusion: bool = False, with_layers: bool = False) -> Snapshot:
        started = time.perf_counter()
        version, image = self.probe() if self.probe else (0, None)
        x = self.panel_x
        if image is not None:
            x = np.concatenate([x, np.asarray(image, np.float32).reshape(1, *x.shape[1:])])
        layers = probabilities = None
        if self.layers is not None and (with_layers or self._layers_due()):
            try:
                out, activations, gradients = self.layers.predict(x, self.gradient_data)
                probabilities = self._softmax(out)
                layers = self.layers.measure(activations, gradients, len(self.panel))
            except Exception:  # figures are a view on the run: never its end; this run goes on without them
                traceback.print_exc()
                self.layers = None
        if layers is not None:
            took = time.perf_counter() - started + self._remember_took
            if self.seq > 0:  # the first one traces the functions: not what they cost
                self._layers_cost = took if self._layers_cost is None else 0.8 * self._layers_cost + 0.2 * took
            self._layers_at = time.perf_counter()
            self.layer_snapshots += 1
        if probabilities is None:
            probabilities = self._probabilities(x)
        matrix, count = self._confusion() if confusion else (None, 0)
        _, filters = self._filters()
        snapshot = Snapshot(
            seq=self.seq, step=self.step, epoch=self.epoch,
            batch=self.batch, seconds=round(started - self._fit_start, 3),
            probabilities=probabilities[:len(self.panel)].astype(np.float16), filters=filters,
            confusion=matrix, confusion_count=count, probe_version=version if image is not None else 0,
            probe_image=None if image is None else to_uint8(image), probe=None if image is None else probabilities[-1],
            layers=layers)
        self.seq += 1
        self.taken.append(snapshot)
        self.recorder.snapshot_taken(snapshot)
        took = time.perf_counter() - started + self._remember_took
        self._remember_took = 0.0
        self.seconds += took
        self._snapshot_took = took
        if confusion:
            self.confusion_seconds.append(took)
        elif self.seq > 1:  # the first one traces the forward pass
            self.snapshot_seconds.append(took)
            self._cost = took if self._cost is None else 0.8 * self._cost + 0.2 * took
        return snapshot


def watch_callback(plan, config, recorder, probe=None, every: int | None = None, keep_warm: bool = False,
                   layer_figures: bool = True) -> SnapshotCallback:
    """The snapshot callback for a planned run: its panel (seeded by the run's seed) told to the recorder,
    the per-epoch confusion counted on up to CONFUSION_IMAGES validation images (test images without any),
    and (with `layer_figures`) each layer's gradient and weight figures, the gradient on a fixed batch of its
    training images; `keep_warm`: a warm worker keeps their traced functions with its model."""
    dataset = datasets.load(config.dataset)
    panel_x, panel = choose_panel(dataset, config.seed)
    validation = plan.validation_data
    if validation is not None and len(validation[1]):
        confusion = (validation[0][:CONFUSION_IMAGES], validation[1][:CONFUSION_IMAGES])
        source = "validation"
    else:
        picked = np.random.default_rng(config.seed).permutation(len(dataset.y_test))[:CONFUSION_IMAGES]
        confusion = (datasets.normalise(dataset.x_test[picked]), dataset.y_test[picked])
        source = "test"
    panel = dataclasses.replace(panel, confusion_source=source, filter_kind=_filter_kind(plan.model))
    recorder.panel_chosen(panel)
    layers = gradient_data = None
    if layer_figures:
        from core.fit.layer_stats import gradient_batch, watch_for

        layers = watch_for(plan.model, tuple(panel_x.shape[1:]), keep=keep_warm)
        if plan.train_data is not None:
            gradient_data = gradient_batch(*plan.train_data, config.seed)
    return SnapshotCallback(recorder, panel_x, panel, probe, plan.preset.logits, confusion, every,
                            layers=layers, gradient_data=gradient_data)


def _filter_kind(model) -> str:
    try:
        from core.explain import first_layer_weights

        return first_layer_weights(model).kind
    except Exception:
        return ""

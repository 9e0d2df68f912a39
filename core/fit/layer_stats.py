"""What the gradients and weights of each layer are doing, measured at a snapshot (core.fit.watching) in the
training process: per layer with a kernel, the gradient's L2 norm on a fixed batch, the weights' mean,
spread and histogram, the update-to-weight ratio of the last step, and the share of dead ReLU units on the
panel digits. The figures are plain data (core.store.layer_stats.LayerStats).

The gradient batch is fixed for the run (GRADIENT_BATCH training images, seeded), so its norm over time
shows the network changing, not the batches. Gradients and activations are taken in inference mode: no
dropout, batch norm on its moving statistics, and nothing of the training's state (batch-norm statistics,
random numbers) is touched, so a watched run trains exactly as an unwatched one. A worker that keeps its
compiled model warm (core.fit.warm) keeps these traced functions with it (KEPT), so a reused worker's run
does not trace them again.
"""
from __future__ import annotations

import hashlib

import keras
import numpy as np
import tensorflow as tf

from core.data.recent import Recent
from core.store.layer_stats import LayerStats

GRADIENT_BATCH = 32
KEPT = 4
_kept = Recent(KEPT)  # id(model) -> its LayerWatch (which holds the model, so the id stays its own)


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers with a kernel (Dense, Conv2D ...), in order, looking inside nested models."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += kernel_layers(layer)
        elif getattr(layer, "kernel", None) is not None and layer.trainable:
            found.append(layer)
    return found


def _is_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return True
    activation = getattr(layer, "activation", None)
    return activation is keras.activations.relu or getattr(activation, "__name__", "") == "relu"


def relu_outputs(model: keras.Model, kernels: list) -> dict[str, keras.layers.Layer]:
    """For each kernel layer followed by a ReLU (its own activation, or an Activation/ReLU layer before the next
    kernel layer), the layer whose output is that ReLU's. Nested models have none."""
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        return {}
    found, current = {}, None
    names = {layer.name for layer in kernels}
    for layer in model.layers:
        if layer.name in names:
            current = layer.name
            if _is_relu(layer):
                found[current] = layer
                current = None
        elif current is not None and _is_relu(layer):
            found[current] = layer
            current = None
    return found


def weights_digest(model: keras.Model) -> str:
    """A digest of every weight of the model: equal digests, bit-identical weights."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return digest.hexdigest()


def gradient_batch(x: np.ndarray, y: np.ndarray, seed: int, size: int = GRADIENT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The run's fixed gradient batch: `size` training samples picked with `seed`."""
    picked = np.sort(np.random.default_rng(seed + 7919).permutation(len(y))[:size])
    return np.asarray(x[picked], np.float32), np.asarray(y[picked]).astype(np.int32)


def kernel_gradients(model: keras.Model, x, y, training: bool = False) -> list[np.ndarray]:
    """The gradient of the compiled loss on (x, y) for each kernel layer's kernel (eager; for tests and Steps)."""
    kernels = [layer.kernel for layer in kernel_layers(model)]
    with tf.GradientTape() as tape:
        predicted = model(x, training=training)
        loss = model.compute_loss(x=x, y=y, y_pred=predicted, training=training)
    return [np.asarray(g) for g in tape.gradient(loss, kernels)]


class LayerWatch:
    """The traced function that measures one compiled model, and the kernels as they were before the last step."""

    def __init__(self, model: keras.Model, input_shape: tuple[int, ...]):
        self.model = model
        self.layers = kernel_layers(model)
        relu = relu_outputs(model, self.layers)
        self.relu_names = [layer.name for layer in self.layers if layer.name in relu]
        self._previous: list[np.ndarray] | None = None
        spec = tf.TensorSpec((None, *input_shape), tf.float32)
        kernels = [layer.kernel for layer in self.layers]
        try:
            probe = keras.Model(model.inputs, [model.outputs[0], *[relu[n].output for n in self.relu_names]])
        except (AttributeError, ValueError, TypeError):  # a model without symbolic inputs: no dead units
            probe, self.relu_names = None, []
        self.output = tf.function(lambda x: model(x, training=False), input_signature=[spec])

        def look(x, gradient_x, gradient_y):
            """One call: the outputs and ReLU activations for x, the kernels' gradients on (gradient_x, gradient_y)."""
            outputs = probe(x, training=False) if probe is not None else model(x, training=False)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]  # no ReLU: one output
            with tf.GradientTape() as tape:
                predicted = model(gradient_x, training=False)
                loss = model.compute_loss(x=gradient_x, y=gradient_y, y_pred=predicted, training=False)
            return list(outputs), tape.gradient(loss, kernels)

        self.look = tf.function(look, input_signature=[spec, spec, tf.TensorSpec((None,), tf.int32)])

    def kernels(self) -> list[np.ndarray]:
        return [np.array(keras.ops.convert_to_numpy(layer.kernel)) for layer in self.layers]

    def remember(self) -> None:
        """Keep the kernels as they are now: the next measure's update ratio is against them."""
        self._previous = self.kernels()

    def predict(self, x: np.ndarray, gradient_data: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray] | None]:
        """(the model's output for `x`, the ReLU activations after each kernel layer that has one, and with
        `gradient_data` (x, y) the kernels' gradients on it), all in one call."""
        given = gradient_data is not None
        gx, gy = gradient_data if given else (x[:1], np.zeros(1, np.int32))
        outputs, gradients = self.look(x, np.asarray(gx, np.float32), np.asarray(gy, np.int32))
        return (np.asarray(outputs[0], np.float32), [np.asarray(a) for a in outputs[1:]],
                [np.asarray(g) for g in gradients] if given else None)

    def measure(self, activations: list[np.ndarray], gradients: list[np.ndarray] | None,
                panel_size: int) -> tuple[LayerStats, ...]:
        """Every kernel layer's figures: `activations` and `gradients` from predict (the activations' first
        `panel_size` rows are the panel digits), the update ratio against the remembered kernels if any."""
        kernels = self.kernels()
        norms = ([float(np.linalg.norm(g)) for g in gradients] if gradients is not None
                 else [float("nan")] * len(kernels))
        previous, self._previous = self._previous, None
        dead = {name: dead_share(a[:panel_size]) for name, a in zip(self.relu_names, activations)}
        stats = []
        for i, (layer, kernel) in enumerate(zip(self.layers, kernels)):
            ratio = float("nan")
            if previous is not None and previous[i].shape == kernel.shape:
                size = float(np.linalg.norm(kernel))
                ratio = float(np.linalg.norm(kernel - previous[i])) / size if size > 0 else float("nan")
            stats.append(LayerStats.of(layer.name, kernel, norms[i], ratio, dead.get(layer.name, float("nan"))))
        return tuple(stats)


def dead_share(activations: np.ndarray) -> float:
    """Share of units (a Dense unit, or a conv channel) that are zero on every image and position."""
    if activations.ndim < 2 or not activations.shape[0]:
        return float("nan")
    per_unit = (activations > 0).reshape(-1, activations.shape[-1]).any(axis=0)
    return float(1.0 - per_unit.mean())


def watch_for(model: keras.Model, input_shape: tuple[int, ...], keep: bool = False) -> LayerWatch:
    """A LayerWatch for `model`; with `keep` (a warm worker's kept model) the same one run after run."""
    if not keep:
        return LayerWatch(model, input_shape)
    watch = _kept.get(id(model))
    if watch is None or watch.model is not model:
        watch = LayerWatch(model, input_shape)
        _kept.put(id(model), watch)
    watch._previous = None
    return watch

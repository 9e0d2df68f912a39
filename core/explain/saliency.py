"""Why this answer: a saliency map for any class, and an overlay of it on the input.

CNNs get Grad-CAM at the last convolutional layer (keras-io's grad_cam recipe): the layer's maps
weighted by the mean gradient of the class score, kept where positive. Models without convolution
get integrated gradients from a black (no ink) baseline (keras-io's integrated_gradients recipe):
unlike a plain gradient it adds up to the score's change from a blank input, and on a linear model
it equals gradient x input. Both differentiate the score before softmax.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.explain.graph import ExplainError, graph_for

METHODS = ("grad-cam", "integrated-gradients", "gradient-x-input")
IG_STEPS = 32


@dataclass(frozen=True)
class Saliency:
    """Where the evidence for `target_class` lies: `heatmap` (input-sized, [0, 1]) and how it was made."""

    heatmap: np.ndarray  # (H, W) float32 in [0, 1]
    raw: np.ndarray  # grad-cam: the map at the layer's resolution; gradient methods: signed attributions (H, W)
    target_class: int
    predicted_class: int
    method: str
    layer_name: str | None  # the layer Grad-CAM read; None for gradient methods


def _grad_cam_function(graph):
    """tf.function (x, class or -1 for the predicted one) -> (map at input size, map at layer size, target, predicted)."""
    import tensorflow as tf

    grad_model = graph.submodel([graph.grad_cam_index, graph.score_index])
    head, size = graph.score_head, graph.input_shape[:2]

    def grad_cam(x, wanted):
        with tf.GradientTape() as tape:
            maps, features = grad_model(x, training=False)
            scores = head(features)[0]
            predicted = tf.argmax(scores, output_type=tf.int32)
            target = tf.where(wanted < 0, predicted, wanted)
            score = tf.gather(scores, target)
        channel_weights = tf.reduce_mean(tape.gradient(score, maps), axis=(0, 1, 2))
        cam = tf.nn.relu(tf.reduce_sum(maps[0] * channel_weights, axis=-1))
        upsampled = tf.image.resize(cam[None, :, :, None], size, method="bilinear")[0, :, :, 0]
        return upsampled, cam, target, predicted

    return tf.function(grad_cam, input_signature=[graph.spec(1), tf.TensorSpec((), tf.int32)])


def _gradient_function(graph, steps: int):
    """tf.function (x, class or -1) -> (signed attributions, target, predicted); steps=0: gradient x input."""
    import tensorflow as tf

    score_model = graph.submodel(graph.score_index)
    head = graph.score_head

    def attributions(x, wanted):
        alphas = tf.reshape(tf.linspace(0.0, 1.0, steps + 1), (-1, 1, 1, 1)) if steps else tf.ones((1, 1, 1, 1))
        path = alphas * x  # from black (no ink) to the image; the last row is the image itself
        with tf.GradientTape() as tape:
            tape.watch(path)
            scores = head(score_model(path, training=False))
            predicted = tf.argmax(scores[-1], output_type=tf.int32)
            target = tf.where(wanted < 0, predicted, wanted)
            total = tf.reduce_sum(scores[:, target])
        grads = tape.gradient(total, path)
        mean_grad = tf.reduce_mean((grads[:-1] + grads[1:]) / 2, axis=0) if steps else grads[0]
        return tf.reduce_sum(x[0] * mean_grad, axis=-1), target, predicted

    return tf.function(attributions, input_signature=[graph.spec(1), tf.TensorSpec((), tf.int32)])


def _unit_range(values: np.ndarray) -> np.ndarray:
    """Positive part scaled so the top is 1 (all zeros stay zeros)."""
    positive = np.maximum(values, 0).astype(np.float32)
    top = float(positive.max(initial=0.0))
    return positive / top if top > 0 else positive


def default_method(model) -> str:
    """grad-cam for models with a convolutional layer, integrated-gradients for the others."""
    return "grad-cam" if graph_for(model).grad_cam_index is not None else "integrated-gradients"


def saliency(model, image, target_class: int | None = None, method: str = "auto", steps: int = IG_STEPS) -> Saliency:
    """Saliency for `target_class` (None: the predicted class) by `method` ("auto": `default_method`)."""
    graph = graph_for(model)
    x = graph.as_batch(image)
    method = default_method(model) if method == "auto" else method
    if method not in METHODS:
        raise ExplainError(f"Unknown saliency method {method!r}; choose auto or one of: {', '.join(METHODS)}.")
    if target_class is not None and not 0 <= int(target_class) < graph.num_classes:
        raise ExplainError(f"Class must be between 0 and {graph.num_classes - 1}, got {target_class}.")
    wanted = np.int32(-1 if target_class is None else int(target_class))
    if method == "grad-cam":
        if graph.grad_cam_index is None:
            raise ExplainError("Grad-CAM needs a convolutional layer; this model has none.")
        upsampled, cam, target, predicted = graph.function("grad-cam", lambda: _grad_cam_function(graph))(x, wanted)
        heatmap, raw, layer = _unit_range(np.asarray(upsampled)), np.asarray(cam), graph.layers[graph.grad_cam_index].name
    else:
        n = int(steps) if method == "integrated-gradients" else 0
        if method == "integrated-gradients" and n < 1:
            raise ExplainError(f"Integrated gradients needs at least 1 step, got {steps}.")
        signed, target, predicted = graph.function(("gradient", n), lambda: _gradient_function(graph, n))(x, wanted)
        raw = np.asarray(signed)
        heatmap, layer = _unit_range(raw), None
    return Saliency(heatmap, raw, int(target), int(predicted), method, layer)


def overlay(image, heatmap, alpha: float = 0.6, scale: int = 1, colormap: str = "jet") -> np.ndarray:
    """The grey input with the heatmap in colour on top, as an (H*scale, W*scale, 3) uint8 RGB image.

    Each pixel's colour weight is alpha x heat, so cold regions show the plain input.
    """
    from matplotlib import colormaps

    grey = np.clip(np.asarray(image, dtype=np.float32).squeeze(), 0, 1)
    heat = np.clip(np.asarray(heatmap, dtype=np.float32).squeeze(), 0, 1)
    if grey.shape != heat.shape or grey.ndim != 2:
        raise ExplainError(f"Image {grey.shape} and heatmap {heat.shape} must be the same 2-D size.")
    colour = colormaps[colormap](heat)[..., :3].astype(np.float32)
    weight = (alpha * heat)[..., None]
    rgb = grey[..., None] * (1 - weight) + colour * weight
    rgb = np.repeat(np.repeat(rgb, int(scale), axis=0), int(scale), axis=1)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)

"""What each layer computes for one input, and what the first layer learned (plain arrays out)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.explain.graph import FOLDED_KINDS, ExplainError, forward_all, graph_for, is_linear_dense, is_softmax


@dataclass(frozen=True)
class LayerActivation:
    """One layer's output for one input: conv maps (H, W, C) or a dense strip (units,), and its range."""

    name: str
    kind: str  # conv / dense / pool / norm / dropout / flatten / activation / other
    output_shape: tuple[int, ...]
    values: np.ndarray
    low: float
    high: float
    folded: bool  # dropout and flatten change nothing a viewer can see: a page may hide them


@dataclass(frozen=True)
class FirstLayerWeights:
    """The first weighted layer as pictures: conv kernels (n, kh, kw) or each unit's input weights (n, h, w)."""

    layer_name: str
    kind: str  # "conv" or "dense"
    images: np.ndarray
    low: float
    high: float


def activations(model, image) -> tuple[LayerActivation, ...]:
    """Every layer's output for one image, in call order, nested Sequential models opened up."""
    graph = graph_for(model)
    outputs = forward_all(model, image)
    return tuple(
        LayerActivation(layer.name, kind, tuple(values.shape), values, float(values.min()), float(values.max()),
                        kind in FOLDED_KINDS)
        for layer, kind, values in zip(graph.layers, graph.kinds, outputs))


def _first_weighted(graph) -> int:
    for index, kind in enumerate(graph.kinds):
        if kind in ("conv", "dense"):
            return index
    raise ExplainError("The model has no convolutional or dense layer to show.")


def _picture_shape(graph, index: int) -> tuple[int, ...]:
    """The shape of the picture a Dense layer at `index` reads, before the Flatten in front of it."""
    while index > 0 and graph.kinds[index - 1] in FOLDED_KINDS:
        index -= 1
    return graph.input_shape if index == 0 else tuple(int(d) for d in graph.outputs[index - 1].shape[1:])


def _as_pictures(columns: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(inputs, n) weight columns -> (n, h, w) pictures; channels averaged; (n, inputs) if not spatial."""
    n = columns.shape[1]
    if len(shape) < 2 or int(np.prod(shape)) != columns.shape[0]:
        return np.ascontiguousarray(columns.T)
    pictures = columns.T.reshape(n, *shape)
    return pictures.mean(axis=-1) if len(shape) == 3 else pictures


def first_layer_weights(model, units: int | None = None) -> FirstLayerWeights:
    """Conv kernels (out_channels, kh, kw), or the weights into each first Dense unit as the picture it reads;
    with `units`, those of the first `units` channels or units only (a run's snapshots draw a few, often).

    tiny-20px resizes its input to 20x20 before its first Dense layer, so its pictures are 20x20.
    """
    graph = graph_for(model)
    index = _first_weighted(graph)
    layer, kind = graph.layers[index], graph.kinds[index]
    kernel = np.asarray(layer.kernel)[..., :units]
    if kind == "conv":
        if kernel.ndim != 4:
            raise ExplainError(f"Layer {layer.name} is not a 2-D convolution; its kernels cannot be drawn.")
        images = np.moveaxis(kernel.mean(axis=2), -1, 0)  # (kh, kw, in, out) -> (out, kh, kw)
    else:
        images = _as_pictures(kernel, _picture_shape(graph, index))
    images = images.astype(np.float32)
    return FirstLayerWeights(layer.name, kind, images, float(images.min()), float(images.max()))


def is_linear_model(model) -> bool:
    """Flatten, then only activation-free Dense layers (softmax at the end allowed): one affine map in all."""
    graph = graph_for(model)
    denses = 0
    for position, (layer, kind) in enumerate(zip(graph.layers, graph.kinds)):
        last = position == len(graph.layers) - 1
        if kind == "dense" and (is_linear_dense(layer) or (last and is_softmax(layer))):
            denses += 1
        elif not (kind in FOLDED_KINDS or (last and is_softmax(layer))):
            return False
    return denses > 0


def class_templates(model) -> np.ndarray | None:
    """For a linear model, the product of its Dense kernels as one (classes, h, w) picture per class.

    A linear classifier's score for class c is the input dotted with template c (plus a bias,
    left out here): the classic picture of what it looks for. None for any other model.
    """
    if not is_linear_model(model):
        return None
    graph = graph_for(model)
    kernels = [np.asarray(layer.kernel, dtype=np.float64)
               for layer, kind in zip(graph.layers, graph.kinds) if kind == "dense"]
    product = kernels[0]
    for kernel in kernels[1:]:
        product = product @ kernel
    first = graph.kinds.index("dense")
    return _as_pictures(product.astype(np.float32), _picture_shape(graph, first))

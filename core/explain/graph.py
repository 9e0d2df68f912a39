"""Any stored model as one flat list of layers, rebuilt once as a functional graph and cached weakly.

Stored models are `keras.Sequential`, sometimes nested (`for_inference` wraps a logits model as
`Sequential([inner, Softmax()])`). Explaining needs every layer's output, so the nested models are
flattened and their layers called in order on a new `keras.Input`: one functional graph per model
gives all activations in one call and the two outputs Grad-CAM needs (keras-io's grad_cam recipe).
"""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FOLDED_KINDS = ("dropout", "flatten")  # identity or a reshape at inference: a page may hide them
_KIND_RULES = (  # (kind, fragments of the Keras class name), first match wins
    ("conv", ("Conv",)),
    ("pool", ("Pooling",)),
    ("norm", ("Normalization",)),
    ("dropout", ("Dropout", "GaussianNoise")),
    ("flatten", ("Flatten", "Reshape")),
    ("dense", ("Dense",)),
    ("activation", ("Activation", "ReLU", "Softmax", "ELU")),
)


class ExplainError(ValueError):
    """Something about the model or the input stops an explanation; the message says what."""


class InputShapeError(ExplainError):
    """The image is not the shape the model reads (28x28 for every preset)."""


def layer_kind(layer) -> str:
    """conv / dense / pool / norm / dropout / flatten / activation / other, from the layer's class."""
    name = type(layer).__name__
    for kind, fragments in _KIND_RULES:
        if any(fragment in name for fragment in fragments):
            return kind
    return "other"


def flat_layers(model) -> list:
    """The model's layers in call order, with nested Sequential models opened up."""
    import keras

    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            layers.extend(flat_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            layers.append(layer)
    return layers


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def is_softmax(layer) -> bool:
    """A Softmax layer, or a layer whose activation is softmax."""
    return type(layer).__name__ == "Softmax" or _activation_name(layer) == "softmax"


def is_linear_dense(layer) -> bool:
    """A Dense layer with no activation (an affine map)."""
    return layer_kind(layer) == "dense" and _activation_name(layer) in ("linear", "")


def _score_head(layers) -> tuple[int, Callable]:
    """(index of the layer feeding the class scores, function from its output to pre-softmax scores).

    Saliency differentiates the score before softmax: a confident softmax output is flat (p ~ 1),
    so its gradient vanishes and the map with it.
    """
    import keras

    last = layers[-1]
    if not is_softmax(last):
        return len(layers) - 1, lambda h: h
    if layer_kind(last) != "dense":  # Softmax / Activation("softmax"): the scores are its input
        return len(layers) - 2, lambda h: h

    def dense_logits(h):
        scores = keras.ops.matmul(h, last.kernel)
        return scores + last.bias if last.use_bias else scores

    return len(layers) - 2, dense_logits


def _grad_cam_index(kinds) -> int | None:
    """The last conv layer, moved past the norm/activation layers right after it (the map the head reads)."""
    convs = [i for i, kind in enumerate(kinds) if kind == "conv"]
    if not convs:
        return None
    index = convs[-1]
    while index + 1 < len(kinds) and kinds[index + 1] in ("norm", "activation"):
        index += 1
    return index


def _embedding_index(layers, kinds) -> int:
    """The layer before the classifier (the last Dense); -1 stands for the input itself."""
    dense = [i for i, kind in enumerate(kinds) if kind == "dense"]
    classifier = dense[-1] if dense else len(layers) - 1
    return classifier - 1


@dataclass(eq=False)
class Graph:
    """A model's flat layers, their functional outputs, and where saliency and embeddings read."""

    layers: tuple
    kinds: tuple[str, ...]
    input_shape: tuple[int, ...]
    inputs: object  # the new keras.Input
    outputs: tuple  # one KerasTensor per layer
    num_classes: int
    grad_cam_index: int | None
    score_index: int
    score_head: Callable
    embedding_index: int
    _functions: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def submodel(self, indices):
        """keras.Model from the input to the outputs at `indices` (-1: the input); an int gives one output."""
        import keras

        if isinstance(indices, int):
            return keras.Model(self.inputs, self.inputs if indices < 0 else self.outputs[indices])
        return keras.Model(self.inputs, [self.inputs if i < 0 else self.outputs[i] for i in indices])

    def function(self, key, make: Callable):
        """A tf.function made once per graph and key (tracing costs ~100 ms; a call ~1 ms)."""
        with self._lock:
            if key not in self._functions:
                self._functions[key] = make()
            return self._functions[key]

    def spec(self, batch: int | None = 1):
        """The tf.TensorSpec of a batch of model inputs."""
        import tensorflow as tf

        return tf.TensorSpec((batch, *self.input_shape), tf.float32)

    def as_batch(self, image) -> np.ndarray:
        """One image -> (1, *input_shape) float32, or InputShapeError with the shapes in plain words."""
        return as_input(image, self.input_shape)


def as_input(image, input_shape: tuple[int, ...]) -> np.ndarray:
    """One image (HxW, HxWxC or 1xHxWxC; uint8 or float in [0, 1]) -> (1, *input_shape) float32."""
    array = np.asarray(image)
    wanted = tuple(int(d) for d in input_shape)
    squeezed = tuple(d for d in array.shape if d != 1)
    if array.size != int(np.prod(wanted)) or squeezed != tuple(d for d in wanted if d != 1):
        size = "x".join(str(d) for d in wanted[:2])
        raise InputShapeError(f"Expected one {size} image, got an array of shape {array.shape}.")
    if array.dtype == np.uint8:
        return (array.astype(np.float32) / np.float32(255)).reshape(1, *wanted)
    return array.astype(np.float32).reshape(1, *wanted)


def _build_graph(model) -> Graph:
    """Call the model's flat layers in order on a new keras.Input."""
    import keras

    shape = getattr(model, "input_shape", None)
    if not shape or any(d is None for d in shape[1:]):
        raise ExplainError("The model has no fixed input shape (build it with keras.Input first).")
    layers = tuple(flat_layers(model))
    if not layers:
        raise ExplainError("The model has no layers to explain.")
    kinds = tuple(layer_kind(layer) for layer in layers)
    inputs = keras.Input(tuple(shape[1:]))
    outputs, x = [], inputs
    for layer in layers:
        x = layer(x)
        outputs.append(x)
    score_index, score_head = _score_head(layers)
    return Graph(layers, kinds, tuple(int(d) for d in shape[1:]), inputs, tuple(outputs),
                 int(outputs[-1].shape[-1]), _grad_cam_index(kinds), score_index, score_head,
                 _embedding_index(layers, kinds))


_graphs: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_graphs_lock = threading.Lock()


def graph_for(model) -> Graph:
    """The model's Graph, built once and kept while the model lives (the Graph holds its layers, not it)."""
    with _graphs_lock:
        try:
            graph = _graphs.get(model)
        except TypeError:  # not weak-referenceable: build every time
            return _build_graph(model)
        if graph is None:
            graph = _graphs[model] = _build_graph(model)
        return graph


def forward_all(model, image) -> list[np.ndarray]:
    """Every layer's output for one image, in one compiled call."""
    import tensorflow as tf

    graph = graph_for(model)
    x = graph.as_batch(image)

    def make():
        extractor = graph.submodel(range(len(graph.layers)))
        return tf.function(lambda batch: extractor(batch, training=False), input_signature=[graph.spec(1)])

    return [np.asarray(out)[0] for out in graph.function("all", make)(x)]


def probabilities(model, image) -> np.ndarray:
    """The model's output for one image (probabilities for every stored model), via a compiled call."""
    import tensorflow as tf

    graph = graph_for(model)
    x = graph.as_batch(image)

    def make():
        final = graph.submodel(len(graph.layers) - 1)
        return tf.function(lambda batch: final(batch, training=False), input_signature=[graph.spec(1)])

    return np.asarray(graph.function("output", make)(x))[0]

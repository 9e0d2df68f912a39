"""Single-image prediction: a compiled forward pass per model (no `model.predict` overhead)."""
from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

_compiled: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_compiled_lock = threading.Lock()


@dataclass(frozen=True)
class Prediction:
    """The predicted digit, its probability, and all ten probabilities."""

    digit: int
    confidence: float
    probabilities: np.ndarray

    def to_dict(self) -> dict:
        return {"digit": self.digit, "confidence": round(self.confidence, 6),
                "probabilities": [round(float(p), 6) for p in self.probabilities]}


def _forward(model):
    """`model(x, training=False)` as a tf.function traced once per model for a (1, 28, 28, 1) input.

    An eager Keras call re-dispatches every layer from Python (a few ms); the traced
    graph runs in one call. Cached weakly, so a dropped model frees its graph too.
    """
    with _compiled_lock:
        forward = _compiled.get(model)
        if forward is None:
            import tensorflow as tf

            ref = weakref.ref(model)  # the cache value must not keep its key alive
            forward = tf.function(lambda x: ref()(x, training=False),
                                  input_signature=[tf.TensorSpec((1, 28, 28, 1), tf.float32)])
            _compiled[model] = forward
    return forward


def predict_digit(model, image28: np.ndarray) -> Prediction:
    """Probabilities for one 28x28 float image in [0, 1] (white ink on black)."""
    x = np.asarray(image28, dtype=np.float32).reshape(1, 28, 28, 1)
    try:
        probabilities = np.asarray(_forward(model)(x))[0]
    except TypeError:  # not weak-referenceable / not a Keras-on-TF model: call it as it is
        probabilities = np.asarray(model(x, training=False))[0]
    digit = int(probabilities.argmax())
    return Prediction(digit, float(probabilities[digit]), probabilities)


def predict_drawing(model, image):
    """Any drawing or photo -> (Prediction, Preprocessed); raises BlankImageError for an empty one."""
    from core.data.preprocess import canvas_to_mnist

    prepared = canvas_to_mnist(image)
    return predict_digit(model, prepared.image), prepared

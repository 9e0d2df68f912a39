"""Single-image prediction: call the model directly (no `model.predict` overhead)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """The predicted digit, its probability, and all ten probabilities."""

    digit: int
    confidence: float
    probabilities: np.ndarray

    def to_dict(self) -> dict:
        return {"digit": self.digit, "confidence": round(self.confidence, 6),
                "probabilities": [round(float(p), 6) for p in self.probabilities]}


def predict_digit(model, image28: np.ndarray) -> Prediction:
    """Probabilities for one 28x28 float image in [0, 1] (white ink on black)."""
    x = np.asarray(image28, dtype=np.float32).reshape(1, 28, 28, 1)
    probabilities = np.asarray(model(x, training=False))[0]
    digit = int(probabilities.argmax())
    return Prediction(digit, float(probabilities[digit]), probabilities)


def predict_drawing(model, image):
    """Any drawing or photo -> (Prediction, Preprocessed); raises BlankImageError for an empty one."""
    from core.preprocess import canvas_to_mnist

    prepared = canvas_to_mnist(image)
    return predict_digit(model, prepared.image), prepared

"""Test-set metrics in one batched pass: accuracy, loss, per-class figures, confusion, mistakes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mistake:
    """One misclassified test sample."""

    index: int
    true: int
    predicted: int
    confidence: float
    probabilities: np.ndarray


@dataclass(frozen=True)
class Evaluation:
    """Everything the Mistakes page and `evaluate` command show, from one pass over the test set."""

    labels: np.ndarray          # (N,) int
    probabilities: np.ndarray   # (N, classes) float32

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean())

    @property
    def loss(self) -> float:
        """Mean cross-entropy of the probabilities."""
        p = self.probabilities[np.arange(len(self.labels)), self.labels]
        return float(-np.log(np.clip(p, 1e-7, 1.0)).mean())

    @property
    def confusion(self) -> np.ndarray:
        """confusion[true, predicted] = count."""
        n = self.probabilities.shape[1]
        matrix = np.zeros((n, n), dtype=np.int64)
        np.add.at(matrix, (self.labels, self.predictions), 1)
        return matrix

    @property
    def precision(self) -> np.ndarray:
        matrix = self.confusion
        return np.diag(matrix) / np.maximum(matrix.sum(axis=0), 1)

    @property
    def recall(self) -> np.ndarray:
        matrix = self.confusion
        return np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)

    def summary(self) -> dict:
        """Plain-JSON figures for metadata and the command line."""
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "precision": self.precision.round(4).tolist(),
            "recall": self.recall.round(4).tolist(),
            "confusion": self.confusion.tolist(),
        }

    def mistakes(self, true: int | None = None, predicted: int | None = None,
                 most_confident_first: bool = True) -> list[Mistake]:
        """Misclassified samples, optionally filtered by true and predicted digit, sorted by confidence."""
        preds = self.predictions
        mask = preds != self.labels
        if true is not None:
            mask &= self.labels == true
        if predicted is not None:
            mask &= preds == predicted
        idx = np.flatnonzero(mask)
        conf = self.probabilities[idx, preds[idx]]
        order = np.argsort(-conf if most_confident_first else conf, kind="stable")
        return [Mistake(int(i), int(self.labels[i]), int(preds[i]), float(c), self.probabilities[i])
                for i, c in zip(idx[order], conf[order])]


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000, stop_now=None) -> Evaluation:
    """Run `model` (probabilities out) over all images in batches, with Keras' `predict_on_batch`: the model's
    traced predict function without `predict()`'s data pipeline, which cost a short run about 0.1 s of its
    10,000 test images (a fifth of a warm mlp run's overhead; benchmarks section 14). `stop_now()` true ends
    it after the current batch, so the figures cover the images predicted so far."""
    labels = np.asarray(labels, dtype=np.int64)
    batches = []
    for start in range(0, len(images), batch_size):
        batches.append(np.asarray(model.predict_on_batch(images[start:start + batch_size]), dtype=np.float32))
        if stop_now is not None and stop_now():
            break
    if not batches:
        return Evaluation(labels[:0], np.zeros((0, int(model.output_shape[-1])), np.float32))
    probabilities = np.concatenate(batches)
    return Evaluation(labels[:len(probabilities)], probabilities)

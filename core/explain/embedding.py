"""What the model thinks the input is close to: last-hidden-layer embeddings, neighbours, a 2-D map.

The embedding is the input of the classifier (the last Dense layer): the representation the answer
is read from. Where that is wider than `max_dim` (cnn-best's flattened 7x7x128 maps: 6,272 numbers,
1.5 GB for the training set), it is multiplied by a fixed random Gaussian matrix down to `max_dim`
numbers: Johnson-Lindenstrauss keeps distances and angles within a few percent, so neighbours stay
the same neighbours, and 60,000 embeddings fit in 60 MB.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from core.explain.graph import ExplainError, InputShapeError, graph_for

EMBED_MAX_DIM = 256
METRICS = ("cosine", "euclidean")


@dataclass(frozen=True)
class Neighbours:
    """The k nearest stored embeddings to a query, closest first."""

    indices: np.ndarray  # (k,) int64 rows of the stored embedding
    distances: np.ndarray  # (k,) float32
    metric: str


@dataclass(frozen=True)
class EmbeddingMap:
    """A 2-D PCA map of embeddings: the points' coordinates and the projection that placed them."""

    coordinates: np.ndarray  # (N, 2)
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (2, D), unit rows
    explained_variance_ratio: np.ndarray  # (2,)

    def project(self, points) -> np.ndarray:
        """Place new embeddings ((D,) -> (2,), (N, D) -> (N, 2)) on the same map."""
        points = np.asarray(points, dtype=np.float32)
        if points.shape[-1] != self.mean.shape[0]:
            raise ExplainError(f"Expected embeddings of {self.mean.shape[0]} numbers, got shape {points.shape}.")
        return (points - self.mean) @ self.components.T


@lru_cache(maxsize=8)
def _projection(width: int, max_dim: int) -> np.ndarray:
    """A fixed (width, max_dim) Gaussian matrix scaled by 1/sqrt(max_dim): the same for every call."""
    rng = np.random.default_rng(width)
    return (rng.standard_normal((width, max_dim)) / np.sqrt(max_dim)).astype(np.float32)


def embedding_layer_name(model) -> str:
    """The name of the layer whose output is the embedding ("input" when the classifier reads the input)."""
    graph = graph_for(model)
    return "input" if graph.embedding_index < 0 else graph.layers[graph.embedding_index].name


def _embed_function(graph, max_dim: int):
    """tf.function (batch of inputs) -> (batch, <= max_dim) flattened, projected embeddings."""
    import tensorflow as tf

    hidden = graph.submodel(graph.embedding_index)
    source = graph.inputs if graph.embedding_index < 0 else graph.outputs[graph.embedding_index]
    width = int(np.prod(source.shape[1:]))
    matrix = tf.constant(_projection(width, max_dim)) if width > max_dim else None

    def embed_batch(x):
        flat = tf.reshape(hidden(x, training=False), (-1, width))
        return flat if matrix is None else tf.matmul(flat, matrix)

    return tf.function(embed_batch, input_signature=[graph.spec(None)])


def _as_images(images, input_shape: tuple[int, ...]) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) uint8/float -> the same array viewed as (N, *input_shape), unconverted."""
    array = np.asarray(images)
    if array.ndim < 2 or array[0].size != int(np.prod(input_shape)) or array.shape[1:3] != tuple(input_shape[:2]):
        size = "x".join(str(d) for d in input_shape[:2])
        raise InputShapeError(f"Expected a stack of {size} images, got an array of shape {array.shape}.")
    return array.reshape(len(array), *input_shape)


def embed(model, images, batch_size: int = 1024, max_dim: int = EMBED_MAX_DIM,
          progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Embeddings (N, D <= max_dim) of a stack of images, in large compiled batches.

    Meant to run once per model version over the training and test sets (the caller caches it);
    `progress(done, total)` is called after each batch.
    """
    graph = graph_for(model)
    stack = _as_images(images, graph.input_shape)
    function = graph.function(("embed", int(max_dim)), lambda: _embed_function(graph, int(max_dim)))
    scale = np.float32(1 / 255) if stack.dtype == np.uint8 else np.float32(1)
    chunks = []
    for start in range(0, len(stack), int(batch_size)):
        batch = stack[start:start + int(batch_size)].astype(np.float32) * scale
        chunks.append(np.asarray(function(batch)))
        if progress is not None:
            progress(min(start + int(batch_size), len(stack)), len(stack))
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(chunks)


def nearest(embedding_of_train, query_embedding, k: int = 8, metric: str = "cosine") -> Neighbours:
    """The k rows of `embedding_of_train` closest to `query_embedding`: cosine distance (1 - cos) by default.

    Cosine compares the pattern of activations and ignores their overall strength (a thick and a thin
    4 light up the same units, one more than the other); "euclidean" is offered as well.
    """
    stored = np.asarray(embedding_of_train, dtype=np.float32)
    query = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
    if metric not in METRICS:
        raise ExplainError(f"Unknown metric {metric!r}; choose one of: {', '.join(METRICS)}.")
    if stored.ndim != 2 or stored.shape[1] != query.shape[0]:
        raise ExplainError(f"The query has {query.shape[0]} numbers but the stored embeddings are {stored.shape}.")
    if metric == "cosine":
        norms = np.linalg.norm(stored, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
        distances = 1 - (stored @ query) / np.maximum(norms, 1e-12)
    else:
        distances = np.linalg.norm(stored - query, axis=1)  # exact: a stored row's distance to itself is 0
    k = min(int(k), len(stored))
    nearest_k = np.argpartition(distances, k - 1)[:k] if 0 < k < len(stored) else np.arange(k)
    ordered = nearest_k[np.argsort(distances[nearest_k], kind="stable")]
    return Neighbours(ordered.astype(np.int64), np.maximum(distances[ordered], 0).astype(np.float32), metric)


def embedding_map(embeddings) -> EmbeddingMap:
    """PCA to two dimensions (numpy SVD), fit on e.g. the test set's embeddings; signs fixed for stable maps."""
    points = np.asarray(embeddings, dtype=np.float64)
    if points.ndim != 2 or len(points) < 2:
        raise ExplainError(f"A map needs at least two embeddings in an (N, D) array, got shape {points.shape}.")
    mean = points.mean(axis=0)
    _, singular, rows = np.linalg.svd(points - mean, full_matrices=False)
    components = rows[:2]
    components *= np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])[:, None]
    variance = singular ** 2
    ratio = variance[:2] / max(float(variance.sum()), 1e-12)
    components = np.pad(components, ((0, 2 - len(components)), (0, 0)))  # 1-D embeddings: a flat second axis
    ratio = np.pad(ratio, (0, 2 - len(ratio)))
    mean32, components32 = mean.astype(np.float32), components.astype(np.float32)
    coordinates = (points.astype(np.float32) - mean32) @ components32.T
    return EmbeddingMap(coordinates, mean32, components32, ratio.astype(np.float32))

"""A t-SNE map of the test set as a model sees it, made once per model and kept beside it.

The points are the test images' embeddings (core.explain.embedding: the input of the classifier),
reduced to 50 numbers by PCA and laid out in 2-D by openTSNE (van der Maaten and Hinton's t-SNE
with FFT-accelerated gradients; Poličar et al.). PCA (embedding.embedding_map) stays the instant
map; this one keeps neighbourhoods instead of the widest directions, so clusters separate.

A new input (the user's drawing) is placed at the median position of its nearest test images in
the embedding, which is how openTSNE itself starts placing new points.

The map is kept in `<name>.map.npz` in the model store (ModelStore.map_path), keyed by the model
file's SHA-256, the dataset and the settings: a model saved again under the same name, or other
settings, make it afresh.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.explain.graph import ExplainError
from core.store.kept import model_digest, read_kept, write_kept

PCA_DIMENSIONS = 50
EARLY_ITERATIONS = 250  # openTSNE's early exaggeration phase
ITERATIONS = 300  # the normal phase (openTSNE's default 500 gives the same neighbours, measured, in 1.5x the time)
PLACE_NEIGHBOURS = 10
MAP_FORMAT = 1


@dataclass(frozen=True)
class ProjectorMap:
    """2-D coordinates of the embedded points, how they were made, and the key that says for which model."""

    coordinates: np.ndarray  # (N, 2) float32
    key: str
    seed: int
    seconds: float  # how long making it took
    from_cache: bool = False


def _pca(points: np.ndarray, dimensions: int) -> np.ndarray:
    centred = points - points.mean(axis=0)
    if centred.shape[1] <= dimensions:
        return centred
    _, _, rows = np.linalg.svd(centred, full_matrices=False)
    return centred @ rows[:dimensions].T


def tsne_map(embeddings, seed: int = 0, iterations: int = ITERATIONS,
             progress: Callable[[float, str], None] | None = None) -> np.ndarray:
    """(N, 2) t-SNE coordinates of (N, D) embeddings; the same seed gives the same map.

    `progress(fraction, words)` is told when neighbours are being found and every 25 iterations.
    """
    from openTSNE import TSNE

    points = np.asarray(embeddings, dtype=np.float64)
    if points.ndim != 2 or len(points) < 10:
        raise ExplainError(f"A t-SNE map needs at least 10 embeddings in an (N, D) array, got shape {points.shape}.")
    total = EARLY_ITERATIONS + int(iterations)
    done = [0]

    def tick(iteration, error, embedding):
        done[0] += 25
        if progress is not None:
            step = min(done[0], total)
            progress(0.2 + 0.8 * step / total, f"placing the points, step {step} of {total}")

    if progress is not None:
        progress(0.0, "finding each point's nearest neighbours")
    perplexity = min(30.0, (len(points) - 1) / 3)
    tsne = TSNE(perplexity=perplexity, n_iter=int(iterations), early_exaggeration_iter=EARLY_ITERATIONS,
                n_jobs=1, random_state=int(seed), callbacks=tick, callbacks_every_iters=25, verbose=False)
    coordinates = np.asarray(tsne.fit(_pca(points, PCA_DIMENSIONS)), dtype=np.float32)
    if progress is not None:
        progress(1.0, "done")
    return coordinates


def nearest_rows(points, queries, k: int) -> np.ndarray:
    """(len(queries), k) rows of `points` nearest each query (Euclidean), nearest first."""
    from sklearn.neighbors import NearestNeighbors

    k = min(int(k), len(points))
    return NearestNeighbors(n_neighbors=k).fit(points).kneighbors(queries, return_distance=False)


def neighbour_agreement(embeddings, coordinates, k: int = 10) -> float:
    """The share of points whose nearest neighbour on the map is among their k nearest in the embeddings:
    how far the map can be trusted to put together what the network puts together."""
    points = np.asarray(embeddings, np.float32)
    flat = np.asarray(coordinates, np.float32)
    if len(points) != len(flat) or len(points) < k + 2:
        raise ExplainError(f"Need as many map points as embeddings, more than {k + 1} "
                           f"(got {len(flat)} and {len(points)}).")
    on_map = nearest_rows(flat, flat, 2)[:, 1]  # the first is the point itself
    in_embedding = nearest_rows(points, points, k + 1)[:, 1:]
    return float(np.mean([m in row for m, row in zip(on_map, in_embedding)]))


def place(embeddings, coordinates, query, k: int = PLACE_NEIGHBOURS) -> np.ndarray:
    """Where a new embedding goes on the map: the median position of its k nearest embedded points."""
    points = np.asarray(embeddings, np.float32)
    query = np.asarray(query, np.float32).reshape(1, -1)
    if query.shape[1] != points.shape[1]:
        raise ExplainError(f"The query has {query.shape[1]} numbers but the embeddings have {points.shape[1]}.")
    rows = nearest_rows(points, query, k)[0]
    return np.median(np.asarray(coordinates)[rows], axis=0).astype(np.float32)


def map_key(model_file: Path, dataset: str, count: int, seed: int, iterations: int = ITERATIONS) -> str:
    """What a kept map is valid for: the model file's bytes, the dataset, the number of points, the settings."""
    return (f"v{MAP_FORMAT}:{model_digest(model_file)}:{dataset}:{count}:seed{seed}:pca{PCA_DIMENSIONS}:"
            f"iter{EARLY_ITERATIONS}+{iterations}")


def read_map(path: Path, key: str) -> ProjectorMap | None:
    """The map kept at `path` if it was made for `key`; None if there is none, it is stale or unreadable."""
    kept = read_kept(path, key)
    try:
        return None if kept is None else ProjectorMap(kept["coordinates"].astype(np.float32), key, int(kept["seed"]),
                                                      float(kept["seconds"]), from_cache=True)
    except (KeyError, ValueError, TypeError):
        return None


def write_map(path: Path, projector_map: ProjectorMap) -> bool:
    """Keep the map at `path` (written whole, then renamed); False if the folder is not writable."""
    return write_kept(path, projector_map.key, coordinates=projector_map.coordinates, seed=projector_map.seed,
                      seconds=projector_map.seconds)


def kept_map(path: Path, key: str, embeddings: Callable[[], np.ndarray], seed: int = 0,
             iterations: int = ITERATIONS, progress: Callable[[float, str], None] | None = None) -> ProjectorMap:
    """The map for `key`: read from `path` if it was made for that key, else made from `embeddings()` and kept."""
    found = read_map(path, key)
    if found is not None:
        return found
    started = time.perf_counter()
    coordinates = tsne_map(embeddings(), seed=seed, iterations=iterations, progress=progress)
    made = ProjectorMap(coordinates, key, int(seed), time.perf_counter() - started)
    write_map(path, made)
    return made


def model_map(store, name: str, model, dataset, seed: int = 0, embeddings: np.ndarray | None = None,
              progress: Callable[[float, str], None] | None = None) -> ProjectorMap:
    """The t-SNE map of `dataset`'s test set as stored model `name` (loaded as `model`) sees it: kept beside
    the model in `store` and reused while the model file is unchanged. `embeddings` of the test set may be
    given (the page has them already); otherwise they are computed here."""
    from core.explain.embedding import embed

    key = map_key(store.paths(name)[0], dataset.spec.name, len(dataset.x_test), seed)

    def test_embeddings() -> np.ndarray:
        if embeddings is not None:
            return embeddings
        if progress is not None:
            progress(0.0, f"passing the {len(dataset.x_test):,} test images through the model")
        return embed(model, dataset.x_test)

    return kept_map(store.map_path(name), key, test_embeddings, seed=seed, progress=progress)


def kept_model_map(store, name: str, dataset, seed: int = 0) -> ProjectorMap | None:
    """The map kept for stored model `name` on `dataset`'s test set, if one was made for its current file."""
    key = map_key(store.paths(name)[0], dataset.spec.name, len(dataset.x_test), seed)
    return read_map(store.map_path(name), key)

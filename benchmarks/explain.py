"""Inside-the-network latency: activations + saliency for the shipped model on one input, and the one-off
embedding pass. Not wired into `make bench` yet: `explain_latency()` returns the figures as a dict."""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import median, percentile


def _mnist():
    """The MNIST arrays through whichever dataset module this checkout has."""
    try:
        from core import datasets
    except ImportError:
        from core.data import load_mnist
        return load_mnist()
    return datasets.load("mnist") if hasattr(datasets, "load") else datasets.load_mnist()


def _timed(fn, inputs, calls: int) -> list[float]:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(inputs[i % len(inputs)])
        times.append(time.perf_counter() - start)
    return times


def explain_latency(calls: int = 200, model_name: str = "default", embed_train: bool = True) -> dict:
    """Median and p95 ms of activations, saliency and both for one 28x28 input (test digits in turn,
    after a warm-up), plus the seconds to embed the training set once (the page's one-off cost)."""
    from core.explain import activations, embed, saliency
    from core.store import ModelStore

    model = ModelStore().load(model_name)
    mnist = _mnist()
    inputs = [mnist.x_test[i].astype(np.float32) / 255 for i in range(20)]
    ways = {"activations": lambda x: activations(model, x), "saliency": lambda x: saliency(model, x),
            "activations + saliency": lambda x: (activations(model, x), saliency(model, x))}
    figures: dict = {"model": model_name, "calls": calls}
    for name, fn in ways.items():
        _timed(fn, inputs, 5)  # warm-up: graph building and tracing
        times = _timed(fn, inputs, calls)
        figures[f"{name} median ms"] = 1000 * median(times)
        figures[f"{name} p95 ms"] = 1000 * percentile(times, 95)
    if embed_train:
        start = time.perf_counter()
        embedding = embed(model, mnist.x_train)
        figures["embed training set s"] = time.perf_counter() - start
        figures["embedding shape"] = tuple(embedding.shape)
    return figures


if __name__ == "__main__":
    for key, value in explain_latency().items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")

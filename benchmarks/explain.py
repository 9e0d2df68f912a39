"""Section 8, inside-the-network latency: activations + saliency for the shipped model on one input,
and the one-off embedding pass over the training set."""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Report, fmt, median, percentile


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
    from core.data import datasets
    from core.explain import activations, embed, saliency
    from core.store import ModelStore

    model = ModelStore().load(model_name)
    mnist = datasets.load("mnist")
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


def inside_latency(report: Report) -> None:
    """Section 8: what the Inside page computes per change, and once per model."""
    calls = 30 if report.settings.quick else 200
    f = explain_latency(calls=calls, embed_train=not report.settings.quick)
    rows = [f"| {name} | {fmt(f[f'{name} median ms'], 2)} | {fmt(f[f'{name} p95 ms'], 2)} |"
            for name in ("activations", "saliency", "activations + saliency")]
    once = (f"Embedding the 60,000 training images once per model (for the nearest neighbours): "
            f"{fmt(f['embed training set s'])} s, {f['embedding shape'][1]} numbers per image."
            if "embed training set s" in f else "Embedding pass not run (quick mode).")
    report.add("8. Inside the network: activations and saliency", "\n".join([
        f"The shipped `{f['model']}` model (cnn-best) on one 28x28 input, {f['calls']} calls over 20 test digits "
        "in turn after a warm-up; `core.explain.activations` (every layer's output in one compiled call) and "
        "`core.explain.saliency` (Grad-CAM at the last convolution). Goal: both within 100 ms of a change.", "",
        "| what | median ms | p95 ms |", "|---|---|---|", *rows, "", once]))


if __name__ == "__main__":
    for key, value in explain_latency().items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")

"""Section 18, what the network imagines and how to fool it: ten class images for the shipped cnn-best, FGSM and
PGD on one drawing, the smallest flipping ε, the t-SNE map of the test set (made, then read back), and the
shipped cnn-best's robustness curve; and whether augmentation or stroke-drawn copies make a network resist
attacks better (benchmarks/resistance.py: the same small network trained three ways, seeded, then attacked)."""
from __future__ import annotations

import tempfile
import time

import numpy as np

from benchmarks import resistance
from benchmarks.common import Report, fmt, median


def _times(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _spread(times: list[float], scale: float = 1.0, digits: int = 2) -> str:
    low, middle, high = (fmt(scale * value, digits) for value in (min(times), median(times), max(times)))
    return f"{middle} ({low} to {high})"


def imagine_figures(quick: bool = False) -> dict:
    from core import explain
    from core.data import datasets
    from core.store import ModelStore

    store = ModelStore()
    cnn = store.load("default")
    mnist = datasets.load("mnist")
    seven = mnist.x_test[0].astype(np.float32) / 255
    f: dict = {"quick": quick}

    start = time.perf_counter()
    result = explain.imagine_classes(cnn)
    f["imagine first s"] = time.perf_counter() - start
    f["imagine s"] = _times(lambda: explain.imagine_classes(cnn), 2 if quick else 5)
    f["imagine lowest probability"] = float(result.probabilities[np.arange(10), np.arange(10)].min())
    f["units s"] = _times(lambda: explain.imagine_units(cnn, "conv2d_3", range(12)), 1 if quick else 3)

    explain.attack(cnn, seven, 0.1, "fgsm")
    explain.attack(cnn, seven, 0.1, "pgd")
    f["fgsm ms"] = _times(lambda: explain.attack(cnn, seven, 0.1, "fgsm"), 10 if quick else 50)
    f["pgd ms"] = _times(lambda: explain.attack(cnn, seven, 0.1, "pgd"), 5 if quick else 20)
    f["flip fgsm s"] = _times(lambda: explain.smallest_flip(cnn, seven, "fgsm"), 1 if quick else 5)
    f["flip pgd s"] = _times(lambda: explain.smallest_flip(cnn, seven, "pgd"), 1 if quick else 3)
    f["flip fgsm levels"] = explain.smallest_flip(cnn, seven, "fgsm").levels
    f["flip pgd levels"] = explain.smallest_flip(cnn, seven, "pgd").levels

    count = 1000 if quick else len(mnist.x_test)
    with tempfile.TemporaryDirectory() as folder:
        scratch = ModelStore(folder)
        scratch.save("bench", cnn, store.read_meta("default"))
        subset = datasets.Dataset(mnist.spec, mnist.x_train, mnist.y_train, mnist.x_test[:count], mnist.y_test[:count])
        start = time.perf_counter()
        embeddings = explain.embed(cnn, subset.x_test)
        f["embed test s"] = time.perf_counter() - start
        made = explain.model_map(scratch, "bench", cnn, subset, embeddings=embeddings)
        f["tsne s"] = made.seconds
        f["tsne read s"] = _times(lambda: explain.model_map(scratch, "bench", cnn, subset, embeddings=embeddings), 5)
        f["tsne points"] = count
        f["agreement tsne"] = explain.neighbour_agreement(embeddings, made.coordinates)
        f["agreement pca"] = explain.neighbour_agreement(embeddings, explain.embedding_map(embeddings).coordinates)

    images = 100 if quick else 500
    f["curve images"], f["curve eps"] = images, resistance.EPS
    for method, steps, _ in resistance.METHODS:
        start = time.perf_counter()
        curve = explain.robustness_curve(cnn, mnist.x_test[:images], mnist.y_test[:images], resistance.EPS, method,
                                         steps=steps)
        f[("curve", "cnn-best (default)", method)] = (curve.accuracy, time.perf_counter() - start)
    f["resistance"] = resistance.measure(resistance.Plan.for_mode(quick))
    return f


def imagine_section(report: Report, title: str) -> None:
    f = imagine_figures(report.settings.quick)
    curve_rows = []
    for key, (accuracy, seconds) in ((k, v) for k, v in f.items() if isinstance(k, tuple)):
        _, name, method = key
        how = dict((m, h) for m, _, h in resistance.METHODS)[method]
        curve_rows.append(f"| {name} | {how} | " + " | ".join(f"{a:.3f}" for a in accuracy) + f" | {fmt(seconds)} |")
    eps_header = " | ".join(f"ε = {e:g}" for e in f["curve eps"])
    report.add(title, "\n".join([
        "The shipped `default` model (cnn-best) unless said otherwise; `core.explain` as the Inside page and the "
        "command line call it. Medians, with the fastest and slowest run in brackets.", "",
        "| what | figure | aim |", "|---|---|---|",
        f"| ten class images (200 steps, one batch), first call with tracing | {fmt(f['imagine first s'], 2)} s | |",
        f"| ten class images, after the first call | {_spread(f['imagine s'])} s | 3 s |",
        f"| lowest probability of its class among the ten images | {f['imagine lowest probability']:.3f} | >= 0.9 |",
        f"| twelve channel images of conv2d_3 | {_spread(f['units s'])} s | |",
        f"| FGSM on one drawing | {_spread(f['fgsm ms'], 1000, 1)} ms | 50 ms |",
        f"| PGD, 20 steps, on one drawing | {_spread(f['pgd ms'], 1000, 1)} ms | 500 ms |",
        f"| smallest flipping ε, FGSM (test digit 0: {f['flip fgsm levels']}/255) | {_spread(f['flip fgsm s'])} s | |",
        f"| smallest flipping ε, PGD (test digit 0: {f['flip pgd levels']}/255) | {_spread(f['flip pgd s'])} s | |",
        f"| embedding the {f['tsne points']:,} test images | {fmt(f['embed test s'], 1)} s | |",
        f"| t-SNE map of the {f['tsne points']:,} test images (made once per model) | {fmt(f['tsne s'], 1)} s | 60 s |",
        f"| the kept map read back (file hash + read) | {_spread(f['tsne read s'], 1000, 1)} ms | instant |",
        f"| points whose nearest neighbour on the map is among its 10 nearest in the activations | "
        f"t-SNE {f['agreement tsne']:.1%}, PCA {f['agreement pca']:.1%} | most |", "",
        f"The shipped model's robustness: accuracy on the first {f['curve images']} test images under untargeted "
        "attacks (an image counts as fooled at ε if any attack up to that ε fooled it), and the seconds each curve "
        "took. It was trained with both augmentation and stroke-drawn copies, for longer than the models below.", "",
        f"| model | attack | {eps_header} | s |", "|---|---|" + "---|" * (len(f["curve eps"]) + 1), *curve_rows, "",
        resistance.section_text(f["resistance"])]))

"""Inference benchmarks: single-image latency (4) and accuracy on drawings: MNIST digits redrawn as mouse strokes and
digits in handwriting fonts (5)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from benchmarks.common import Report, median, pct, percentile
from core.data import datasets, font_digits
from core.data.preprocess import canvas_to_mnist
from core.data.strokes import FORMS, robustness_set
from core.nets.evaluation import evaluate
from core.nets.predict import predict_digit, predict_drawing
from core.store import ModelStore


def _ms(samples: list[float]) -> str:
    return f"{1000 * median(samples):.2f} | {1000 * percentile(samples, 95):.2f}"


def latency(report: Report) -> None:
    """Section 4: canvas image -> probabilities for one image, the app's path against model.predict."""
    s = report.settings
    model = ModelStore().load("default")
    mnist = datasets.load("mnist")
    canvases, _, _ = robustness_set(mnist.x_test, mnist.y_test, 30, seed=1)
    x = canvas_to_mnist(canvases[0]).image.reshape(1, 28, 28, 1)
    ways = {
        "`predict_drawing` (preprocess + compiled model call): the app's path": lambda c: predict_drawing(model, c),
        "`canvas_to_mnist` + `model.predict(x)`": lambda c: model.predict(
            canvas_to_mnist(c).image.reshape(1, 28, 28, 1), verbose=0),
        "`canvas_to_mnist` + eager `model(x, training=False)`": lambda c: np.asarray(
            model(canvas_to_mnist(c).image.reshape(1, 28, 28, 1), training=False)),
        "`canvas_to_mnist` alone (preprocessing)": canvas_to_mnist,
        "`predict_digit` alone (compiled model call)": lambda c: predict_digit(model, x),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for fn in ways.values():                     # warm-up: tracing, caches
        for canvas in canvases[:3]:
            fn(canvas)
    print(f"[4] {s.latency_calls} calls per way ...", flush=True)
    for i in range(s.latency_calls):             # interleaved, so every way sees the same load
        canvas = canvases[i % len(canvases)]
        for name, fn in ways.items():
            start = time.perf_counter()
            fn(canvas)
            times[name].append(time.perf_counter() - start)
    ours, keras_predict = (median(times[n]) for n in list(ways)[:2])
    rows = [f"| {name} | {_ms(t)} |" for name, t in times.items()]
    report.results["latency_ms"] = 1000 * ours
    report.add("4. Prediction latency", "\n".join([
        f"One 280x280 RGBA canvas (redrawn test digits, {len(canvases)} different ones in turn) to ten probabilities "
        f"with the shipped default model; {s.latency_calls} calls per way, interleaved, after a warm-up.", "",
        "| way | median ms | 95th percentile ms |", "|---|---|---|", *rows, "",
        f"**The app's path: median {1000 * ours:.2f} ms** (aim ≤ 5 ms: {'met' if 1000 * ours <= 5 else 'not met'}); "
        f"`model.predict` on the same input takes {keras_predict / ours:.0f}x as long."]))


AIM = 0.995   # issue 23: the shipped default reads at least 99.5% of the stroke set, of the font set and of MNIST test
WORST_SHOWN = 20
WORST_IMAGE = "benchmark-worst-drawings.png"   # beside the report (docs/)
STROKE_MISSES_IMAGE = "benchmark-stroke-misses.png"


def _robust_accuracy(model, x, y, forms) -> dict[str, float]:
    probabilities = evaluate(model, x, y).probabilities
    hits = probabilities.argmax(axis=1) == y
    return {"all": float(hits.mean()), **{form: float(hits[forms == form].mean()) for form in FORMS}}


@dataclass(frozen=True)
class StrokeSet:
    """The robustness set, preprocessed by the app's `canvas_to_mnist`, and which MNIST test digit each redraws."""

    x: np.ndarray        # (n, 28, 28, 1) network inputs
    labels: np.ndarray   # (n,)
    forms: np.ndarray    # (n,) the form each was drawn in
    sources: np.ndarray  # (n,) index of the MNIST test digit each drawing redraws


_stroke_sets: dict[int, StrokeSet] = {}


def stroke_set(n: int) -> StrokeSet:
    """The benchmark's stroke set of n drawings, made once per n."""
    if n not in _stroke_sets:
        mnist = datasets.load("mnist")
        print(f"    generating {n} stroke drawings ...", flush=True)
        # Indices for labels: the same drawings (the labels draw nothing from the generator), and which digit each is.
        canvases, sources, forms = robustness_set(mnist.x_test, np.arange(len(mnist.y_test)), n, seed=0)
        x = np.stack([canvas_to_mnist(c).image for c in canvases])[..., None]
        _stroke_sets[n] = StrokeSet(x, mnist.y_test[sources], np.asarray(forms), sources)
    return _stroke_sets[n]


def stroke_accuracy(model, n: int) -> float:
    strokes = stroke_set(n)
    return _robust_accuracy(model, strokes.x, strokes.labels, strokes.forms)["all"]


@dataclass(frozen=True)
class Misread:
    """A drawing the model reads wrong; `original` is the MNIST digit it redraws, for the stroke set."""

    set_name: str
    image: np.ndarray
    label: int
    read_as: int
    p_label: float
    original: np.ndarray | None = None


def misread_drawings(model, sets: dict[str, tuple]) -> list[Misread]:
    """The drawings of `sets` (name -> (x, labels) or (x, labels, originals)) that `model` misreads, the most surely
    misread (the least probability given to the label) first."""
    misread = []
    for name, (x, labels, *originals) in sets.items():
        probabilities = evaluate(model, x, labels).probabilities
        for i in np.flatnonzero(probabilities.argmax(axis=1) != labels):
            misread.append(Misread(name, x[i, ..., 0], int(labels[i]), int(probabilities[i].argmax()),
                                   float(probabilities[i, labels[i]]), originals[0][i] if originals else None))
    return sorted(misread, key=lambda row: row.p_label)


def misread_image(rows: list[Misread], path, columns: int = 10, zoom: int = 3) -> None:
    """The drawings as one PNG: each network input enlarged, with the MNIST digit it redraws to its left where
    there is one, and its set, label and answer under it."""
    from PIL import Image, ImageDraw

    def tile(image, ink_scale: float) -> Image.Image:  # ink dark on white
        ink = np.clip(np.asarray(image, np.float32) * ink_scale, 0, 1)
        return Image.fromarray(np.rint(255 * (1 - ink)).astype(np.uint8)).resize((cell, cell), Image.Resampling.NEAREST)

    cell, gap, caption = 28 * zoom, 4, 26
    pairs = any(row.original is not None for row in rows)
    width = (2 * cell + gap if pairs else cell) + gap
    sheet = Image.new("L", (columns * width, -(-len(rows) // columns) * (cell + caption)), 255)
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        left, top = (i % columns) * width, (i // columns) * (cell + caption)
        if row.original is not None:
            sheet.paste(tile(row.original, 1 / 255), (left, top))
            draw.rectangle([left, top, left + cell - 1, top + cell - 1], outline=210)
        if pairs:
            left += cell + gap
        sheet.paste(tile(row.image, 1.0), (left, top))
        draw.rectangle([left, top, left + cell - 1, top + cell - 1], outline=160)
        draw.text((left + 3, top + cell + 1), f"{row.label} read as {row.read_as}", fill=0)
        draw.text((left + 3, top + cell + 13), f"{row.set_name}, p({row.label}) {row.p_label:.2f}", fill=90)
    sheet.save(path)


def robustness(report: Report, title: str) -> None:
    """Section 5: accuracy on drawings (MNIST test digits redrawn as mouse strokes, digits in handwriting fonts)
    against MNIST test, and the twenty drawings the shipped default misreads most surely."""
    s = report.settings
    mnist = datasets.load("mnist")
    strokes = stroke_set(s.robustness_n)
    x, labels, forms = strokes.x, strokes.labels, strokes.forms
    fonts = font_digits.load()
    x_test, y_test = mnist.test_arrays()
    candidates = [("default (shipped)", ModelStore().load("default"))]
    for key in ("cnn-best", "cnn-fast"):
        for i, run in enumerate(report.results.get(key, [])):
            candidates.append((f"{key} trained above, run {i + 1}", run.model))
    rows, scores = [], {}
    for name, model in candidates:
        result = _robust_accuracy(model, x, labels, forms)
        font_acc = evaluate(model, fonts.x, fonts.labels).accuracy
        mnist_acc = evaluate(model, x_test, y_test).accuracy
        scores[name] = (result["all"], mnist_acc, font_acc)
        rows.append(f"| {name} | {pct(mnist_acc)} | **{pct(result['all'])}** | "
                    + " | ".join(pct(result[f]) for f in FORMS) + f" | **{pct(font_acc)}** |")
        print(f"    {name}: strokes {pct(result['all'])}, fonts {pct(font_acc)}, MNIST {pct(mnist_acc)}", flush=True)
    default_strokes, default_mnist, default_fonts = scores["default (shipped)"]
    report.results["robustness"] = scores
    originals = mnist.x_test[strokes.sources]
    misread = misread_drawings(candidates[0][1], {"strokes": (x, labels, originals), "fonts": (fonts.x, fonts.labels)})
    worst = misread[:WORST_SHOWN]
    stroke_misses = [row for row in misread if row.set_name == "strokes"]
    misread_image(worst, report.path.parent / WORST_IMAGE)
    misread_image(stroke_misses, report.path.parent / STROKE_MISSES_IMAGE)
    aims = " and ".join(f"{what} {pct(value)} ({'met' if value >= AIM else 'not met'})" for what, value in
                        (("stroke set", default_strokes), ("font set", default_fonts), ("MNIST test", default_mnist)))
    report.add(title, "\n".join([
        f"**Stroke set**: `core.data.strokes.robustness_set(x_test, y_test, n={s.robustness_n}, seed=0)`: MNIST test "
        "digits thinned to their skeleton and redrawn with a round brush (8-28 px) at random size (30-90% of the "
        "canvas), position, slant (±15°) and aspect on a 280x280 canvas, cycling through the three forms a user can "
        "produce; each goes through the app's `canvas_to_mnist`. Regenerate it with the same call. Section 1 scores "
        "each cnn-best run on this same set.", "",
        f"**Font set**: `data/font-digits.npz` ({len(fonts.labels):,} drawings: each digit of "
        f"{len(set(fonts.fonts.tolist()))} handwriting fonts from Debian, drawn {len(fonts.labels) // 10 // len(set(fonts.fonts.tolist()))} "
        "times on the canvas at random size, place, tilt and pen width, in the three forms, through `canvas_to_mnist`; "
        "`make font-digits` remakes it, data/README.md lists the fonts). Nothing is trained on either set.", "",
        "| model | MNIST test | stroke set, all | " + " | ".join(FORMS) + " | font set |",
        "|---|---|---|" + "---|" * len(FORMS) + "---|", *rows, "",
        f"**Shipped default model: {aims}** (aim: at least {pct(AIM, 1)} on each).", "",
        f"The {len(worst)} drawings it misreads most surely (the least probability given to the right digit first), "
        "as the network sees them (28x28, after `canvas_to_mnist`; ink drawn dark here), each stroke drawing to the "
        "right of the MNIST test digit it redraws:", "",
        f"![The {len(worst)} drawings the shipped default misreads most surely]({WORST_IMAGE})", "",
        f"Every stroke drawing it misreads ({len(stroke_misses)} of {len(labels):,}), each beside the digit it redraws, "
        "so a reader can judge whether the drawing still shows its label:", "",
        f"![Every stroke drawing the shipped default misreads, beside the MNIST digit it redraws]({STROKE_MISSES_IMAGE})"]))


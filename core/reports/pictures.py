"""The report's pictures as data: URIs (PNG inside the HTML, nothing fetched): curves, many runs' parallel
coordinates and overlaid curves, a digit, a replay frame. Drawn with matplotlib's Figure (no pyplot: no
global state, safe in the server's threads), in the palette the pages use (Okabe-Ito)."""
from __future__ import annotations

import base64
import io
from typing import Any, Sequence

import numpy as np

from core.sweeps.compare import RunRow, parallel_points

BLUE, ORANGE, VERMILLION, GREEN = "#0072B2", "#E69F00", "#D55E00", "#009E73"
DPI = 110


def uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(width: float, height: float, columns: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns)
    for one in np.atleast_1d(axes):
        for side in ("top", "right"):
            one.spines[side].set_visible(False)
    return figure, axes


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _percent(axes) -> None:
    from matplotlib.ticker import PercentFormatter

    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def history_png(history: Sequence[dict[str, float]], title: str = "") -> bytes:
    """Loss and accuracy per epoch, training and validation, side by side."""
    figure, (loss, accuracy) = _figure(10, 3.6, columns=2)
    epochs = [entry.get("epoch", i + 1) for i, entry in enumerate(history)]
    for axes, metric in ((loss, "loss"), (accuracy, "accuracy")):
        for key, colour, name in ((metric, BLUE, "training"), (f"val_{metric}", ORANGE, "validation")):
            values = [entry.get(key) for entry in history]
            if any(v is not None for v in values):
                axes.plot(epochs, values, marker="o", color=colour, linewidth=2, label=name)
        axes.set_xlabel("epoch")
        axes.set_title(metric.capitalize())
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(color="#dddddd")
    _percent(accuracy)
    loss.legend(frameon=False)
    if title:
        figure.suptitle(title)
    return png(figure)


def parallel_png(rows: Sequence[RunRow], names: Sequence[str], title: str = "") -> bytes:
    """Parallel coordinates: one axis per varied setting, then the results; a line per run by validation accuracy."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    points, ticks = parallel_points(rows, names)
    order = list(dict.fromkeys(p["axis"] for p in points))
    figure, axes = _figure(max(8.0, 2.2 * len(order)), 5.0)
    accuracies = [r.val_accuracy for r in rows if r.val_accuracy is not None]
    norm = Normalize(min(accuracies, default=0), max(accuracies, default=1))
    cmap = colormaps["viridis"]
    for row in rows:
        mine = {p["axis"]: p["place"] for p in points if p["run"] == row.label}
        ys = [mine.get(axis, np.nan) for axis in order]
        colour = cmap(norm(row.val_accuracy)) if row.val_accuracy is not None else "#999999"
        axes.plot(range(len(order)), ys, color=colour, linewidth=2, marker="o", alpha=0.9,
                  linestyle="--" if row.state == "pruned" else "-")
    for i in range(len(order)):
        axes.axvline(i, color="#888888", linewidth=1)
    for tick in ticks:
        axes.annotate(tick["label"], (order.index(tick["axis"]), tick["place"]), xytext=(6, 0),
                      textcoords="offset points", fontsize=9, va="center")
    axes.set_xticks(range(len(order)), [a.replace("_", " ") for a in order])
    axes.xaxis.tick_top()
    axes.set_yticks([])
    axes.spines[["left", "bottom"]].set_visible(False)
    axes.set_ylim(-0.05, 1.05)
    figure.colorbar(ScalarMappable(norm, cmap), ax=axes, label="validation accuracy", format="{x:.0%}")
    if title:
        figure.suptitle(title)
    return png(figure)


def overlay_png(rows: Sequence[RunRow], colour_by: str) -> bytes:
    """Validation accuracy per epoch of every run, coloured by one setting; a pruned run ends in a cross."""
    from matplotlib import colormaps

    figure, axes = _figure(8, 4)
    values = [row.settings.get(colour_by) for row in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and len(set(values)) > 2
    categories = sorted({str(v) for v in values})
    cmap = colormaps["viridis"]
    low, high = (min(values), max(values)) if numeric else (0, 1)
    for row, value in zip(rows, values):
        points = [(e.get("epoch", i + 1), e["val_accuracy"]) for i, e in enumerate(row.history) if "val_accuracy" in e]
        if not points:
            continue
        share = (value - low) / (high - low) if numeric and high > low else categories.index(str(value)) / max(
            1, len(categories) - 1)
        xs, ys = zip(*points)
        axes.plot(xs, ys, color=cmap(share), linewidth=2, marker="o", label=f"{row.label}: {value}")
        if row.state == "pruned":
            axes.plot(xs[-1], ys[-1], marker="X", markersize=12, color=VERMILLION)
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation accuracy")
    axes.xaxis.get_major_locator().set_params(integer=True)
    _percent(axes)
    axes.grid(color="#dddddd")
    axes.set_title(f"Validation accuracy, coloured by {colour_by.replace('_', ' ')}")
    if len(rows) <= 12:
        axes.legend(frameon=False, fontsize=8, loc="lower right")
    return png(figure)


def image_uri(image: np.ndarray, scale: int = 2) -> str:
    """A uint8 (h, w) or (h, w, 3) picture, enlarged `scale` times with square pixels."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image))
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return uri(buffer.getvalue())


def digit(image: Any) -> np.ndarray:
    """A network input (float in [0, 1] or uint8, any trailing channel of 1) as uint8 (28, 28)."""
    array = np.asarray(image)
    array = array.reshape(array.shape[0], array.shape[1]) if array.ndim == 3 else array
    if array.dtype != np.uint8:
        array = np.clip(np.round(array * 255), 0, 255).astype(np.uint8)
    return array

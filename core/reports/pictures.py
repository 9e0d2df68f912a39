"""The report's pictures as data: URIs (PNG inside the HTML, nothing fetched): curves, many runs' parallel
coordinates, overlaid curves and what mattered, a digit, a replay frame. Drawn with matplotlib's Figure (no
pyplot: no global state, safe in the server's threads), in the palette the pages use (Okabe-Ito).

The many-runs pictures come in two sizes (`Look`): REPORT, inline in an HTML report, and SLIDE, the Compare
page's "PNG for your slides": 16:9, 2000 pixels wide, type and lines large enough for a projector."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.sweeps.compare import RunRow, axis_positions, axis_text, colour_value, parallel_points

BLUE, ORANGE, VERMILLION, GREEN = "#0072B2", "#E69F00", "#D55E00", "#009E73"
OUTSIDE = "#d0d0d0"          # a run left out of a brushed box, as the Compare page greys it
DPI = 110


@dataclass(frozen=True)
class Look:
    """How large a picture is drawn: inline in a report, or a 16:9 slide read from the back of a room.
    width None: as wide as the picture's content asks (the report's parallel coordinates grow with their axes)."""

    width: float | None
    height: float
    font: float
    line: float
    marker: float
    dpi: int


REPORT = Look(None, 5.0, 10, 2, 6, DPI)
SLIDE = Look(13.333, 7.5, 20, 4.5, 11, 150)     # 2000 x 1125 pixels: a projector's 16:9, type readable at the back


def uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(width: float, height: float, columns: int = 1, look: Look = REPORT):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=look.dpi, layout="constrained")
    axes = figure.subplots(1, columns)
    for one in np.atleast_1d(axes):
        one.tick_params(labelsize=look.font)
        one.xaxis.label.set_size(look.font * 1.1)
        one.yaxis.label.set_size(look.font * 1.1)
        for side in ("top", "right"):
            one.spines[side].set_visible(False)
    return figure, axes


def png(figure) -> bytes:
    """The figure as PNG bytes, at the figure's own dpi (so its pixel boxes are the PNG's)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi, facecolor="white")
    return buffer.getvalue()


def _percent(axes, decimals: int = 0, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (axes.yaxis if axis == "y" else axes.xaxis).set_major_formatter(PercentFormatter(xmax=1, decimals=decimals))


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


def parallel_figure(rows: Sequence[RunRow], names: Sequence[str], title: str = "", kept: set[str] | None = None,
                    look: Look = REPORT):
    """Parallel coordinates: one axis per varied setting, then the results; a line per run (its gid the run's
    label) coloured by validation accuracy, dashed when pruned; runs outside `kept` (a brushed box) grey."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    points, ticks = parallel_points(rows, names)
    order = list(dict.fromkeys(p["axis"] for p in points))
    figure, axes = _figure(look.width or max(8.0, 2.2 * len(order)), look.height, look=look)
    accuracies = [r.val_accuracy for r in rows if r.val_accuracy is not None]
    norm = Normalize(min(accuracies, default=0), max(accuracies, default=1))
    cmap = colormaps["viridis"]
    for row in rows:
        mine = {p["axis"]: p["place"] for p in points if p["run"] == row.label}
        ys = [mine.get(axis, np.nan) for axis in order]
        inside = kept is None or row.label in kept
        colour = cmap(norm(row.val_accuracy)) if inside and row.val_accuracy is not None else (
            OUTSIDE if not inside else "#999999")
        axes.plot(range(len(order)), ys, color=colour, linewidth=look.line, marker="o", markersize=look.marker,
                  linestyle="--" if row.state == "pruned" else "-", zorder=3 if inside else 2, gid=row.label)
    for i in range(len(order)):
        axes.axvline(i, color="#888888", linewidth=1, zorder=1)
    for tick in ticks:
        axes.annotate(tick["label"], (order.index(tick["axis"]), tick["place"]), xytext=(6, 0),
                      textcoords="offset points", fontsize=look.font * 0.9, va="center", zorder=4)
    axes.set_xticks(range(len(order)), [a.replace("_", " ") for a in order])
    axes.xaxis.tick_top()
    axes.set_yticks([])
    axes.spines[["left", "bottom"]].set_visible(False)
    axes.set_ylim(-0.05, 1.05)
    bar = figure.colorbar(ScalarMappable(norm, cmap), ax=axes, format="{x:.0%}")
    bar.set_label("validation accuracy", size=look.font)
    bar.ax.tick_params(labelsize=look.font * 0.9)
    if kept is not None:
        title = f"{title} · {len(kept)} of {len(rows)} runs inside the box" if title else \
            f"{len(kept)} of {len(rows)} runs inside the box"
    if title:
        figure.suptitle(title, fontsize=look.font * 1.2)
    return figure


def parallel_png(rows: Sequence[RunRow], names: Sequence[str], title: str = "", kept: set[str] | None = None,
                 look: Look = REPORT) -> bytes:
    return png(parallel_figure(rows, names, title, kept, look))


def overlay_figure(rows: Sequence[RunRow], colour_by: str, look: Look = REPORT):
    """Validation accuracy per epoch of every run (a line each, its gid the run's label), coloured by one setting
    or figure; a pruned run ends in a cross."""
    from matplotlib import colormaps

    figure, axes = _figure(look.width or 8, look.height if look.width else 4, look=look)
    values = [colour_value(row, colour_by) for row in rows]
    places, _ = axis_positions(values)          # 0 to 1, as on the parallel coordinates' axis (log where it spreads)
    cmap = colormaps["viridis"]
    for row, value, place in zip(rows, values, places):
        points = [(e.get("epoch", i + 1), e["val_accuracy"]) for i, e in enumerate(row.history) if "val_accuracy" in e]
        if not points:
            continue
        xs, ys = zip(*points)
        axes.plot(xs, ys, color="#999999" if place is None else cmap(place), linewidth=look.line, marker="o",
                  markersize=look.marker, label=f"{row.label}: {axis_text(colour_by, value)}", gid=row.label)
        if row.state == "pruned":
            axes.plot(xs[-1], ys[-1], marker="X", markersize=look.marker * 2, color=VERMILLION, zorder=4)
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation accuracy")
    axes.xaxis.get_major_locator().set_params(integer=True)
    _percent(axes, decimals=1 if _spread([y for r in rows for y in _accuracies(r)]) < 0.05 else 0)
    axes.grid(color="#dddddd")
    axes.set_title(f"Validation accuracy, coloured by {colour_by.replace('_', ' ')}", fontsize=look.font * 1.2)
    if len(rows) <= 12:
        axes.legend(frameon=False, fontsize=look.font * 0.85, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def overlay_png(rows: Sequence[RunRow], colour_by: str, look: Look = REPORT) -> bytes:
    return png(overlay_figure(rows, colour_by, look))


def _accuracies(row: RunRow) -> list[float]:
    return [e["val_accuracy"] for e in row.history if "val_accuracy" in e]


def _spread(values: Sequence[float]) -> float:
    return max(values) - min(values) if values else 0.0


def importance_figure(shares: dict[str, float], title: str = "", look: Look = REPORT):
    """What mattered: each setting's share of the spread in validation accuracy, largest at the top."""
    figure, axes = _figure(look.width or 8, look.height if look.width else 1 + 0.6 * len(shares), look=look)
    names = [n.replace("_", " ") for n in shares][::-1]
    values = list(shares.values())[::-1]
    bars = axes.barh(names, values, color=BLUE, height=0.6)
    axes.bar_label(bars, labels=[f"{v:.0%}" for v in values], padding=6, fontsize=look.font)
    axes.set_xlim(0, 1.12)
    _percent(axes, axis="x")
    axes.set_xlabel("share of the spread in validation accuracy")
    if title:
        figure.suptitle(title, fontsize=look.font * 1.2)
    return figure


def importance_png(shares: dict[str, float], title: str = "", look: Look = REPORT) -> bytes:
    return png(importance_figure(shares, title, look))


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

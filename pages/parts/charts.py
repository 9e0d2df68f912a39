"""The pages' charts, in one style: one colour-blind-safe palette (Okabe-Ito), one set of font sizes.

Each chart comes twice: an interactive Altair chart for the page, and a matplotlib PNG of
the same data for the "Download as PNG for your slides" button (rendered only when clicked).
Altair and matplotlib are imported inside the functions, so a page without charts pays nothing.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

if TYPE_CHECKING:
    import pandas as pd  # imported where a chart is made: pages that only import this module need no pandas

# Okabe & Ito's palette: told apart with every common colour-vision deficiency.
BLUE, ORANGE, GREEN, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
SKY, PURPLE, YELLOW, BLACK, GREY = "#56B4E9", "#CC79A7", "#F0E442", "#000000", "#999999"
CATEGORICAL = [BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, BLACK, YELLOW]
DASHES = [[1, 0], [8, 4], [2, 3], [8, 3, 2, 3], [12, 3], [4, 4], [1, 0], [8, 4]]  # solid, dashed, dotted, ...
HIGHLIGHT, NEUTRAL = VERMILLION, "#a6c4dc"  # the one answer picked out, and the rest
SERIES = {"training": BLUE, "validation": ORANGE}
CORRECT = "#cfe2f3"  # a confusion matrix's diagonal: pale blue, apart from the orange of mistakes
MISTAKE_LOW, MISTAKE_HIGH = np.array([254, 230, 206]), np.array([217, 72, 1])  # light to dark orange
GRID = "#dddddd"

LABEL_SIZE, TITLE_SIZE, HEADING_SIZE, TEXT_SIZE = 14, 15, 17, 13  # axis labels, axis titles, chart titles, marks
LARGE = 1.6  # presenter view: type and chart heights this much larger, for the back of a room
PNG_DPI = 200
PNG_LABEL = "Download as PNG for your slides"


def style(chart, large: bool = False):
    """The one style for every Altair chart on the pages; `large` for presenter view (bigger type, black text)."""
    k = LARGE if large else 1
    ink = {"labelColor": "#000000", "titleColor": "#000000"} if large else {}
    return (chart.configure_axis(labelFontSize=LABEL_SIZE * k, titleFontSize=TITLE_SIZE * k, **ink)
            .configure_title(fontSize=HEADING_SIZE * k, **({"color": "#000000"} if large else {}))
            .configure_legend(labelFontSize=LABEL_SIZE * k, titleFontSize=LABEL_SIZE * k,
                              symbolSize=100 * k * k, **({"labelColor": "#000000"} if large else {})))


def png_download(render: Callable[[], bytes], file_name: str, key: str) -> None:
    """A download button for a PNG of the chart beside it, drawn with matplotlib only when clicked."""
    st.download_button(PNG_LABEL, data=render, file_name=file_name, mime="image/png", key=key,
                       icon=":material/image:", on_click="ignore")


# --- confusion matrix -------------------------------------------------------------------------------

def confusion_fills(matrix) -> tuple[np.ndarray, np.ndarray]:
    """(hex fill per cell, whether its count needs white text): right answers pale blue, mistakes
    orange by how often they happen. Mistakes alone set the scale, so 5 and 50 look different
    next to a diagonal of 1,000."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    off_diagonal = ~np.eye(n, dtype=bool)
    worst = max(1, int(matrix[off_diagonal].max(initial=0)))
    fills = np.full(matrix.shape, "#ffffff", dtype=object)
    shade = np.clip(matrix / worst, 0, 1)[..., None]
    rgb = (MISTAKE_LOW + (MISTAKE_HIGH - MISTAKE_LOW) * shade).round().astype(int)
    for t, p in zip(*np.nonzero(off_diagonal & (matrix > 0))):
        fills[t, p] = "#{:02x}{:02x}{:02x}".format(*rgb[t, p])
    fills[~off_diagonal] = CORRECT
    dark = off_diagonal & (matrix > worst * 0.6)
    return fills, dark


def confusion_chart(matrix, labels: Sequence[str] | None = None, selection: str | None = None, size: int = 420,
                    large: bool = False):
    """Altair heat map of confusion[true][predicted] with the counts written in each cell.

    With `selection`, a click on a cell selects its (true, predicted) pair under that parameter name;
    `large`: larger cells and type, for presenter view.
    """
    import altair as alt
    import pandas as pd

    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    fills, dark = confusion_fills(matrix)
    frame = pd.DataFrame([(t, p, int(matrix[t, p]), fills[t, p], bool(dark[t, p]))
                          for t in range(n) for p in range(n)],
                         columns=["true", "predicted", "count", "fill", "dark"])
    axis = alt.Axis(labelAngle=0, orient="top", labelExpr=_label_expr(labels)) if labels else \
        alt.Axis(labelAngle=0, orient="top")
    base = alt.Chart(frame).encode(
        x=alt.X("predicted:O", title="predicted", axis=axis),
        y=alt.Y("true:O", title="true", axis=alt.Axis(labelExpr=_label_expr(labels)) if labels else alt.Axis()),
        tooltip=["true", "predicted", "count"],
    )
    cells = base.mark_rect(stroke=GRID, strokeWidth=1).encode(color=alt.Color("fill:N", scale=None))
    text = base.mark_text(fontSize=LABEL_SIZE * (LARGE if large else 1)).encode(
        text="count:Q", color=alt.when(alt.datum.dark).then(alt.value("white")).otherwise(alt.value("black")))
    if selection:
        pick = alt.selection_point(name=selection, fields=["true", "predicted"], on="click")
        cells = cells.add_params(pick).encode(opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)))
    size = int(size * LARGE) if large else size
    return style((cells + text).properties(width=size, height=size), large)


def _label_expr(labels: Sequence[str]) -> str:
    import json

    return f"{json.dumps(list(labels))}[datum.value]"


def confusion_png(matrix, labels: Sequence[str] | None = None, title: str = "Confusion matrix") -> bytes:
    """The confusion matrix as a PNG, in the page's colours."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    fills, dark = confusion_fills(matrix)
    labels = list(labels) if labels else [str(i) for i in range(n)]
    figure, axes = _figure(7.5, 7)
    rgb = np.array([[[int(fills[t, p][i:i + 2], 16) / 255 for i in (1, 3, 5)] for p in range(n)] for t in range(n)])
    axes.imshow(rgb, interpolation="nearest")
    for t in range(n):
        for p in range(n):
            axes.text(p, t, f"{matrix[t, p]:,}", ha="center", va="center", fontsize=TEXT_SIZE - 2,
                      color="white" if dark[t, p] else "black")
    axes.set_xticks(range(n), labels, rotation=0 if max(map(len, labels)) <= 2 else 45, ha="center")
    axes.set_yticks(range(n), labels)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_xticks(np.arange(-0.5, n), minor=True)
    axes.set_yticks(np.arange(-0.5, n), minor=True)
    axes.grid(which="minor", color=GRID, linewidth=1)
    axes.tick_params(which="minor", length=0)
    axes.set_title(title, fontsize=HEADING_SIZE, pad=12)
    for spine in axes.spines.values():
        spine.set_visible(False)
    return _png(figure)


# --- training curves (Train page) -------------------------------------------------------------------

CURVE_COLUMNS = ["epoch", "metric", "value", "series"]  # series: "training" or "validation"


def training_curve_charts(frame: pd.DataFrame, epochs: int, large: bool = False, events=()) -> list:
    """Loss and accuracy against epochs: training per batch (line), validation per epoch (points);
    `large`: taller, thicker and in larger type, for presenter view; `events` (core.store.run_events.RunEvent,
    a learning rate changed mid-run ...) as labelled vertical lines."""
    import altair as alt

    x = alt.X("epoch:Q", title="epoch", scale=alt.Scale(domain=[0, epochs]),
              axis=alt.Axis(tickMinStep=1 if epochs > 1 else 0.25))
    colour = alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                       scale=alt.Scale(domain=list(SERIES), range=list(SERIES.values())))
    charts = []
    for metric, y in (("loss", alt.Y("value:Q", title="loss")),
                      ("accuracy", alt.Y("value:Q", title="accuracy", axis=alt.Axis(format="%"),
                                         scale=alt.Scale(domain=[0, 1])))):
        data = frame[frame.metric == metric]
        width = 4 if large else 2
        train = alt.Chart(data[data.series == "training"]).mark_line(strokeWidth=width).encode(x=x, y=y, color=colour)
        val = alt.Chart(data[data.series == "validation"]).mark_line(
            strokeWidth=width, point=alt.OverlayMarkDef(size=240 if large else 80)).encode(x=x, y=y, color=colour)
        height = int(300 * LARGE) if large else 300
        marks = event_marks(events, x, large)
        charts.append(style(alt.layer(train, val, *marks).properties(title=metric.capitalize(), height=height), large))
    return charts


def event_marks(events, x, large: bool = False) -> list:
    """Vertical dashed lines with labels where something was changed during the run (none without events)."""
    import altair as alt
    import pandas as pd

    if not events:
        return []
    frame = pd.DataFrame([{"epoch": e.x, "label": e.text, "row": i % 3} for i, e in enumerate(events)])
    rule = alt.Chart(frame).mark_rule(color=PURPLE, strokeDash=[6, 3], strokeWidth=3 if large else 2).encode(
        x=x, tooltip=[alt.Tooltip("label:N", title="change")])
    size = TEXT_SIZE * (LARGE if large else 1)
    texts = [alt.Chart(frame[frame.row == row]).mark_text(align="left", dx=4, dy=row * size * 1.3, color=PURPLE,
                                                          fontSize=size).encode(x=x, y=alt.value(size), text="label:N")
             for row in sorted(frame.row.unique())]
    return [rule, *texts]


def training_curves_png(frame: pd.DataFrame, epochs: int, title: str = "", events=()) -> bytes:
    """Loss and accuracy side by side, as on the Train page, with the run's changes (`events`) marked."""
    figure, (loss_axes, accuracy_axes) = _figure(12, 4.5, columns=2)
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        data = frame[frame.metric == metric]
        for series, colour in SERIES.items():
            points = data[data.series == series].sort_values("epoch")
            if points.empty:
                continue
            marker = "o" if series == "validation" else None
            axes.plot(points.epoch, points.value, color=colour, marker=marker, linewidth=2, label=series)
        axes.set_xlim(0, epochs)
        axes.set_xlabel("epoch")
        axes.set_title(metric.capitalize(), fontsize=HEADING_SIZE)
        for number, event in enumerate(events):
            axes.axvline(event.x, color=PURPLE, linestyle="--", linewidth=2)
            axes.text(event.x, 0.97 - 0.08 * (number % 3), f" {event.text}", transform=axes.get_xaxis_transform(),
                      color=PURPLE, fontsize=TEXT_SIZE - 2, va="top")
        axes.grid(color=GRID)
    accuracy_axes.set_ylim(0, 1)
    accuracy_axes.yaxis.set_major_formatter(_percent_formatter(0))
    loss_axes.legend(frameon=False, fontsize=LABEL_SIZE)
    if title:
        figure.suptitle(title, fontsize=HEADING_SIZE)
    return _png(figure)


# --- learning curves of saved models (Models page) --------------------------------------------------

LEARNING_COLUMNS = ["model", "epoch", "validation accuracy"]


def percent_decimals(values) -> int:
    """Decimals that tell an axis's ticks apart: 1 for curves spread over points, 2 for curves within a
    fraction of a point (a model trained further moves 99.53% to 99.63%, which '.1%' labels all 99.6%)."""
    span = float(np.ptp(values)) if len(values) else 0.0
    return 2 if span < 0.005 else 1


def learning_curves_chart(frame: pd.DataFrame, large: bool = False):
    """Validation accuracy per epoch, one line per model (and a dash per model, so print and colour-blind
    readers can tell the lines apart); `large` for presenter view."""
    import altair as alt

    return style(alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=160 if large else 60),
                                            strokeWidth=4 if large else 2).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("validation accuracy:Q", scale=alt.Scale(zero=False),
                axis=alt.Axis(format=f".{percent_decimals(frame['validation accuracy'])}%")),
        color=alt.Color("model:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=0, symbolType="stroke",
                                                     symbolStrokeWidth=4 if large else 2, symbolSize=400),
                        scale=alt.Scale(range=CATEGORICAL)),
        strokeDash=alt.StrokeDash("model:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=0,
                                                               symbolType="stroke"), scale=alt.Scale(range=DASHES)),
        tooltip=["model", "epoch", alt.Tooltip("validation accuracy:Q", format=".2%")],
    ).properties(height=int(320 * LARGE) if large else 320), large)


def learning_curves_png(frame: pd.DataFrame) -> bytes:
    figure, axes = _figure(10, 5)
    for index, (model, points) in enumerate(frame.groupby("model", sort=False)):
        points = points.sort_values("epoch")
        axes.plot(points.epoch, points["validation accuracy"], marker="o", linewidth=2,
                  color=CATEGORICAL[index % len(CATEGORICAL)], label=model)
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation accuracy")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.yaxis.set_major_formatter(_percent_formatter(percent_decimals(frame["validation accuracy"])))
    axes.grid(color=GRID)
    axes.legend(frameon=False, loc="lower right", fontsize=LABEL_SIZE)
    axes.set_title("Learning curves", fontsize=HEADING_SIZE)
    return _png(figure)


# --- matplotlib, the same style ---------------------------------------------------------------------

def _figure(width: float, height: float, columns: int = 1):
    """A matplotlib Figure (no pyplot: no global state, safe in Streamlit's threads) in the page style."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns)
    for one in np.atleast_1d(axes):
        one.tick_params(labelsize=LABEL_SIZE)
        one.xaxis.label.set_size(TITLE_SIZE)
        one.yaxis.label.set_size(TITLE_SIZE)
        for side in ("top", "right"):
            one.spines[side].set_visible(False)
    return figure, axes


def _percent_formatter(decimals: int):
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1, decimals=decimals)


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, facecolor="white")
    return buffer.getvalue()

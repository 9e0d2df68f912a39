"""The model's graph: its layers in order with each one's output shape, parameter count and activation,
as rows for a table and as a PNG diagram big enough for a projector and a slide.

Nested Sequential models (a logits model wrapped with a Softmax) are opened up, as everywhere in
core.explain, so the rows are the layers that actually run, and their parameters add up to
`model.count_params()`.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

from core.explain.graph import graph_for

KIND_COLOURS = {  # Okabe-Ito, lightened for box fills
    "conv": "#CFE3F5", "pool": "#D9F0E6", "norm": "#FBE8C8", "dense": "#F6D6C6", "dropout": "#EEEEEE",
    "flatten": "#EEEEEE", "activation": "#E9DDF0", "other": "#F2F2F2", "input": "#FFFFFF",
}
BOXES_PER_ROW = 4


@dataclass(frozen=True)
class LayerSummary:
    """One layer as the graph shows it."""

    name: str
    type: str  # the Keras class: Conv2D, Dense, ...
    kind: str  # conv / dense / pool / norm / dropout / flatten / activation / other
    output_shape: tuple[int, ...]  # without the batch axis
    parameters: int
    trainable_parameters: int
    activation: str  # "relu", "softmax", ... or "" for none

    @property
    def shape_text(self) -> str:
        return " x ".join(str(d) for d in self.output_shape)


def _activation(layer) -> str:
    if type(layer).__name__ == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "") if activation is not None else ""
    return "" if name == "linear" else name


def model_layers(model) -> tuple[LayerSummary, ...]:
    """Every layer that runs, in order, with its output shape, parameters and activation."""
    graph = graph_for(model)
    rows = []
    for layer, kind, output in zip(graph.layers, graph.kinds, graph.outputs):
        trainable = sum(int(math.prod(w.shape)) for w in layer.trainable_weights)
        rows.append(LayerSummary(layer.name, type(layer).__name__, kind, tuple(int(d) for d in output.shape[1:]),
                                 int(layer.count_params()), trainable, _activation(layer)))
    return tuple(rows)


def input_shape(model) -> tuple[int, ...]:
    return graph_for(model).input_shape


def _box_lines(row: LayerSummary) -> list[str]:
    lines = [row.type, row.shape_text]
    lines.append(f"{row.parameters:,} parameters" if row.parameters else "no parameters")
    if row.activation:
        lines.append(f"activation: {row.activation}")
    return lines


def architecture_picture(model, title: str = "", dpi: int = 110) -> bytes:
    """The layers as a PNG: one box per layer (type, output shape, parameters, activation), in reading order,
    BOXES_PER_ROW to a row, arrows between them; type large enough to read on a projector at the page's width."""
    from matplotlib.figure import Figure  # not pyplot: no global state, safe in the server's threads
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    rows = model_layers(model)
    shape = " x ".join(str(d) for d in input_shape(model))
    boxes = [("input", "Input", [shape, "the 28 x 28 picture" if shape == "28 x 28 x 1" else "the picture"], "input")]
    boxes += [(row.name, row.type, _box_lines(row)[1:], row.kind) for row in rows]
    per_row = min(BOXES_PER_ROW, len(boxes))
    lines = math.ceil(len(boxes) / per_row)
    width, height, gap_x, gap_y = 3.6, 2.7, 0.8, 0.8
    top = 0.9 if title else 0.3
    total_w, total_h = per_row * (width + gap_x) - gap_x + 0.6, top + lines * (height + gap_y) - gap_y + 0.3
    figure = Figure(figsize=(total_w, total_h))
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, total_w)
    axes.set_ylim(total_h, 0)
    axes.axis("off")
    if title:
        axes.text(0.3, 0.45, title, fontsize=26, fontweight="bold", va="center")
    centres = []
    for index, (name, kind_text, details, kind) in enumerate(boxes):
        line, column = divmod(index, per_row)
        left, upper = 0.3 + column * (width + gap_x), top + line * (height + gap_y)
        axes.add_patch(FancyBboxPatch((left, upper), width, height, boxstyle="round,pad=0.02,rounding_size=0.15",
                                      facecolor=KIND_COLOURS.get(kind, "#F2F2F2"), edgecolor="#333333", linewidth=1.5))
        axes.text(left + 0.15, upper + 0.42, kind_text, fontsize=21, fontweight="bold", va="center")
        axes.text(left + 0.15, upper + height - 0.28, name if len(name) <= 26 else name[:25] + "…", fontsize=14,
                  color="#444444", va="center")
        for number, detail in enumerate(details):
            axes.text(left + 0.15, upper + 0.98 + number * 0.45, detail, fontsize=18, va="center")
        centres.append((left, upper, column))
    for (left, upper, column), (next_left, next_upper, next_column) in zip(centres, centres[1:]):
        if next_column > column:  # the next box on the same line
            start, end = (left + width, upper + height / 2), (next_left, next_upper + height / 2)
        else:  # down to the start of the next line
            start, end = (left + width / 2, upper + height), (next_left + width / 2, next_upper)
        axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=20, linewidth=1.8,
                                       color="#333333"))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()

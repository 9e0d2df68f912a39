"""Charts of many runs (a sweep, or models chosen on Compare), in the pages' one style (pages/parts/charts.py):
parallel coordinates with a brush, validation curves overlaid, what mattered as bars; each also as a PNG.

Parallel coordinates: one axis per setting that varies, then validation accuracy, test accuracy and time;
one line per run, coloured by validation accuracy. Every axis is drawn from 0 (its lowest value, or first
category) to 1 (its highest); numbers spread over a factor of ten or more are placed on a log scale. Dragging
a box over part of an axis (an Altair interval selection, sent back by st.altair_chart) keeps the runs
whose value on that axis lies inside it (`brushed`).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

from core.sweeps.compare import RunRow
from core.sweeps.values import short_number
from pages.parts.charts import BLUE, CATEGORICAL, GREY, HEADING_SIZE, LABEL_SIZE, LARGE, VERMILLION, _figure, _png, style

FIGURES = ("validation accuracy", "test accuracy", "seconds")
BRUSH = "brush"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return short_number(value)
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return "all" if value is None else str(value)


def _figure_value(row: RunRow, name: str) -> Any:
    return {"validation accuracy": row.val_accuracy, "test accuracy": row.test_accuracy,
            "seconds": row.seconds}[name]


def axis_positions(values: Sequence[Any]) -> tuple[list[float | None], list[tuple[float, str]]]:
    """Each value's place on its axis (0 to 1; None where a run has none) and the axis's tick labels."""
    known = [v for v in values if v is not None]
    numbers = [v for v in known if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if known and len(numbers) == len(known):
        low, high = min(numbers), max(numbers)
        log = low > 0 and high / low >= 10

        def place(v):
            if high == low:
                return 0.5
            return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low)) if log else (v - low) / (high - low)
        distinct = sorted(set(numbers))
        ticks = distinct if len(distinct) <= 6 else [low, high]
        return [None if v is None else place(v) for v in values], [(place(t), _text(t)) for t in ticks]
    categories = sorted({_text(v) for v in known})
    step = 1 / max(1, len(categories) - 1)
    where = {c: (i * step if len(categories) > 1 else 0.5) for i, c in enumerate(categories)}
    return [None if v is None else where[_text(v)] for v in values], [(where[c], c) for c in categories]


def parallel_frames(rows: Sequence[RunRow], names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one point per run and axis, the axes' tick labels), for the chart and the brush."""
    points, ticks = [], []
    for axis in [*names, *FIGURES]:
        values = [_figure_value(r, axis) if axis in FIGURES else r.settings.get(axis) for r in rows]
        if axis in FIGURES and all(v is None for v in values):
            continue
        places, labels = axis_positions(values)
        for row, value, place in zip(rows, values, places):
            if place is not None:
                shown = f"{value:.2%}" if axis.endswith("accuracy") else _text(value)
                points.append({"run": row.label, "axis": axis, "place": place, "value": shown,
                               "accuracy": row.val_accuracy, "state": row.state})
        ticks += [{"axis": axis, "place": p, "label": f"{float(t):.1%}" if axis.endswith("accuracy") else t}
                  for p, t in labels]
    return pd.DataFrame(points), pd.DataFrame(ticks)


def brushed(points: pd.DataFrame, selection: dict[str, Any] | None) -> set[str] | None:
    """The runs the brush keeps (None when nothing is brushed): on every brushed axis, their place is in range."""
    if not selection or "place" not in selection or "axis" not in selection:
        return None
    low, high = sorted(selection["place"])[:2] if len(selection["place"]) >= 2 else (0.0, 1.0)
    axes = set(selection["axis"]) if isinstance(selection["axis"], list) else {selection["axis"]}
    kept = set(points.run)
    for axis in axes:
        on_axis = points[points.axis == axis]
        kept &= set(on_axis[(on_axis.place >= low - 1e-9) & (on_axis.place <= high + 1e-9)].run)
    return kept


def parallel_chart(rows: Sequence[RunRow], names: Sequence[str], kept: set[str] | None = None, large: bool = False):
    """The parallel-coordinates chart: lines per run coloured by validation accuracy, runs outside the brush grey."""
    import altair as alt

    points, ticks = parallel_frames(rows, names)
    order = list(dict.fromkeys(points.axis))
    points["kept"] = points.run.isin(kept) if kept is not None else True
    k = LARGE if large else 1
    x = alt.X("axis:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, orient="top", labelLimit=180 * k,
                                                         labelExpr="replace(datum.label, /_/g, ' ')"))
    y = alt.Y("place:Q", axis=None, scale=alt.Scale(domain=[-0.04, 1.04]))
    colour = alt.condition("datum.kept", alt.Color("accuracy:Q", title="validation accuracy",
                                                    scale=alt.Scale(scheme="viridis"),
                                                    legend=alt.Legend(format=".0%", orient="bottom")),
                           alt.value("#d0d0d0"))
    brush = alt.selection_interval(encodings=["x", "y"], name=BRUSH)
    lines = alt.Chart(points).mark_line(strokeWidth=3 * k, opacity=0.85).encode(
        x=x, y=y, detail="run:N", color=colour, order=alt.Order("kept:N"),
        tooltip=["run", "axis", "value", alt.Tooltip("accuracy:Q", format=".2%", title="validation accuracy")])
    dots = alt.Chart(points).mark_circle(size=60 * k * k, opacity=0.9).encode(x=x, y=y, color=colour,
                                                                           tooltip=["run", "axis", "value"]
                                                                           ).add_params(brush)
    rules = alt.Chart(pd.DataFrame({"axis": order})).mark_rule(color="#888888").encode(x=x)
    labels = alt.Chart(ticks).mark_text(align="left", dx=7, fontSize=12 * k, color="#333333").encode(
        x=x, y=y, text="label:N")
    height = int(360 * k)
    return style(alt.layer(rules, lines, dots, labels).properties(height=height), large)


def curves_frame(rows: Sequence[RunRow], colour_by: str) -> pd.DataFrame:
    frame = [{"run": r.label, "epoch": e.get("epoch", i + 1), "validation accuracy": e["val_accuracy"],
              "by": _by(r, colour_by), "last": i == len(r.history) - 1, "state": r.state}
             for r in rows for i, e in enumerate(r.history) if "val_accuracy" in e]
    return pd.DataFrame(frame, columns=["run", "epoch", "validation accuracy", "by", "last", "state"])


def _by(row: RunRow, colour_by: str) -> Any:
    if colour_by in FIGURES:
        return _figure_value(row, colour_by)
    value = row.settings.get(colour_by)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else _text(value)


def curves_chart(rows: Sequence[RunRow], colour_by: str, large: bool = False):
    """Validation accuracy per epoch, one line per run, coloured by `colour_by`; a pruned run's last epoch
    is a cross, where it was stopped."""
    import altair as alt

    frame = curves_frame(rows, colour_by)
    numeric = frame["by"].map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all() \
        and frame["by"].nunique() > 2
    k = LARGE if large else 1
    values = frame["by"][frame["by"].map(lambda v: isinstance(v, (int, float)))] if numeric else []
    log = numeric and min(values) > 0 and max(values) / min(values) >= 10
    colour = alt.Color("by:Q" if numeric else "by:N", title=colour_by.replace("_", " "),
                       scale=alt.Scale(scheme="viridis", type="log" if log else "linear") if numeric
                       else alt.Scale(range=CATEGORICAL),
                       legend=alt.Legend(orient="bottom"))
    x = alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d"))
    y = alt.Y("validation accuracy:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format=".0%"))
    lines = alt.Chart(frame).mark_line(strokeWidth=2.5 * k, point=alt.OverlayMarkDef(size=40 * k * k)).encode(
        x=x, y=y, detail="run:N", color=colour, tooltip=["run", "epoch", alt.Tooltip("validation accuracy:Q",
                                                                                       format=".2%")])
    ends = alt.Chart(frame[(frame["last"]) & (frame.state == "pruned")]).mark_point(
        shape="cross", size=260 * k * k, filled=True, color=VERMILLION).encode(x=x, y=y, tooltip=["run", "state"])
    return style(alt.layer(lines, ends).properties(height=int(320 * k)), large)


def importance_chart(shares: dict[str, float], large: bool = False):
    import altair as alt

    frame = pd.DataFrame({"setting": [n.replace("_", " ") for n in shares], "share": list(shares.values())})
    k = LARGE if large else 1
    base = alt.Chart(frame).encode(
        x=alt.X("share:Q", title="share of the spread in validation accuracy", axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1.1])),
        y=alt.Y("setting:N", sort=list(frame.setting), title=None),
        tooltip=["setting", alt.Tooltip("share:Q", format=".0%")])
    bars = base.mark_bar(color=BLUE)
    text = base.mark_text(align="left", dx=4, fontSize=13 * k).encode(text=alt.Text("share:Q", format=".0%"))
    return style(alt.layer(bars, text).properties(height=int(45 * len(frame) * k)), large)


def parallel_png(rows: Sequence[RunRow], names: Sequence[str], title: str = "") -> bytes:
    """The parallel-coordinates chart for slides (all runs, coloured by validation accuracy)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    points, ticks = parallel_frames(rows, names)
    order = list(dict.fromkeys(points.axis))
    figure, axes = _figure(max(8, 2.2 * len(order)), 5.5)
    accuracies = [r.val_accuracy for r in rows if r.val_accuracy is not None]
    norm = Normalize(min(accuracies, default=0), max(accuracies, default=1))
    cmap = colormaps["viridis"]
    for run, line in points.groupby("run", sort=False):
        line = line.set_index("axis").reindex(order)
        accuracy = line.accuracy.dropna()
        colour = cmap(norm(accuracy.iloc[0])) if len(accuracy) else GREY
        axes.plot(range(len(order)), line.place, color=colour, linewidth=2, marker="o", alpha=0.9)
    for i in range(len(order)):
        axes.axvline(i, color="#888888", linewidth=1)
    for _, tick in ticks.iterrows():
        axes.annotate(str(tick.label), (order.index(tick.axis), tick.place), xytext=(6, 0),
                      textcoords="offset points", fontsize=LABEL_SIZE - 3, va="center")
    axes.set_xticks(range(len(order)), [a.replace("_", " ") for a in order], fontsize=LABEL_SIZE)
    axes.xaxis.tick_top()
    axes.set_yticks([])
    axes.spines[["left", "bottom"]].set_visible(False)
    axes.set_ylim(-0.05, 1.05)
    figure.colorbar(ScalarMappable(norm, cmap), ax=axes, label="validation accuracy", format="{x:.0%}")
    if title:
        figure.suptitle(title, fontsize=HEADING_SIZE)
    return _png(figure)


def run_table(rows: Sequence[RunRow], names: Sequence[str]) -> pd.DataFrame:
    """One line per run: its varied settings, its figures, its state (a sortable table)."""
    table = pd.DataFrame([{"run": r.label, **{label(n): _text(r.settings.get(n)) if not isinstance(r.settings.get(n), (int, float))
                                             or isinstance(r.settings.get(n), bool) else r.settings.get(n)
                                             for n in names},
                           "validation accuracy": r.val_accuracy, "test accuracy": r.test_accuracy,
                           "seconds": r.seconds, "epochs": len(r.history), "state": r.state, "model": r.model or "",
                           "note": r.note or ""} for r in rows])
    return table.sort_values("validation accuracy", ascending=False, na_position="last", kind="stable") \
        if not table.empty else table


def label(name: str) -> str:
    """A setting as a column or axis title: 'learning rate', not 'learning_rate'."""
    return name.replace("_", " ")


def accuracy_columns():
    import streamlit as st

    return {"validation accuracy": st.column_config.NumberColumn(format="percent"),
            "test accuracy": st.column_config.NumberColumn(format="percent"),
            "seconds": st.column_config.NumberColumn(format="%.1f")}


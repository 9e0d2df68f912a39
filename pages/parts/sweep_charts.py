"""Charts of many runs (a sweep, or models chosen on Compare), in the pages' one style (pages/parts/charts.py):
parallel coordinates with a brush, validation curves overlaid, what mattered as bars; each also as a PNG
(core/reports/pictures.py, in its slide size).

Parallel coordinates: one axis per setting that varies, then validation accuracy, test accuracy and time;
one line per run, coloured by validation accuracy. Every axis is drawn from 0 (its lowest value, or first
category) to 1 (its highest); numbers spread over a factor of ten or more are placed on a log scale. Dragging
a box over part of an axis (an Altair interval selection, sent back by st.altair_chart) keeps the runs
whose value on that axis lies inside it (`brushed`, for the table); the chart greys the others itself, in Vega,
while the box is dragged.
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from core.reports.pictures import OUTSIDE
from core.sweeps.compare import RunRow, colour_value, parallel_points, runs_in_box, value_text
from pages.parts.charts import BLUE, CATEGORICAL, LARGE, VERMILLION, style

BRUSH = "brush"


def parallel_frames(rows: Sequence[RunRow], names: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one point per run and axis, the axes' tick labels) as frames, for the chart and the brush."""
    points, ticks = parallel_points(rows, names)
    return (pd.DataFrame(points, columns=["run", "axis", "place", "value", "accuracy", "state"]),
            pd.DataFrame(ticks, columns=["axis", "place", "label"]))


def brushed(points: pd.DataFrame, selection: dict[str, Any] | None) -> set[str] | None:
    return runs_in_box(points.to_dict("records"), selection)


# Whether a point lies inside the brushed box, in Vega's expression language, as core.sweeps.compare.runs_in_box
# decides it: a point on an axis the box does not cover passes; with no box, everything passes. `brush` is the
# selection's own signal ({axis: [...], place: [low, high]}, the value st.altair_chart hands back).
INSIDE = ("!isObject(brush) || !isArray(brush.axis) || !isArray(brush.place) || indexof(brush.axis, datum.axis) < 0"
          " || (datum.place >= min(brush.place[0], brush.place[1]) - 1e-9"
          " && datum.place <= max(brush.place[0], brush.place[1]) + 1e-9) ? 1 : 0")
RUNS_LAYER, OUTSIDE_LAYER = "runs", "outside"        # the two line layers, by name (their marks' class in the SVG)


def parallel_chart(rows: Sequence[RunRow], names: Sequence[str], large: bool = False):
    """The parallel-coordinates chart: a line per run coloured by validation accuracy. Brushing greys the runs
    outside the box in the chart itself, as it drags: every run is drawn grey underneath, and a run is drawn
    again in colour on top while all its points pass the box (computed in Vega from the brush's signal)."""
    import altair as alt

    points, ticks = parallel_frames(rows, names)
    order = list(dict.fromkeys(points.axis))
    k = LARGE if large else 1
    x = alt.X("axis:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, orient="top", labelLimit=180 * k,
                                                         labelExpr="replace(datum.label, /_/g, ' ')"))
    y = alt.Y("place:Q", axis=None, scale=alt.Scale(domain=[-0.04, 1.04]))
    known = points.accuracy.dropna()
    domain = [float(known.min()), float(known.max())] if len(known) else [0.0, 1.0]
    accuracy = alt.Color("accuracy:Q", title="validation accuracy", scale=alt.Scale(scheme="viridis", domain=domain),
                         legend=alt.Legend(format=".0%", orient="bottom", titleLimit=0))
    brush = alt.selection_interval(encodings=["x", "y"], name=BRUSH)
    tooltip = ["run", "axis", "value", alt.Tooltip("accuracy:Q", format=".2%", title="validation accuracy")]
    kept = alt.Chart(points).transform_calculate(inside=INSIDE).transform_joinaggregate(
        kept="min(inside)", groupby=["run"])
    outside = alt.Chart(points).mark_line(strokeWidth=3 * k, color=OUTSIDE).encode(
        x=x, y=y, detail="run:N", tooltip=tooltip).properties(name=OUTSIDE_LAYER)
    lines = kept.transform_filter("datum.kept == 1").mark_line(strokeWidth=3 * k, opacity=0.9).encode(
        x=x, y=y, detail="run:N", color=accuracy, tooltip=tooltip).properties(name=RUNS_LAYER)
    dots = kept.mark_circle(size=60 * k * k, opacity=0.9).encode(
        x=x, y=y, color=alt.condition("datum.kept == 1", accuracy, alt.value(OUTSIDE)),
        tooltip=["run", "axis", "value"]).add_params(brush)
    rules = alt.Chart(pd.DataFrame({"axis": order})).mark_rule(color="#888888").encode(x=x)
    labels = alt.Chart(ticks).mark_text(align="left", dx=7, fontSize=12 * k, color="#333333").encode(
        x=x, y=y, text="label:N")
    height = int(360 * k)
    room = {"left": 5, "top": 5, "bottom": 5, "right": int(45 * k)}     # the last axis's labels and title, whole
    return style(alt.layer(rules, outside, lines, dots, labels).properties(height=height, padding=room), large)


def curves_frame(rows: Sequence[RunRow], colour_by: str) -> pd.DataFrame:
    frame = [{"run": r.label, "epoch": e.get("epoch", i + 1), "validation accuracy": e["val_accuracy"],
              "by": colour_value(r, colour_by), "last": i == len(r.history) - 1, "state": r.state}
             for r in rows for i, e in enumerate(r.history) if "val_accuracy" in e]
    return pd.DataFrame(frame, columns=["run", "epoch", "validation accuracy", "by", "last", "state"])


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


def run_table(rows: Sequence[RunRow], names: Sequence[str]) -> pd.DataFrame:
    """One line per run: its varied settings, its figures, its state (a sortable table)."""
    table = pd.DataFrame([{"run": r.label, **{label(n): value_text(r.settings.get(n)) if not isinstance(r.settings.get(n), (int, float))
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


"""What the gradients and weights did, layer by layer, over a run (live on the Train page, and in the replay): small
multiples from the snapshots' layer figures (core.store.layer_stats) — each layer's weight histogram over time
as a heat map, its gradient's size and its update-to-weight ratio on log axes, and its share of dead ReLU
units — and the plain hints core.fit.layer_hints gives on the latest figures."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from core.fit.layer_hints import RATIO_FACTOR, USUAL_RATIO, hints
from core.store.layer_stats import BINS
from core.store.snapshots import Snapshot, thin
from pages.parts import charts

MAX_COLUMNS = 60     # snapshots drawn at most (thinned evenly): what a small chart can show
SHOW_KEY = "layer_stats_on"
FIGURES = {"gradient_norm": "gradient size (L2)", "update_ratio": "update / weights", "dead": "dead ReLU units"}


def with_layers(snapshots: Sequence[Snapshot]) -> list[Snapshot]:
    shots = [s for s in snapshots if s.layers]
    return thin(shots, MAX_COLUMNS) if len(shots) > MAX_COLUMNS else shots


def histogram_frame(snapshots: Sequence[Snapshot]) -> pd.DataFrame:
    """Per layer, snapshot and weight bin: the share of the layer's weights in that bin. Each layer's bins span
    its weights' range over the whole run, so the columns line up (a snapshot's own bins are re-counted at
    their centres)."""
    rows = []
    names = [s.name for s in snapshots[0].layers] if snapshots else []
    for j, name in enumerate(names):
        lows = [s.layers[j].low for s in snapshots if np.isfinite(s.layers[j].low)]
        highs = [s.layers[j].high for s in snapshots if np.isfinite(s.layers[j].high)]
        if not lows:
            continue
        low, high = min(lows), max(highs)
        edges = np.linspace(low, high if high > low else low + 1e-9, BINS + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        for shot in snapshots:
            own = shot.layers[j]
            counts, _ = np.histogram((own.edges[:-1] + own.edges[1:]) / 2, bins=edges, weights=own.histogram)
            share = counts / max(1, own.count)
            rows += [(name, shot.step, float(c), float(v)) for c, v in zip(centres, share) if v > 0]
    return pd.DataFrame(rows, columns=["layer", "batches", "weight", "share"])


def figures_frame(snapshots: Sequence[Snapshot]) -> pd.DataFrame:
    rows = [(layer.name, shot.step, label, float(getattr(layer, figure)))
            for shot in snapshots for layer in shot.layers for figure, label in FIGURES.items()
            if math.isfinite(getattr(layer, figure)) and (figure == "dead" or getattr(layer, figure) > 0)]
    return pd.DataFrame(rows, columns=["layer", "batches", "figure", "value"])


def layers_chart(snapshots: Sequence[Snapshot], large: bool = False):
    """The small multiples: one row per layer; the histogram heat map, then each figure over the batches."""
    import altair as alt

    shots = with_layers(snapshots)
    hist, figures = histogram_frame(shots), figures_frame(shots)
    height = 140 if large else 90
    order = [s.name for s in shots[0].layers]

    def rows(labels: bool):
        return alt.Row("layer:N", title=None, sort=order,
                       header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold", labels=labels))

    heat = alt.Chart(hist, title="weights (histogram)").mark_rect().encode(
        x=alt.X("batches:O", title="batches trained", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("weight:Q", bin=alt.Bin(maxbins=BINS), title="weight"),
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", type="sqrt"), legend=None),
        tooltip=["batches", alt.Tooltip("weight:Q", format=".3g"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=220, height=height).facet(row=rows(True)).resolve_scale(y="independent")
    panels = [heat]
    for figure, colour in (("gradient_norm", charts.BLUE), ("update_ratio", charts.VERMILLION),
                           ("dead", charts.PURPLE)):
        label = FIGURES[figure]
        data = figures[figures.figure == label]
        dead = figure == "dead"
        line = alt.Chart().mark_line(point=True, color=colour).encode(
            x=alt.X("batches:Q", title="batches trained"),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1]) if dead else alt.Scale(type="log"),
                    axis=alt.Axis(format="%" if dead else ".0e")),
            tooltip=["batches", alt.Tooltip("value:Q", format=".3g")])
        layers = [line]
        if figure == "update_ratio":  # the usual range: a tenth to ten times a thousandth
            layers.insert(0, alt.Chart().mark_rect(opacity=0.15, color=charts.GREEN).encode(
                y=alt.datum(USUAL_RATIO / RATIO_FACTOR), y2=alt.datum(USUAL_RATIO * RATIO_FACTOR)))
        panels.append(alt.layer(*layers, data=data, title=label).properties(width=180, height=height)
                      .facet(row=rows(False)).resolve_scale(y="independent"))
    return charts.style(alt.hconcat(*panels, spacing=12), large)


def hints_ui(snapshot: Snapshot | None) -> None:
    """The plain hints on a snapshot's figures (nothing when all is usual)."""
    for hint in hints(snapshot.layers if snapshot is not None else None):
        st.info(hint, icon=":material/lightbulb:")


def live_layers_ui(job, key: str = SHOW_KEY) -> None:
    """While a run trains: the small multiples behind a toggle (off at first: an Altair chart redrawn every second
    costs the browser more than the rest of the live view); its snapshots are read only when it is on."""
    snapshot = job.progress().snapshot
    if snapshot is None or not snapshot.layers:
        return
    if st.toggle("Gradients and weights, layer by layer", value=False, key=key,
                 help="Each layer's weight histogram over time, its gradient's size on a fixed batch, the size of "
                      "each update next to its weights, and its dead ReLU units."):
        layer_stats_ui(job.snapshots(), title=False)


def layer_stats_ui(snapshots: Sequence[Snapshot], large: bool = False, title: bool = True) -> None:
    """The small multiples of a run's snapshots (nothing when none has layer figures)."""
    if not any(s.layers for s in snapshots):
        return
    if title:
        st.markdown("**Gradients and weights, layer by layer**")
    st.caption("Per layer with weights: the histogram of its weights over the run (darker: more weights), the size "
               "of its gradient on a fixed batch of training images, each update's size over the weights' own "
               "(shaded: the usual range, around a thousandth), and the share of its ReLU units that are zero on "
               "every panel digit (dead).")
    st.altair_chart(layers_chart(snapshots, large=large))

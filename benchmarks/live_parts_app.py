"""A Streamlit script for benchmarks/live.py: one part of the Train page's live view, redrawn by a fragment
every second with changing data, so that its own cost to the server and the browser can be measured.
$LIVE_PART picks the part: empty, altair-curves, svg-curves, progress, still-progress, metrics, panel.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from core.store.snapshots import Panel, Snapshot  # noqa: E402
from pages.parts import charts, live_view, snapshot_html  # noqa: E402

PART = os.environ.get("LIVE_PART", "empty")
RNG = np.random.default_rng(0)


@st.cache_resource
def panel() -> Panel:
    return Panel(images=RNG.integers(0, 255, (26, 28, 28), dtype=np.uint8), labels=np.arange(26) % 10,
                 hard=np.arange(26) >= 20, class_names=tuple(str(i) for i in range(10)), dataset="mnist",
                 filter_kind="conv")


def part() -> None:
    now = time.time()
    st.caption(f"{PART} · {now:.0f}")
    xs = np.linspace(0, 2, int(now) % 350 + 50)
    ys = np.exp(-xs) + 0.01 * np.sin(xs * 50)
    frame = pd.DataFrame([(x, m, v, "training") for x, y in zip(xs, ys) for m, v in (("loss", y), ("accuracy", 1 - y))],
                         columns=charts.CURVE_COLUMNS) if PART.endswith("curves") else None
    if PART == "altair-curves":  # the Train page's curves before: two Altair charts of the batch curve
        for column, chart in zip(st.columns(2), charts.training_curve_charts(frame, 2)):
            column.altair_chart(chart, width="stretch")
    elif PART == "svg-curves":   # and now
        from core.fit.config import TrainConfig
        from core.fit.progress import JobState, Progress

        live_view.light_curves_ui(Progress(job_id="job-1", state=JobState.RUNNING,
                                           config=TrainConfig.for_preset("cnn-fast", epochs=2),
                                           batch_curve=[(x, y, 1 - y) for x, y in zip(xs, ys)]))
    elif PART in ("progress", "still-progress"):
        if PART == "still-progress":
            st.html(live_view.STILL_PROGRESS_CSS)
        st.progress(now % 60 / 60, text=f"batch {int(now * 10)}")
    elif PART == "metrics":
        for i, column in enumerate(st.columns(3) + st.columns(3)):
            column.metric(f"figure {i}", f"{now * (i + 1) % 1:.3f}")
    elif PART == "panel":
        shot = Snapshot(seq=0, step=int(now), epoch=0, batch=0, seconds=0.0,
                        probabilities=RNG.dirichlet(np.ones(10), 26).astype(np.float16),
                        filters=RNG.integers(0, 255, (32, 3, 3), dtype=np.uint8))
        st.markdown(snapshot_html.panel_html(panel(), shot), unsafe_allow_html=True)
        st.markdown(snapshot_html.filters_html(shot.filters, "conv"), unsafe_allow_html=True)
        st.markdown(snapshot_html.confusion_html(RNG.integers(0, 100, (10, 10)), panel().class_names),
                    unsafe_allow_html=True)


st.fragment(run_every=1.0)(part)()

"""Watch it learn (Train page, while a run trains): the panel of test images re-predicted by the network of
that moment, the user's drawing from the Draw page with them, the first-layer filters, the confusion
matrix after each epoch, and light curves. Everything comes from the job's Progress (its latest snapshot)
as plain data, wherever the run trains.

Cheap to watch: each part is one markdown element of HTML (or SVG) built in a few milliseconds, the
curves are thinned to what a chart can show, and the drawing is sent to the run only when it changed. A
snapshot's parts are made once (`made_once`): the polls between two snapshots re-encode no picture and send
the same large elements again, which Streamlit sends as a reference to what the browser already holds.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Callable

import numpy as np
import streamlit as st

from core.data import datasets
from core.fit.progress import JobState, Progress
from pages.parts import session, snapshot_html

if TYPE_CHECKING:
    from core.runs.queue import QueuedJob
    from core.store.snapshots import Snapshot

SHOW_KEY = "live_panel_on"           # the toggle: watch the panel, or just the curves
SENT_KEY = "live_probe_sent"         # (job id, canvas object, digest) of the drawing this session last sent
PACE_KEY = "live_poll_pace"          # (job id, seconds) the Train page's job panel polls at
POLL_SECONDS, QUEUED_POLL_SECONDS = 1.0, 3.0
# The progress bar glides to each new value: re-animated every second, that took headless Chromium about
# 4% of a core (the page measured on its own); it jumps instead. Fixed text, style only.
STILL_PROGRESS_CSS = "<style>[data-testid='stProgress'] * { transition: none !important; }</style>"


_made: "weakref.WeakKeyDictionary[Snapshot, dict[str, str]]" = weakref.WeakKeyDictionary()  # gone with its run
_made_lock = threading.Lock()


def made_once(snapshot: "Snapshot", part: str, make: Callable[[], str]) -> str:
    """The HTML of one part (`part`) of a snapshot, made on the first poll that shows it and kept with the
    snapshot: a snapshot never changes, so neither does what is made from it."""
    with _made_lock:
        parts = _made.setdefault(snapshot, {})
        if part in parts:
            return parts[part]
    made = make()
    with _made_lock:
        parts[part] = made
    return made


def poll_seconds(job: "QueuedJob") -> float:
    """How often the Train page polls a run: every second while it trains, every 3 s while it waits."""
    seconds = QUEUED_POLL_SECONDS if job.state == JobState.QUEUED else POLL_SECONDS
    st.session_state[PACE_KEY] = (job.id, seconds)
    return seconds


def pace_changed(job: "QueuedJob") -> bool:
    """In a poll: whether the run now wants another pace than the one set (a full rerun sets the new one)."""
    pace = st.session_state.get(PACE_KEY)
    want = QUEUED_POLL_SECONDS if job.state == JobState.QUEUED else POLL_SECONDS
    return pace is not None and pace[0] == job.id and pace[1] != want


def send_drawing(job: "QueuedJob") -> None:
    """Hand this session's latest Draw-page drawing to the run, only when it changed since it was last sent."""
    from pages.parts.drawing_input import digest, read_drawing  # SciPy: not on the Train page's first render

    canvas = st.session_state.get(session.DRAWING_KEY)
    sent = st.session_state.get(SENT_KEY)  # (job id, the canvas object, digest of its 28x28 image)
    if sent is not None and sent[0] == job.id and sent[1] is canvas:
        return
    if canvas is None and (sent is None or sent[0] != job.id):
        return  # nothing drawn here: leave any drawing someone else handed over
    prepared = read_drawing(canvas)[0] if canvas is not None else None  # blank or unreadable: nothing to predict
    image = None if prepared is None else prepared.image
    fingerprint = digest(image)
    if sent is None or sent[0] != job.id or sent[2] != fingerprint:
        job.set_probe(image)
    st.session_state[SENT_KEY] = (job.id, canvas, fingerprint)


def when(snapshot) -> str:
    """'before training', 'at the end of epoch 1' or 'as of epoch 2, batch 40'."""
    text = snapshot.label()
    if snapshot.step == 0:
        return text
    return f"at the {text}" if snapshot.confusion is not None else f"as of {text}"


def live_ui(job: "QueuedJob", p: Progress) -> None:
    """The live panel of a training run; drawn on every poll of the Train page's job panel."""
    st.html(STILL_PROGRESS_CSS)
    on = st.toggle("Watch it learn: test images, your drawing and the filters, live", value=True, key=SHOW_KEY,
                   help="Every second or so the run re-predicts a fixed set of test images with its weights "
                        "of that moment. Turn off to see only the curves.")
    if not on:
        return
    digits = datasets.get(p.config.dataset).is_digits
    if digits:
        send_drawing(job)
    panel, snapshot = p.panel, p.snapshot
    if panel is None or snapshot is None:
        st.caption("Choosing the test images to watch…")
        return
    st.markdown(f"**What the network says now** · {when(snapshot)} · snapshot {p.snapshot_count}",
                help="The same test images all run long, predicted with the weights of that moment. "
                     "✓ right, ✗ wrong; the percentage is how sure the network is.")
    st.markdown(made_once(snapshot, "panel", lambda: snapshot_html.panel_html(panel, snapshot)), unsafe_allow_html=True)
    if digits:
        st.markdown("**Your drawing**")
        probe_ui(job, p)
    st.markdown("**What the first layer is learning**")
    if snapshot.filters is not None:
        st.markdown(made_once(snapshot, "filters", lambda: snapshot_html.filters_html(snapshot.filters,
                                                                                    panel.filter_kind)),
                    unsafe_allow_html=True)
    else:
        st.caption("This network has no first layer that can be drawn as pictures.")
    confusion_ui(p)


def probe_ui(job: "QueuedJob", p: Progress) -> None:
    version, _ = job.probe()
    snapshot = p.snapshot
    if not version or job.probe()[1] is None:
        st.caption("Draw a digit on the Draw page: it joins these images, and its answer changes as the "
                   "network learns.")
        return
    if snapshot.probe is None or snapshot.probe_version != version:
        st.caption("Your drawing is with the run: its answer comes with the next snapshot…")
        return
    st.markdown(made_once(snapshot, "probe", lambda: snapshot_html.probe_html(snapshot, p.panel.class_names,
                                                                            when(snapshot))), unsafe_allow_html=True)


def confusion_ui(p: Progress) -> None:
    shot = p.confusion_snapshot
    if shot is None or shot.confusion is None:
        return
    right = int(np.trace(shot.confusion))
    total = max(1, int(shot.confusion.sum()))
    source = p.panel.confusion_source or "validation"
    st.markdown(f"**Confusion matrix after epoch {shot.epoch + 1}** · {shot.confusion_count:,} {source} images, "
                f"{right / total:.1%} right")
    st.caption("Rows: the true class. Columns: what the network said. Off the diagonal: its mistakes.")
    st.markdown(made_once(shot, "confusion", lambda: snapshot_html.confusion_html(shot.confusion, p.panel.class_names)),
                unsafe_allow_html=True)


def light_curves_ui(p: Progress) -> None:
    """Loss and accuracy while a run trains, as two small SVG charts (thinned to what they can show), from the
    run's figures as they are: on every poll, so no DataFrame (pandas' filtering was most of a poll's CPU). The
    changes made while it trained (core.store.run_events) are marked."""
    batches = np.asarray(p.batch_curve, dtype=float).reshape(-1, 3)  # (epoch, loss, accuracy) per point
    columns = st.columns(2)
    for column, metric, index, percent in ((columns[0], "loss", 1, False), (columns[1], "accuracy", 2, True)):
        xs, ys = snapshot_html.thin_curve(batches[:, 0], batches[:, index])
        val = np.asarray([(e["epoch"], e[f"val_{metric}"]) for e in p.epoch_log if f"val_{metric}" in e],
                         dtype=float).reshape(-1, 2)  # after each epoch, at its end
        svg = snapshot_html.curve_svg(metric.capitalize(), max(1, p.epochs), (xs, ys), (val[:, 0], val[:, 1]),
                                      percent, p.events)
        column.markdown(svg, unsafe_allow_html=True)


def replay_after_run(job: "QueuedJob", p: Progress) -> None:
    """After a run on the Train page: its snapshots to scrub through (kept in memory with the job)."""
    if p.state == JobState.FAILED or p.panel is None or not p.snapshot_count:
        return
    from pages.parts import replay_view

    replay_view.replay_ui(p.panel, job.snapshots(), p.batches_per_epoch, key=f"train_replay_{job.id}",
                          events=p.events)

"""Draw page: "the run in progress" as the model. The drawing goes to the training run as its probe and the
answer shown is the one from the run's latest snapshot (the weights of that moment), polled every second.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.data import datasets
from core.data.preprocess import TooSmallError
from core.fit.progress import JobState
from pages.parts import resources, session
from pages.parts.drawing_input import digest, read_drawing
from pages.parts.formatting import plain
from pages.parts.probability_bars import PANEL, probability_bars_html

USE_KEY = "draw_use_live_run"     # the toggle
RUN_KEY = "draw_live_run_id"      # the run chosen, while the toggle is on
SENT_KEY = "draw_live_sent"       # (job id, digest of the drawing last handed to the run, its probe version)
POLL_SECONDS = 1.0
HINT = "Draw a digit: the run in progress reads it with every snapshot, and its answer changes as it learns."


def live_runs() -> list:
    """Runs training now on digits, this session's own run first, then the newest."""
    runs = [job for job in resources.registry().active()
            if job.state in (JobState.RUNNING, JobState.STOPPING) and datasets.get(job.config.dataset).is_digits]
    own = st.session_state.get(session.OWN_RUN_KEY)
    return sorted(runs, key=lambda job: (job.id != own, -job.created))


def choice_ui() -> None:
    """A toggle to answer with the run in progress instead of a saved model; shown only while one trains."""
    runs = live_runs()
    if not runs:
        st.session_state.pop(RUN_KEY, None)
        return
    job = runs[0]
    use = st.toggle(f"Use the run in progress ({job.config.arch}, {job.id})", key=USE_KEY,
                    help="Predict with the network that is training right now, with the weights of its latest "
                         "snapshot (about every second of training).")
    st.session_state[RUN_KEY] = job.id if use else None


def answer_ui(image: np.ndarray | None, source: str) -> bool:
    """If the run in progress was chosen: send it the drawing and show its latest answer; True if it was."""
    job_id = st.session_state.get(RUN_KEY)
    job = resources.registry().get(job_id) if job_id else None
    if job is None:
        return False
    st.caption(f"Answers from the run in progress ({job.config.arch}, {job.id}), not from the model above.")
    if image is None:
        st.info(HINT)
        return True
    prepared, problem = read_drawing(image)
    if isinstance(problem, TooSmallError):
        st.warning("That mark is too small to be a digit. Draw the digit larger, so it fills most of the box.")
        return True
    if problem is not None:
        st.info(HINT)
        return True
    fingerprint = digest(prepared.image)
    sent = st.session_state.get(SENT_KEY)
    if sent is None or sent[0] != job.id or sent[1] != fingerprint or job.probe()[0] != sent[2]:
        sent = (job.id, fingerprint, job.set_probe(prepared.image))  # only a changed drawing is sent
        st.session_state[SENT_KEY] = sent
    st.fragment(run_every=POLL_SECONDS)(live_answer_ui)(job.id, sent[2])
    return True


def live_answer_ui(job_id: str, version: int) -> None:
    """The run's answer for drawing `version`, from its latest snapshot; re-run every second."""
    job = resources.registry().get(job_id)
    if job is None:
        st.warning("The run is no longer known to this server.")
        return
    p = job.progress()
    snapshot = p.snapshot
    if snapshot is None or snapshot.probe is None or snapshot.probe_version != version:
        if p.state.done:
            name = p.result.model_name if p.result else None
            st.info("The run has ended before it read this drawing." +
                    (f" It was saved as model {plain(name)}: pick it above." if name else ""))
        else:
            st.caption("The run reads your drawing with its next snapshot (about every second of training)…")
        return
    probabilities = np.asarray(snapshot.probe, dtype=np.float32)
    best = int(probabilities.argmax())
    where = "before training" if snapshot.step == 0 else f"as of batch {snapshot.step:,} (epoch {snapshot.epoch + 1})"
    st.markdown(
        f"<div style='line-height:1.1'><div style='font-size:1.3rem'>The run in progress says</div>"
        f"<div style='font-size:8rem;font-weight:700;line-height:1'>{best}</div>"
        f"<div style='font-size:1.3rem'>{probabilities[best]:.0%} sure · {where}</div></div>",
        unsafe_allow_html=True)
    names = p.panel.class_names if p.panel else tuple(str(d) for d in range(len(probabilities)))
    st.markdown(probability_bars_html(probabilities, names, 100, PANEL), unsafe_allow_html=True)
    if p.state.done:
        name = p.result.model_name if p.result else None
        st.caption("The run has ended: this is its last answer." + (f" Saved as model {plain(name)}." if name else ""))

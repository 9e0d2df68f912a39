"""Take the wheel (Train page, while a run trains): Pause, Resume, Step one batch, a new learning rate and
augmentation on or off, for the run's starter or the presenter (pages.parts.visitor.may_control, checked
again in every callback). A refused control (core.fit.control.ControlError) becomes a plain message under
the buttons; nothing is changed. What the job's methods do is core.runs.steering.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import streamlit as st

from core.fit.control import ControlError
from core.fit.progress import JobState, Progress
from pages.parts import visitor
from pages.parts.formatting import plain

if TYPE_CHECKING:
    from core.runs.queue import QueuedJob

MESSAGE_KEY = "run_control_message"    # (job id, the last refusal's words)
STEP_WAIT = 1.0                        # seconds a Step's click waits for the report, so its own rerun shows it


def _augment_key(job_id: str) -> str:
    return f"run_augment_{job_id}"


def _refused(job_id: str, words: str) -> None:
    """Keep a refusal's words to be shown; a refused toggle goes back to what the run does."""
    st.session_state[MESSAGE_KEY] = (job_id, words)
    st.session_state.pop(_augment_key(job_id), None)


def _job(job_id: str):
    from pages.parts import resources

    job = resources.registry().get(job_id)
    if job is None or not visitor.may_control(job):
        _refused(job_id, "Only the run's starter, or the presenter, can steer it.")
        return None
    return job


def _act(job_id: str, action: str, *args) -> None:
    """A button's callback: the control, after the ownership check; a refusal is kept to be shown."""
    st.session_state.pop(MESSAGE_KEY, None)
    job = _job(job_id)
    if job is None:
        return
    try:
        before = job.progress().last_step
        getattr(job, action)(*args)
    except ControlError as exc:
        _refused(job_id, str(exc))
        return
    if action == "step":  # most Steps take well under a second: wait, and the page shows it at once
        number = (before.number if before else 0) + 1
        deadline = time.monotonic() + STEP_WAIT
        while time.monotonic() < deadline:
            report = job.progress().last_step
            if report is not None and report.number >= number:
                return
            time.sleep(0.01)


def _rate_entered(job_id: str, key: str) -> None:
    _act(job_id, "set_learning_rate", st.session_state.get(key))


def _follow_augment_events(key: str, p: Progress, asked: bool) -> None:
    """The toggle shows what the run does: what was asked at first, then the latest augmentation switch the run
    recorded (its own clean last epochs, or the presenter's toggle), each once, so a visitor's own click holds
    until the run has taken it."""
    switches = [event for event in p.events if event.kind == "augment"]
    seen = f"{key}_switches"
    if key not in st.session_state or st.session_state.get(seen, 0) != len(switches):
        st.session_state[key] = bool(switches[-1].value) if switches else asked
        st.session_state[seen] = len(switches)


def controls_ui(job: "QueuedJob", p: Progress) -> None:
    """The controls of a training run (nothing for a queued or finished one; a note for someone else's)."""
    said = st.session_state.get(MESSAGE_KEY)
    if said and said[0] == job.id:
        st.warning(plain(said[1]))   # a refused control (shown to whoever pressed it, owner or not)
    if p.state != JobState.RUNNING or not visitor.may_control(job):
        return
    asked = job.control_state()
    widths = [1.25, 1.6, 1.5, 1.75] if asked.paused else [1, 0.4, 1.6, 1.75]  # whole labels: Resume, Step, Augmentation
    pause, step, rate, augment = st.columns(widths, vertical_alignment="bottom")
    if asked.paused:
        pause.button("Resume", icon=":material/play_arrow:", key=f"run_resume_{job.id}", on_click=_act, args=(job.id, "resume"),
                     help="Go on training from here.", width="stretch")
        step.button("Step one batch", icon=":material/skip_next:", key=f"run_step_{job.id}", on_click=_act, args=(job.id, "step"),
                    type="primary", disabled=not p.paused, width="stretch",
                    help="Train exactly one batch, then hold again: see what one step of gradient descent did.")
    else:
        pause.button("Pause", icon=":material/pause:", key=f"run_pause_{job.id}", on_click=_act, args=(job.id, "pause"),
                     help="Hold the run between two batches: nothing changes until you step or resume "
                          "(stopped and saved after a long while untouched).", width="stretch")
    if p.config.schedule == "constant":
        key = f"run_rate_{job.id}"
        current = p.learning_rate if p.learning_rate is not None else p.config.learning_rate
        current = float(f"{current:.6g}")   # the optimizer's float32, as a person would write it
        rate.number_input("Learning rate from the next batch", min_value=0.0, max_value=10.0, value=current,
                          step=0.0001, format="%g", key=key, on_change=_rate_entered, args=(job.id, key),
                          help="Takes effect at the next batch; marked on the curves.")
    if p.config.augment:
        key = _augment_key(job.id)
        _follow_augment_events(key, p, asked.augment if asked.augment_version else True)
        augment.toggle("Augmentation", key=key,
                       on_change=lambda: _act(job.id, "set_augment", bool(st.session_state[key])),
                       help="Randomly shifted, turned and zoomed images from the next batch on, or the plain ones.")
    if asked.paused:
        st.caption(":material/pause_circle: Paused: the weights are held. " + ("Step trains one batch; Resume goes on."
                   if p.paused else "Holding after this batch…"))

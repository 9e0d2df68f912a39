"""Train page: choose a network and settings, train it in the background, watch it learn, keep the model.

The run belongs to core's process-wide JobRegistry, not to this script: its id is kept in
st.session_state and in the URL (?job=...), so a reloaded tab or a return from another page
finds it again; the starter's URL also holds the run's key (?run_key=..., pages.parts.visitor.run_url),
so their reloaded tab still shows its Stop. A fragment polls the run while it is active and stops polling
once it is done.
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

from core.data import datasets
from core.fit.config import ConfigError, TrainConfig
from core.fit.progress import STOPPED_TEST_IMAGES, JobState, Progress
from core.runs.queue import QueueLimitError
from pages.parts import (charts, layer_stats_view, lesson_view, live_view, lr_finder_view, resources, run_controls,
                         session, step_view, train_links, train_source, visitor)
from pages.parts.formatting import duration, plain, settings_line
from pages.parts.lesson_view import LessonAt
from pages.parts.train_controls import settings_ui
from pages.parts import sweep_form, sweep_view  # several runs at once (sweeps)

POLL_SECONDS = 1.0
TRAIN_SERIES, VAL_SERIES = "training", "validation"

if TYPE_CHECKING:
    import pandas as pd

    from core.runs.queue import QueuedJob


def main() -> None:
    st.title(":material/model_training: Train a network")
    at = lesson_view.current()                 # a lesson step limits the settings
    if at is not None:
        lesson_view.banner_ui(at, page="train")
    train_links.apply_link(at)                 # a link's settings, once
    settings, panel = st.columns([1, 3] if visitor.presenting() else [1, 2], gap="large")  # presenter: curves wider
    with settings:
        arch, options, training = settings_ui(at.step if at else None)
        train_links.expect_shown(arch, options, training)   # idle workers warm the run on screen
        if st.button("▶ Start training", type="primary", key="train_start", width="stretch"):
            start_job(arch, options, training, at)
        train_links.copy_link_ui(arch, options, training, at)
        if at is None or "finder" not in at.step.hidden:     # a lesson step may leave the finder out
            lr_finder_view.finder_ui(arch, options, training,
                                     locked=at is not None and "learning_rate" in at.step.fixed)
        sweep_form.sweep_ui(arch, options, training, at)
    with panel:
        if sweep_view.sweep_panel_ui():        # a sweep this tab follows takes the panel
            return
        job = attached_job()
        if job is None:
            st.info("Choose a network and its settings, then press **Start training**. "
                    "Small sample limits and one epoch train in seconds.")
            busy = bool(resources.active_jobs())
            st.fragment(run_every=POLL_SECONDS * 2 if busy else None)(slot_ui)(busy)
        else:
            active = not job.state.done
            steer = at is None or "steer" not in at.step.hidden  # a lesson step may leave Pause and Step out
            st.fragment(run_every=live_view.poll_seconds(job) if active else None)(job_panel)(job.id, active, steer)


def start_job(arch: str, options: dict, training: dict, at: LessonAt | None = None) -> None:
    """Refuse impossible settings (and, in a lesson, anything beyond the step's limits) with every reason,
    else queue the run in the visitor's name and remember its id."""
    problems = train_links.step_problems(at, {"arch": arch, "options": options, **training}) if at else []
    for problem in problems:
        st.error(plain(problem))
    try:
        config = TrainConfig(arch=arch, options=options, **training)
    except ConfigError as exc:
        for problem in exc.problems:
            st.error(plain(problem))
        return
    if problems:
        return
    if not fine_tune_ready(config):
        return
    try:
        job = resources.registry().submit(config, resources.model_store(), owner=visitor.name())
    except QueueLimitError as exc:
        st.error(plain(exc))
        return
    visitor.started(job.id)
    st.session_state[session.OWN_RUN_KEY] = job.id
    visitor.run_url(job.id)                 # its id and its key: a reload keeps it this visitor's


def fine_tune_ready(config: TrainConfig) -> bool:
    """A run from a stored model or with the drawings: refuse a missing or mismatched model, or too few
    drawings, here rather than as a failed run."""
    from core.drawings import DrawingsError
    from core.fit.finetune import FineTuneError, check, tuned
    from core.store import StoreError

    if not tuned(config):
        return True
    try:
        check(config, resources.model_store(), resources.drawing_store())
    except (FineTuneError, StoreError, DrawingsError) as exc:
        st.error(plain(exc))
        return False
    return True


def attached_job() -> "QueuedJob | None":
    """This tab's run: from the URL (a reloaded tab) or the session (a return from another page)."""
    job_id = st.query_params.get("job") or st.session_state.get(session.OWN_RUN_KEY)
    if not job_id:
        return None
    job = resources.registry().get(job_id)
    if job is None:
        st.warning("The training run in this link is not known to this server (it may have been restarted). "
                   "Start a new run.")
        st.text(f"Run asked for: {job_id[:200]}")  # text from the URL: shown as text, never as markdown
        st.session_state.pop(session.OWN_RUN_KEY, None)
        visitor.run_url(None)
        return None
    st.session_state[session.OWN_RUN_KEY] = job.id
    visitor.run_url(job.id)
    return job


def job_panel(job_id: str, was_active: bool, steer: bool = True) -> None:
    """Everything about one run; re-run on a timer by st.fragment while the run is active."""
    job = resources.registry().get(job_id)
    if job is None:
        st.rerun()
    p = job.progress()
    if was_active and p.state.done:
        st.rerun()  # a full run shows the result and turns the timer off
    if was_active and live_view.pace_changed(job):
        st.rerun()  # queued -> training: a full run polls faster
    cfg = p.config
    owner = job.owner
    st.subheader(f"Run {p.job_id} · {cfg.arch}" + (f" · {plain(owner)}" if owner else ""))
    st.caption(plain(settings_line(cfg.to_dict())))
    if not p.state.done and visitor.may_control(job):
        stop_button_ui(job.id, p.state)
    elif not p.state.done:
        st.caption(f"Started by {plain(owner) if owner else 'another visitor'}: only they, or the presenter, "
                   "can stop, pause or steer it.")
    with st.container():  # one block whatever it holds: the panel's layout stays the same from poll to poll
        if steer:
            run_controls.controls_ui(job, p)  # Pause, Resume, Step, a new rate (its starter or the presenter)
    if p.state == JobState.QUEUED:
        running = sum(1 for j in resources.registry().active() if j.state != JobState.QUEUED)
        ahead = running + (p.queue_position or 1) - 1
        st.warning(f"⏳ Waiting: {ahead} run{'s' if ahead != 1 else ''} ahead of you "
                   f"(place {p.queue_position} in the queue). It starts by itself when the slot is free.")
    elif not p.state.done:
        progress_ui(p)
    if not p.state.done and (p.batch_curve or p.epoch_log):
        curves_ui(p)               # while it trains, the curves come first, with the controls above them
    if p.state.done:
        outcome_ui(p)
    elif p.batch_curve:
        figures_ui(p)
    with st.container():
        if p.last_step is not None and p.state == JobState.RUNNING and job.control_state().paused:
            step_view.step_report_ui(p.last_step, p.panel)
    if p.state in (JobState.RUNNING, JobState.STOPPING):
        live_view.live_ui(job, p)  # test images, the user's drawing and the filters, as it learns
        layer_stats_view.hints_ui(p.snapshot)
        layer_stats_view.live_layers_ui(job)
    if p.state.done and (p.batch_curve or p.epoch_log):
        curves_ui(p)
    if p.result is not None:
        spec = datasets.get(p.config.dataset)
        labels = None if spec.is_digits else spec.class_names
        sample = f" (a sample of {p.result.test_images:,})" if p.result.sampled_from(spec.test_size) else ""
        with st.expander(f"Confusion matrix on the {spec.title} test set{sample}", expanded=True):
            st.caption(f"Rows: the true {spec.item}. Columns: what the model said. Off the diagonal: mistakes.")
            st.altair_chart(charts.confusion_chart(p.result.confusion, labels=labels, size=360,
                                                  large=visitor.presenting()))
            charts.png_download(partial(charts.confusion_png, p.result.confusion, labels=labels,
                                        title=f"{p.result.model_name}: {spec.title} test set"),
                                f"{p.result.model_name}-confusion.png", key=f"train_confusion_png_{p.job_id}")
    if p.state.done:
        live_view.replay_after_run(job, p)
    others_ui(job.id)


def stop_button_ui(job_id: str, state: JobState) -> None:
    """Cancel a queued run; Stop a training one (it then tests and saves); Stop now while it stops (no saving)."""
    if state == JobState.STOPPING:
        label, text = "■ Stop now", "Ends at once: nothing is tested or saved."
    else:
        label = "■ Cancel" if state == JobState.QUEUED else "■ Stop"
        text = (f"Ends after the current batch; what was learned so far is tested on {STOPPED_TEST_IMAGES:,} "
                "test images and saved. Press again to end at once, saving nothing.")
    st.button(label, key=f"train_stop_{job_id}", on_click=visitor.stop_if_allowed,
              args=(job_id, state == JobState.STOPPING), help=text)


def tested_on(result, dataset: str) -> str:
    """'the 10,000 test images', or 'a sample of 1,000 of the 10,000 test images' for a stopped run."""
    size = datasets.get(dataset).test_size
    if result.sampled_from(size):
        return f"a sample of {result.test_images:,} of the {size:,} test images"
    return f"the {size:,} test images"


def progress_ui(p: Progress) -> None:
    from core.data.stroke_copies import preparing_text  # SciPy: imported once a run is shown, not on the first page

    if p.state == JobState.STOPPING:
        text = (f"Stopping after this batch, then testing on {STOPPED_TEST_IMAGES:,} test images and saving what "
                "was learned… Stop now ends at once, saving nothing.")
    elif not p.batches_per_epoch and p.config.stroke_copies:
        text = preparing_text(p.config.stroke_copies)
    elif not p.batches_per_epoch:
        text = "Preparing the data and building the network…"
    elif p.epoch >= p.epochs:
        text = "Training done: testing on the 10,000 test images and saving…"
    else:
        text = (f"Epoch {p.epoch + 1} of {p.epochs} · batch {p.batch} of {p.batches_per_epoch} · "
                f"ETA {duration(p.eta) if p.eta is not None else '…'}")
    st.progress(p.fraction_done, text=text)


def figures_ui(p: Progress) -> None:
    """The latest numbers: last batch, last validation, learning rate, speed."""
    last = p.epoch_log[-1] if p.epoch_log else {}
    loss, acc = (p.batch_curve[-1][1], p.batch_curve[-1][2]) if p.batch_curve else (None, None)
    lr = p.learning_rate if p.learning_rate is not None else p.config.learning_rate
    cells = [("Loss (batch)", loss, "{:.3f}"), ("Val loss", last.get("val_loss"), "{:.3f}"),
             ("Learning rate", lr, "{:g}"), ("Accuracy (batch)", acc, "{:.1%}"),
             ("Val accuracy", last.get("val_accuracy"), "{:.1%}"),
             ("Samples/s", p.samples_per_second, "{:,.0f}")]
    columns = st.columns(3) + st.columns(3)
    for column, (label, value, fmt) in zip(columns, cells):
        column.metric(label, "–" if value is None else fmt.format(value))


def curve_frame(p: Progress) -> pd.DataFrame:
    """Training per batch and validation per epoch, long format (charts.CURVE_COLUMNS)."""
    import pandas as pd  # imported once a run is shown, not on the first page

    rows = [(x, metric, value, TRAIN_SERIES) for x, loss, acc in p.batch_curve
            for metric, value in (("loss", loss), ("accuracy", acc))]
    # a stopped run ends its last epoch early: put that validation point where training ended
    end = p.batch_curve[-1][0] if p.batch_curve and p.state == JobState.STOPPED else float(p.epochs)
    rows += [(min(e["epoch"], max(end, e["epoch"] - 1)), metric, e[f"val_{metric}"], VAL_SERIES)
             for e in p.epoch_log for metric in ("loss", "accuracy") if f"val_{metric}" in e]
    return pd.DataFrame(rows, columns=charts.CURVE_COLUMNS)


def curves_ui(p: Progress) -> None:
    """Loss and accuracy against epochs, and a PNG of both for slides."""
    if not p.state.done:  # while it trains: light SVG curves, cheap to redraw every second
        live_view.light_curves_ui(p)
        return
    frame = curve_frame(p)
    large = visitor.presenting()
    for column, chart in zip(st.columns(2), charts.training_curve_charts(frame, p.epochs, large=large,
                                                                         events=p.events)):
        column.altair_chart(chart, width="stretch")
    st.caption("Training: the batches just trained (each point averages the few batches since the previous one). "
               "Validation: the held-out images, after each epoch.")
    if p.events:
        st.caption("Dashed lines: " + "; ".join(plain(f"{e.text} after batch {e.step:,}") for e in p.events) + ".")
    charts.png_download(partial(charts.training_curves_png, frame, p.epochs, f"{p.config.arch}, run {p.job_id}",
                                p.events),
                        f"{p.job_id}-curves.png", key=f"train_curves_png_{p.job_id}")


def outcome_ui(p: Progress) -> None:
    """Finished, stopped, cancelled or failed: say which, and show what the run produced."""
    result = p.result
    if p.state == JobState.FAILED:
        st.error(f"Training failed: {plain(p.error)}")
        return
    if result is None and p.error:  # stopped by force: the worker did not end in time
        st.warning(f"Stopped: {plain(p.error)}")
        return
    if result is None:
        st.info("Cancelled before it started: nothing was trained or saved.")
        return
    limit = next((e for e in p.events if e.kind == "pause_limit"), None)
    if p.state == JobState.STOPPED and limit is not None:
        st.warning(f"Stopped in epoch {result.epochs_run} of {p.epochs}: it was {plain(limit.text)}. "
                   "Nobody touched it, so it gave its training slot back. What it had learned so far was saved, "
                   f"and tested on {tested_on(result, p.config.dataset)}.")
    elif p.state == JobState.STOPPED:
        st.warning(f"Stopped in epoch {result.epochs_run} of {p.epochs}. What it had learned so far was saved, "
                   f"and tested on {tested_on(result, p.config.dataset)} so that Stop is quick.")
    else:
        st.success(f"Finished: **{result.test_accuracy:.2%}** of {tested_on(result, p.config.dataset)} right.")
    cols = st.columns(4)
    cols[0].metric("Test accuracy", f"{result.test_accuracy:.2%}")
    cols[1].metric("Test loss", f"{result.test_loss:.3f}")
    cols[2].metric("Training time", duration(result.train_seconds))
    cols[3].metric("Epochs run", result.epochs_run)
    train_source.before_after_ui(result, p.config.dataset)
    name_col, button_col = st.columns([3, 2], vertical_alignment="center")
    name_col.markdown(f"Saved as model **`{result.model_name}`**")
    if session.active_model_name() == result.model_name:
        button_col.success("✍️ In use on the Draw page")
    else:
        button_col.button("✍️ Use for drawing", key=f"train_use_{p.job_id}", width="stretch",
                          on_click=session.set_active_model, args=(result.model_name,))


def slot_ui(was_busy: bool) -> None:
    """Other people's runs while this tab has none; polled only while the slot is busy."""
    if was_busy and not resources.registry().active():
        st.rerun()  # the slot is free again: a full run turns the timer off
    others_ui(None)


def others_ui(own_id: str | None) -> None:
    """Other runs that hold or wait for the training slot, so nobody wonders why theirs is queued."""
    job_of = {j.id: j for j in resources.registry().active() if j.id != own_id}
    others = [j.progress() for j in job_of.values()]
    if not others:
        return
    lines = []
    for p in others:
        where = (f"waiting, place {p.queue_position}" if p.state == JobState.QUEUED
                 else f"{p.state.value}, epoch {min(p.epoch + 1, p.epochs)} of {p.epochs}")
        owner = getattr(job_of.get(p.job_id), "owner", None)
        lines.append(f"- **{p.job_id}** · {p.config.arch} · {where}" + (f" · {plain(owner)}" if owner else ""))
    st.markdown(f"**Other runs on this machine ({len(others)})**\n" + "\n".join(lines))


if __name__ == "__main__":
    main()

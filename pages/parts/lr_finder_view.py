"""Find a learning rate (Train page, settings column): the finder (core.fit.lr_range) runs through the queue like
any run with the settings on the page, and nothing is saved; its curve, loss against learning rate on a log
axis, shows the suggestion and the rule that chose it, and "Use this" puts it in the learning-rate field."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.fit.config import ConfigError, TrainConfig
from core.fit.lr_range import FinderConfig, FinderResult
from core.fit.progress import JobState
from core.runs.queue import QueueLimitError
from pages.parts import charts, resources, visitor
from pages.parts.formatting import plain
from pages.parts.train_state import widget_key

FINDER_KEY = "lr_finder_job"          # the id of this session's latest finder run
OPEN_KEY = "lr_finder_open"           # its fold, open or closed (kept for the session)
POLL_SECONDS = 1.0


def finder_chart(result: FinderResult, large: bool = False):
    """The loss of each batch (light) and its smoothed curve against the rate (log axis), the suggestion marked."""
    import altair as alt

    frame = pd.DataFrame({"learning rate": result.learning_rates * 2,
                          "loss": list(result.losses) + list(result.smoothed),
                          "series": ["each batch"] * len(result.losses) + ["smoothed"] * len(result.smoothed)})
    frame = frame[frame.loss.apply(lambda v: v == v and abs(v) < 1e6)]
    smoothed = frame[frame.series == "smoothed"].loss
    low = float(smoothed.min()) * 0.8 if len(smoothed) else 0.0
    top = max(float(smoothed.iloc[0]) * 1.3, low * 2) if len(smoothed) else 1.0
    x = alt.X("learning rate:Q", scale=alt.Scale(type="log"), axis=alt.Axis(format="~e", tickCount=5))
    lines = alt.Chart(frame).mark_line(clip=True).encode(
        x=x, y=alt.Y("loss:Q", scale=alt.Scale(domain=[low, top])),
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=["each batch", "smoothed"], range=[charts.NEUTRAL, charts.BLUE])))
    layers = [lines]
    if result.suggestion is not None:
        mark = pd.DataFrame([{"learning rate": result.suggestion, "label": f"suggested: {result.suggestion:.2g}"}])
        layers += [alt.Chart(mark).mark_rule(color=charts.VERMILLION, strokeWidth=3).encode(x=x),
                   alt.Chart(mark).mark_text(align="left", dx=6, dy=-8, color=charts.VERMILLION, fontSize=14,
                                             fontWeight="bold").encode(x=x, y=alt.value(12), text="label:N")]
    height = int(260 * charts.LARGE) if large else 260
    return charts.style(alt.layer(*layers).properties(height=height, title="Loss against learning rate"), large)


def _start(arch: str, options: dict[str, Any], training: dict[str, Any]) -> None:
    st.session_state.pop(f"{FINDER_KEY}_problem", None)
    try:
        config = FinderConfig.sweeping(TrainConfig(arch=arch, options=options, **{**training, "start_from": None}))
        job = resources.registry().submit(config, resources.model_store(), owner=visitor.name())
    except ConfigError as exc:
        st.session_state[f"{FINDER_KEY}_problem"] = " ".join(exc.problems)
        return
    except QueueLimitError as exc:
        st.session_state[f"{FINDER_KEY}_problem"] = str(exc)
        return
    visitor.started(job.id)
    st.session_state[FINDER_KEY] = job.id
    st.session_state[OPEN_KEY] = True


def _use(arch: str, rate: float) -> None:
    st.session_state[widget_key(arch, "learning_rate")] = float(f"{rate:.3g}")


def finder_ui(arch: str, options: dict[str, Any], training: dict[str, Any], locked: bool = False) -> None:
    """The button, and this session's finder run: its progress while it runs, then its curve and "Use this"."""
    with st.expander("Find a learning rate", icon=":material/search:", key=OPEN_KEY, on_change="rerun"):
        st.caption("A throw-away copy of this network trains for 100 batches while its learning rate grows from "
                   "0.00001 to 1; the loss against the rate shows where learning is fastest. Nothing is saved.")
        st.button("Find a learning rate", icon=":material/search:", key="lr_finder_start", on_click=_start, args=(arch, options, training),
                  disabled=bool(training.get("start_from")),
                  help="Runs through the queue like any run (Smith 2017; fastai's lr_find).")
        problem = st.session_state.get(f"{FINDER_KEY}_problem")
        if problem:
            st.error(plain(problem))
        job_id = st.session_state.get(FINDER_KEY)
        job = resources.registry().get(job_id) if job_id else None
        if job is None:
            return
        if job.state.done:  # drawn with the page: "Use this" must rerun the whole page to reach the rate field
            finder_result_ui(job.id, arch, False, locked)
        else:
            st.fragment(run_every=POLL_SECONDS)(finder_result_ui)(job.id, arch, True, locked)


def finder_result_ui(job_id: str, arch: str, was_active: bool, locked: bool) -> None:
    job = resources.registry().get(job_id)
    if job is None:
        return
    p = job.progress()
    if was_active and p.state.done:
        st.rerun()
    config = p.config
    batches = getattr(config, "finder_batches", 100)
    if p.state == JobState.QUEUED:
        st.caption(f"Waiting in the queue (place {p.queue_position}).")
        return
    if not p.state.done:
        st.progress(min(1.0, p.steps / max(1, batches)), text=f"Sweeping the learning rate: batch {p.steps} of {batches}")
        return
    if p.state == JobState.FAILED:
        st.error(f"The finder failed: {plain(p.error)}")
        return
    result = p.finder
    if result is None:
        st.caption("The finder was stopped before its first batch.")
        return
    st.altair_chart(finder_chart(result, large=visitor.presenting()), width="stretch")
    ended = {"diverged": "the loss blew up, so the sweep ended there", "swept": "the whole range was swept",
             "stopped": "it was stopped"}[result.ended]
    st.caption(f"{len(result.learning_rates)} batches of {config.arch}, rates {result.low:g} to {result.high:g}; {ended}.")
    if result.suggestion is None:
        st.warning("No suggestion: the loss never fell over this range.")
        return
    st.markdown(f"**Suggested learning rate: {result.suggestion:.2g}**, {plain(result.rule)}.")
    if config.arch == arch:
        st.button(f"Use this: {result.suggestion:.3g}", key=f"lr_finder_use_{job.id}", on_click=_use,
                  args=(arch, result.suggestion), disabled=locked, type="primary",
                  help="Puts it in the learning-rate field." + (" This lesson step fixes the rate." if locked else ""))
    else:
        st.caption(f"Found for {config.arch}: choose it again to use the rate.")

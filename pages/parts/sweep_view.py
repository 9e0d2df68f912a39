"""A sweep as it runs, on the Train page: how far it is, each run's values, state and figures (a pruned run
with the reason), the validation curves overlaid, Stop, and the way to Compare.

Polled by a fragment while the sweep runs; the timer stops once it is done.
"""
from __future__ import annotations

import streamlit as st

from core.sweeps.compare import rows_from_sweep, varied
from core.sweeps.space import SEARCH_TITLES, params_text
from pages.parts import sweep_charts, sweep_state, visitor
from pages.parts.formatting import plain

POLL_SECONDS = 1.0
COMPARE_PAGE = "pages/compare.py"


def sweep_panel_ui() -> bool:
    """The sweep this tab follows, if any (True when one was shown: the page then shows no single run)."""
    sweep_id = sweep_state.attached_id()
    if sweep_id is None:
        return False
    record = sweep_state.sweeps().record(sweep_id)
    if record is not None and _single_run_since(record):
        sweep_state.detach()                        # the tab started one run after the sweep: show that run
        return False
    if record is None:
        st.warning("The sweep in this link is not known here.")
        st.text(f"Sweep asked for: {str(st.query_params.get(sweep_state.PARAM, sweep_id))[:40]}")
        sweep_state.detach()
        return False
    running = record.state == "running"
    st.fragment(run_every=POLL_SECONDS if running else None)(sweep_ui)(sweep_id, running)
    return True


def sweep_ui(sweep_id: int, was_running: bool) -> None:
    record = sweep_state.sweeps().record(sweep_id)
    if record is None:
        return
    if was_running and record.state != "running":
        st.rerun()                                    # a full run shows the end and turns the timer off
    spec, runs = record.spec, record.runs
    done = [r for r in runs if r.done]
    pruned = [r for r in runs if r.state == "pruned"]
    owner = f" · {plain(record.owner)}" if record.owner else ""
    st.subheader(f"Sweep {record.id} · {SEARCH_TITLES[spec.search]}{owner}")
    st.caption(plain(" · ".join(f"{a.label}: {a.text()}" for a in spec.axes)))
    columns = st.columns(4)
    columns[0].metric("Runs done", f"{len(done)} of {spec.runs}")
    columns[1].metric("Pruned", len(pruned))
    best = max((r for r in runs if r.val_accuracy is not None and r.state == "finished"),
               key=lambda r: r.val_accuracy, default=None)
    columns[2].metric("Best val. accuracy", f"{best.val_accuracy:.2%}" if best else "–")
    columns[3].metric("State", record.state)
    if record.state == "running":
        st.progress(len(done) / max(1, spec.runs), text=_now(record))
        live = sweep_state.sweeps().get(record.id)
        if live is not None and sweep_state.can_stop(live):
            st.button("■ Stop the sweep", key=f"sweep_stop_{record.id}", on_click=_stop, args=(record.id,),
                      help="No more runs; those queued or training stop after their current batch and are kept.")
    elif record.note:
        st.error(f"The sweep failed: {plain(record.note)}")
    rows = rows_from_sweep(record)
    names = [a.name for a in spec.axes]
    if rows:
        st.dataframe(sweep_charts.run_table(rows, names), hide_index=True,
                     column_config=sweep_charts.accuracy_columns(), key=f"sweep_table_{record.id}")
    if any(r.history for r in rows):
        colour = names[0] if names else "validation accuracy"
        st.altair_chart(sweep_charts.curves_chart(rows, colour, large=visitor.presenting()), width="stretch")
        st.caption(f"Validation accuracy after each epoch, coloured by {colour.replace('_', ' ')}. "
                   "A cross: where a pruned run was stopped.")
    for run in pruned:
        st.caption(f"Run {run.number} ({plain(params_text(run.params))}): {plain(run.note)}")
    if len(done) >= 2 and varied(rows):
        st.page_link(COMPARE_PAGE, label=f"Compare the runs of sweep {record.id}", icon=":material/compare_arrows:",
                     query_params={"sweep": str(record.id)})
    if record.state != "running":
        st.button("Close the sweep", key=f"sweep_close_{record.id}", on_click=sweep_state.detach,
                  help="Back to training one network at a time; the sweep stays on Compare.")


def _single_run_since(record) -> bool:
    from pages.parts import resources, session

    job_id = st.session_state.get(session.OWN_RUN_KEY)
    job = resources.registry().get(job_id) if job_id else None
    return job is not None and job.created > record.created_unix and job.id not in {r.job_id for r in record.runs}


def _now(record) -> str:
    training = [r for r in record.runs if r.state == "training"]
    queued = [r for r in record.runs if r.state == "queued"]
    parts = [f"run {r.number}: {params_text(r.params)}, epoch {len(r.history) + 1}" for r in training]
    if queued:
        parts.append(f"{len(queued)} waiting in the queue")
    return "Training " + "; ".join(parts) if parts else "Waiting for a turn in the queue…"


def _stop(sweep_id: int) -> None:
    sweep = sweep_state.sweeps().get(sweep_id)
    if sweep is not None and sweep_state.can_stop(sweep):
        sweep.stop()

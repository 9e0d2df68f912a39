"""Compare: a sweep's runs, or saved models you choose, side by side: parallel coordinates (drag a box over an
axis to keep the runs inside it), a sortable table, the curves overlaid, what mattered, two runs' settings
with the differences marked, a PNG for slides and a report to share.

What it shows comes from core.sweeps.compare (rows) and core.sweeps.importance (what mattered); the
charts are pages/parts/sweep_charts.py.
"""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.reports import pictures
from core.store import StoreError
from core.sweeps.compare import differences, importance_input, rows_from_models, rows_from_sweep, value_text, varied
from core.sweeps.importance import importances, sentence
from core.sweeps.records import SweepRecordError
from core.sweeps.space import SEARCH_TITLES
from pages.parts import charts, report_download, resources, sweep_charts, sweep_state, visitor
from pages.parts.formatting import plain

SOURCE_KEY, SWEEP_PICK, MODELS_PICK, CHART_KEY = "compare_source", "compare_sweep", "compare_models", "compare_parallel"
A_SWEEP, MODELS = "a sweep", "saved models you choose"
CONFIRM_KEY = "compare_confirm_delete"


def main() -> None:
    st.title(":material/compare_arrows: Compare runs")
    try:
        rows, record = source_ui()
    except (SweepRecordError, StoreError) as exc:
        st.error(plain(exc))
        return
    if len(rows) < 2:
        st.info("Choose a sweep with at least two runs, or two or more saved models, to compare them.")
        return
    names = varied(rows)
    if record is not None:                      # the sweep's own order first: the first axis it varied leads
        axes = [a.name for a in record.spec.axes]
        names = [n for n in axes if n in names] + [n for n in names if n not in axes]
    large = visitor.presenting()
    kept = parallel_ui(rows, names, large)
    table_ui([r for r in rows if kept is None or r.label in kept], names, len(rows))
    left, right = st.columns(2, gap="large")
    with left:
        curves_ui(rows, names, large)
    with right:
        importance_ui(rows, large)
    side_by_side_ui(rows)
    if record is not None:
        report_download.sweep_report_button(record.id, key="compare_sweep_report")
        delete_ui(record)


def source_ui():
    """(rows, the sweep's record or None) from the choice of a sweep or of saved models."""
    sweeps = sweep_state.sweeps().book.list()
    asked = sweep_state.attached_id() if st.query_params.get(sweep_state.PARAM) else None
    if asked is not None and asked in [s.id for s in sweeps]:
        st.session_state[SOURCE_KEY] = A_SWEEP
        st.session_state[SWEEP_PICK] = asked
    source = st.radio("Compare", (A_SWEEP, MODELS), horizontal=True, key=SOURCE_KEY,
                      index=0 if sweeps else 1)
    if source == A_SWEEP:
        if not sweeps:
            st.caption("No sweep yet: start one on the Train page (“Try several values”) or with "
                       "`python -m core sweep`.")
            return [], None
        titles = {s.id: f"{s.title} · {s.state}" + (f" · {s.owner}" if s.owner else "") for s in sweeps}
        sweep_id = st.selectbox("Sweep", list(titles), format_func=titles.get, key=SWEEP_PICK)
        record = sweep_state.sweeps().record(sweep_id)
        if record is None:
            return [], None
        st.caption(plain(f"{SEARCH_TITLES[record.spec.search]} · " + " · ".join(
            f"{a.label}: {a.text()}" for a in record.spec.axes)))
        return rows_from_sweep(record), record
    infos = [i for i in resources.model_store().list() if i.meta is not None]
    chosen = st.multiselect("Models", [i.name for i in infos], key=MODELS_PICK,
                            placeholder="Choose two or more saved models")
    picked = [i for i in infos if i.name in chosen]
    return rows_from_models(picked), None


def parallel_ui(rows, names, large: bool) -> set[str] | None:
    """The chart; returns the runs inside the brushed box (None when nothing is brushed)."""
    st.subheader("What the results depend on")
    if not names:
        st.caption("These runs share every setting: nothing to put on the axes but their results.")
    event = st.altair_chart(sweep_charts.parallel_chart(rows, names, large=large), width="stretch", key=CHART_KEY,
                            on_select="rerun", selection_mode=[sweep_charts.BRUSH])
    points, _ = sweep_charts.parallel_frames(rows, names)
    selection = (event.selection.get(sweep_charts.BRUSH) if event and hasattr(event, "selection") else None) or None
    kept = sweep_charts.brushed(points, selection)
    st.caption("One line per run, coloured by validation accuracy. Drag a box over part of an axis to keep the runs "
               "that pass through it (the others turn grey); double-click the chart to clear it.")
    title = "Sweep" if not names else "Runs by " + ", ".join(n.replace("_", " ") for n in names)
    charts.png_download(partial(pictures.parallel_png, rows, names, title, kept, pictures.SLIDE),
                        "parallel-coordinates.png", key="compare_parallel_png")
    return kept


def table_ui(rows, names, total: int) -> None:
    shown = f"{len(rows)} of {total} runs, inside the box" if len(rows) != total else f"{total} runs"
    st.subheader(f"Runs ({shown})")
    st.dataframe(sweep_charts.run_table(rows, names), hide_index=True, column_config=sweep_charts.accuracy_columns(),
                 key="compare_table")


def curves_ui(rows, names, large: bool) -> None:
    st.subheader("Curves")
    options = [*names, "validation accuracy"]
    colour = st.selectbox("Colour by", options, key="compare_colour", format_func=lambda n: n.replace("_", " "))
    if any(r.history for r in rows):
        st.altair_chart(sweep_charts.curves_chart(rows, colour, large=large), width="stretch")
        st.caption("Validation accuracy after each epoch. A cross: where a pruned run was stopped.")
        charts.png_download(partial(pictures.overlay_png, rows, colour, pictures.SLIDE), "curves.png",
                            key="compare_curves_png")


def importance_ui(rows, large: bool) -> None:
    st.subheader("What mattered")
    shares = importances(importance_input(rows))
    if not shares:
        st.caption("Needs at least 4 finished runs that differ in their settings.")
        return
    st.markdown(f"**{plain(sentence(shares))}**")
    st.altair_chart(sweep_charts.importance_chart(shares, large=large), width="stretch")
    st.caption("Optuna's fANOVA: a random forest fitted to these runs, its variance split between the settings. "
               "With few runs, a hint rather than a verdict.")
    charts.png_download(partial(pictures.importance_png, shares, sentence(shares), pictures.SLIDE),
                        "what-mattered.png", key="compare_importance_png")


def side_by_side_ui(rows) -> None:
    st.subheader("Two runs side by side")
    labels = [r.label for r in rows]
    left, right = st.columns(2)
    first = left.selectbox("First", labels, index=0, key="compare_first")
    second = right.selectbox("Second", labels, index=min(1, len(labels) - 1), key="compare_second")
    a, b = (next(r for r in rows if r.label == name) for name in (first, second))
    table = pd.DataFrame([{"setting": n.replace("_", " "), first: value_text(x), second + (" " if second == first else ""): value_text(y),
                           "differs": "◆" if d else ""} for n, x, y, d in differences(a, b)])
    figures = pd.DataFrame([{"setting": label, first: f"{va:.2%}" if va is not None else "–",
                             second + (" " if second == first else ""): f"{vb:.2%}" if vb is not None else "–",
                             "differs": ""}
                            for label, va, vb in (("validation accuracy", a.val_accuracy, b.val_accuracy),
                                                  ("test accuracy", a.test_accuracy, b.test_accuracy))])
    full = pd.concat([table, figures], ignore_index=True)
    st.dataframe(full.style.apply(lambda row: ["font-weight: bold; background-color: #fde9d9" if row["differs"]
                                               else "" for _ in row], axis=1), hide_index=True, key="compare_pair")
    count = sum(d for *_, d in differences(a, b))
    for row, column in ((a, left), (b, right)):
        if row.model and resources.model_store().exists(row.model):
            with column:
                report_download.model_report_button(row.model, key=f"compare_report_{row.label}_{column is left}",
                                                    label=f"Report of {row.label} (HTML)")
    st.caption(f"◆ marks the {count} setting{'s' if count != 1 else ''} that differ{'s' if count == 1 else ''}.")


def delete_ui(record) -> None:
    """Deleting a sweep's models asks first, naming how many."""
    models = [r.model for r in record.runs if r.model]
    if not models or record.state == "running":
        return
    if not st.session_state.get(CONFIRM_KEY) == record.id:
        st.button(f"Delete the {len(models)} models of sweep {record.id}", icon=":material/delete:",
                  key="compare_delete", on_click=st.session_state.__setitem__, args=(CONFIRM_KEY, record.id))
        return
    st.warning(f"Delete the {len(models)} models of sweep {record.id} for good ({', '.join(models[:6])}"
               f"{'…' if len(models) > 6 else ''})? Their files are removed; this cannot be undone. "
               "The sweep's record stays.")
    yes, no = st.columns(2)
    yes.button("Yes, delete them", key="compare_delete_yes", type="primary", on_click=_delete, args=(models,))
    no.button("Cancel", key="compare_delete_no", on_click=st.session_state.pop, args=(CONFIRM_KEY, None))


def _delete(models: list[str]) -> None:
    for name in models:
        try:
            resources.model_store().delete(name)
            resources.forget_model(name)
        except StoreError:
            continue                                    # already gone
    st.session_state.pop(CONFIRM_KEY, None)


if __name__ == "__main__":
    main()

"""Drawings: the digits kept on the Draw page. Counts per label, a gallery to filter, relabel and delete,
export and import, and models tested (pages/parts/drawings_models.py) and fine-tuned (pages/parts/drawings_tune.py) on them."""
from __future__ import annotations

import math
import time
from functools import partial

import pandas as pd
import streamlit as st

from core.drawings import Drawing, DrawingsError, DrawingStore, ImportReport
from pages.parts import charts, drawings_models, drawings_tune, keep_drawing, resources
from pages.parts.formatting import plain
from pages.parts.images import enlarge

PAGE_SIZE, COLUMNS = 24, 4
ANY, EVERYONE, NO_NAME = "Any", "(everyone)", "(no name)"  # never a kept name: names have no brackets or spaces
LABEL_KEY, AUTHOR_KEY, PAGE_KEY = "drawings_label", "drawings_author", "drawings_page"
PENDING_DELETE, NOTICE, REPORT = "drawings_pending_delete", "drawings_notice", "drawings_import_report"
UPLOADS = "drawings_import_generation"  # a new uploader key empties it after an import
GALLERY, TEST, TUNE, FILES = "Gallery", "Test a model", "Fine-tune", "Export and import"
MAX_IMPORT_MB = 200
PROBLEM_LINES = 200


def main() -> None:
    st.title(":material/collections: Your drawings")
    st.caption("The digits kept on the Draw page: the most honest test set in the room. "
               "Relabel or delete them, export them, test a model on them or fine-tune one.")
    keep_drawing.notice_ui()
    store = resources.drawing_store()
    try:
        counts = store.counts()
    except DrawingsError as exc:
        keep_drawing.database_error_ui(exc, key="drawings_move_aside")
        return
    total = sum(counts.values())
    counts_ui(counts, total)
    gallery, test, tune, files = st.tabs([GALLERY, TEST, TUNE, FILES], key="drawings_tab", on_change="rerun")
    try:
        if gallery.open:
            with gallery:
                gallery_ui(store, total)
        if test.open:
            with test:
                drawings_models.test_ui(store)
        if tune.open:
            with tune:
                drawings_tune.tune_ui(store, total)
        if files.open:
            with files:
                files_ui(store, total)
    except DrawingsError as exc:  # the file went bad after the counts were read
        keep_drawing.database_error_ui(exc, key="drawings_move_aside_later")


# --- counts ------------------------------------------------------------------------------------------

def counts_chart(counts: dict[int, int]):
    """Drawings per label: one bar per digit, its count above it."""
    import altair as alt

    frame = pd.DataFrame({"label": list(counts), "drawings": list(counts.values())})
    base = alt.Chart(frame).encode(x=alt.X("label:O", title="label", axis=alt.Axis(labelAngle=0)),
                                   y=alt.Y("drawings:Q", title="drawings", axis=alt.Axis(tickMinStep=1)),
                                   tooltip=["label", "drawings"])
    bars = base.mark_bar(color=charts.BLUE)
    text = base.mark_text(dy=-9, fontSize=charts.TEXT_SIZE).encode(text="drawings:Q")
    return charts.style((bars + text).properties(height=180))


def counts_ui(counts: dict[int, int], total: int) -> None:
    if not total:
        st.info(drawings_models.HOW_TO_KEEP)
        return
    numbers, chart = st.columns([1, 4], gap="large", vertical_alignment="center")
    numbers.metric("Drawings kept", f"{total:,}")
    missing = [str(digit) for digit, count in counts.items() if not count]
    if missing:
        listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} or {missing[-1]}"
        numbers.caption(f"No {listed} yet: draw some for a balanced set.")
    else:
        fewest = min(counts, key=counts.get)
        numbers.caption(f"Fewest: the {fewest}s ({counts[fewest]}). Draw more of them for a balanced set.")
    chart.altair_chart(counts_chart(counts), key="drawings_counts")


# --- gallery -----------------------------------------------------------------------------------------

def first_page() -> None:
    st.session_state[PAGE_KEY] = 1
    st.session_state.pop(PENDING_DELETE, None)


def pick_key(drawing_id: int) -> str:
    return f"drawing_pick_{drawing_id}"


def notify(kind: str, text: str) -> None:
    st.session_state[NOTICE] = (kind, text)


def relabel(drawing_id: int) -> None:
    label = st.session_state[f"drawing_label_{drawing_id}"]
    try:
        found = resources.drawing_store().relabel(drawing_id, label)
    except DrawingsError as exc:
        notify("error", str(exc))
        return
    notify("success", f"Drawing #{drawing_id} is now a {label}." if found else
           f"Drawing #{drawing_id} was deleted meanwhile.")


def ask_delete(ids: list[int] | None) -> None:
    if ids is None:
        st.session_state.pop(PENDING_DELETE, None)
    else:
        st.session_state[PENDING_DELETE] = [i for i in ids if st.session_state.get(pick_key(i))]


def delete(ids: list[int]) -> None:
    st.session_state.pop(PENDING_DELETE, None)
    try:
        gone = resources.drawing_store().delete(ids)
    except DrawingsError as exc:
        notify("error", str(exc))
        return
    for drawing_id in ids:
        st.session_state.pop(pick_key(drawing_id), None)
    notify("success", f"Deleted {keep_drawing.plural(gone, 'drawing')}.")


def notice_ui() -> None:
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        kind, text = notice
        (st.success if kind == "success" else st.error)(plain(text))


def filters_ui(store: DrawingStore) -> tuple[int | None, str | None]:
    """Label and author filters: (label or None, author: None for everyone, "" for drawings without a name)."""
    label_col, author_col = st.columns(2)
    label = label_col.selectbox("Label", [ANY, *range(10)], key=LABEL_KEY, on_change=first_page)
    authors = [EVERYONE, *([NO_NAME] if store.count(author="") else []), *store.authors()]
    if st.session_state.get(AUTHOR_KEY, EVERYONE) not in authors:  # that name's drawings were all deleted
        st.session_state[AUTHOR_KEY] = EVERYONE
    author = author_col.selectbox("Drawn by", authors, key=AUTHOR_KEY, on_change=first_page,
                                  format_func=lambda a: {EVERYONE: "Everyone", NO_NAME: "No name"}.get(a, a))
    return (None if label == ANY else label), {EVERYONE: None, NO_NAME: ""}.get(author, author)


def when(unix: float) -> str:
    """Time today, else day and time: short enough for a card."""
    same_day = time.localtime(unix)[:3] == time.localtime()[:3]
    return time.strftime("%H:%M" if same_day else "%d %b %H:%M", time.localtime(unix))


def said(d: Drawing) -> str:
    """What the model said when it was kept, as markdown: a tick or a cross, then plain text."""
    if d.predicted is None:
        return "no answer kept"
    mark = ":material/check:" if d.correct else ":orange[:material/close:]"
    confidence = "" if d.confidence is None else f" ({d.confidence:.0%})"
    text = f"{d.model or 'a model'} said {d.predicted}{confidence}"
    return f"{mark} {plain(text)}"


def card_ui(d: Drawing) -> None:
    """One drawing: the network input enlarged, its label (to change), who drew it, when, what the model said."""
    with st.container(border=True):
        st.image(enlarge(d.image, 7), width="stretch")  # 196 px: no blur from the browser scaling it up
        st.selectbox("Label", list(range(10)), index=d.label, key=f"drawing_label_{d.id}",
                     on_change=relabel, args=(d.id,))
        st.caption(plain(f"#{d.id} · {d.author or 'no name'} · {when(d.created_unix)}"))
        st.caption(said(d))
        st.checkbox("Select", key=pick_key(d.id))


def gallery_ui(store: DrawingStore, total: int) -> None:
    notice_ui()
    if not total:
        return
    label, author = filters_ui(store)
    matching = store.count(label, author)
    if not matching:
        st.info("No drawings match these filters.")
        return
    pages = math.ceil(matching / PAGE_SIZE)
    if not 1 <= st.session_state.get(PAGE_KEY, 1) <= pages:
        st.session_state[PAGE_KEY] = 1
    top = st.columns([1, 2, 2], vertical_alignment="bottom")
    page = top[0].number_input("Page", 1, pages, key=PAGE_KEY)
    shown = store.list(label, author, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    top[1].markdown(f"**{keep_drawing.plural(matching, 'drawing')}** match · page {page} of {pages}, newest first")
    selection_ui(top[2], [d.id for d in shown])
    for row in range(0, len(shown), COLUMNS):
        for column, d in zip(st.columns(COLUMNS), shown[row:row + COLUMNS]):
            with column:
                card_ui(d)


def selection_ui(place, shown_ids: list[int]) -> None:
    """'Delete selected', then a confirmation naming how many."""
    pending = st.session_state.get(PENDING_DELETE)
    if not pending:
        selected = sum(bool(st.session_state.get(pick_key(i))) for i in shown_ids)
        place.button(f"Delete selected ({selected})", icon=":material/delete:", key="drawings_delete",
                     disabled=not selected, on_click=ask_delete, args=(shown_ids,))
        return
    st.warning(f"Delete {keep_drawing.plural(len(pending), 'drawing')} for good? This cannot be undone; "
               "export them first to keep a copy.")
    yes, no, _ = st.columns([2, 2, 6])
    yes.button("Yes, delete", key="drawings_confirm_delete", type="primary", on_click=delete, args=(pending,))
    no.button("Cancel", key="drawings_cancel_delete", on_click=ask_delete, args=(None,))


# --- export and import -------------------------------------------------------------------------------

def files_ui(store: DrawingStore, total: int) -> None:
    st.subheader("Export")
    canvases = st.checkbox("Include the original drawings (canvas/<id>.png)", key="drawings_export_canvases")
    zip_col, npz_col = st.columns(2)
    zip_col.download_button("Zip of PNGs + labels.csv", data=partial(store.export_zip, canvases=canvases),
                            file_name="drawings.zip", mime="application/zip", key="drawings_export_zip",
                            icon=":material/folder_zip:", on_click="ignore", disabled=not total)
    zip_col.caption("Each drawing as the 28 x 28 picture the network saw, and labels.csv: file, label, "
                    "author, created, model, predicted, confidence.")
    npz_col.download_button(".npz in MNIST's layout", data=store.export_npz, file_name="drawings.npz",
                            mime="application/octet-stream", key="drawings_export_npz",
                            icon=":material/data_array:", on_click="ignore", disabled=not total)
    npz_col.caption("x_test (N, 28, 28) and y_test (N,) as uint8, like mnist.npz, plus ids: "
                    "`numpy.load('drawings.npz')['x_test']`.")
    st.subheader("Import")
    generation = st.session_state.get(UPLOADS, 0)
    upload = st.file_uploader("A zip laid out as the export above (28 x 28 PNGs plus labels.csv)", type=["zip"],
                              key=f"drawings_import_{generation}", max_upload_size=MAX_IMPORT_MB)
    if st.button("Import", key="drawings_import", icon=":material/upload:", disabled=upload is None):
        try:
            st.session_state[REPORT] = store.import_zip(upload.getvalue())
        except DrawingsError as exc:
            st.session_state[REPORT] = str(exc)
        st.session_state[UPLOADS] = generation + 1
        st.rerun()  # the counts above include what came in
    report_ui(st.session_state.get(REPORT))


def report_ui(report: ImportReport | str | None) -> None:
    """What the last import did; every refused file on a line of plain text (file names are never markdown)."""
    if report is None:
        return
    if isinstance(report, str):
        st.error(plain(report))
        return
    summary = report.summary()
    (st.success if report.ok else st.warning)(summary[0].upper() + summary[1:] + ".")
    if report.problems:
        lines = [str(problem) for problem in report.problems[:PROBLEM_LINES]]
        if len(report.problems) > PROBLEM_LINES:
            lines.append(f"... and {len(report.problems) - PROBLEM_LINES:,} more")
        st.markdown("**Not imported:**")
        st.text("\n".join(lines))


if __name__ == "__main__":
    main()

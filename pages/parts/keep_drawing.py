"""Keep a drawing from the Draw page, with its label: the network's answer pre-filled, one click to correct it.

Kept with it: the original picture, the 28x28 network input, who drew it and which model said what.
Also the one message for a drawings database that cannot be used, shared with the Drawings page:
what is wrong, and a button that moves a damaged file aside, never a traceback.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import streamlit as st

from core.data.preprocess import Preprocessed
from core.drawings import DamagedDatabaseError, DrawingsError, InvalidDrawingError, validate_author
from core.nets.predict import Prediction
from pages.parts import resources, session
from pages.parts.formatting import plain

KEPT = "keep_kept"          # {"fingerprint", "id", "label"} of the drawing last kept in this session
FAILED = "keep_failed"       # the DrawingsError of the last Keep click
NOTICE = "drawings_moved_notice"  # what moving a damaged file aside did, shown once on the next run
VISITOR = "visitor_name"    # set by lesson mode; None: drawings are kept without a name


def fingerprint(prepared: Preprocessed) -> str:
    """Tells one drawing from the next: a new stroke makes a new network input."""
    return hashlib.blake2b(np.ascontiguousarray(prepared.image).tobytes(), digest_size=8).hexdigest()


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


# --- a database that cannot be used ------------------------------------------------------------------

def move_aside() -> None:
    """Rename the damaged file; the next use starts a new, empty database."""
    try:
        target = resources.drawing_store().move_aside()
    except DrawingsError as exc:
        st.session_state[NOTICE] = ("error", str(exc))
    else:
        st.session_state.pop(FAILED, None)
        st.session_state[NOTICE] = ("success", f"The damaged file was moved to {target}. "
                                               "Drawings kept from now on go into a new, empty database.")


def notice_ui() -> None:
    """What the last 'Move the damaged file aside' did, once."""
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        kind, text = notice
        (st.success if kind == "success" else st.error)(plain(text))


def database_error_ui(exc: DrawingsError, key: str) -> None:
    """The store's own message (it names the file and what to do); for a damaged file, a button to move it aside."""
    st.error(f"Your drawings cannot be read or kept right now. {plain(exc)}", icon=":material/error:")
    if isinstance(exc, DamagedDatabaseError):
        st.button("Move the damaged file aside", key=key, icon=":material/drive_file_move:", on_click=move_aside,
                  help="Renames the file (nothing is deleted) and starts a new, empty drawings database.")


# --- keeping -----------------------------------------------------------------------------------------

def author_name() -> tuple[str | None, str | None]:
    """(the visitor's name as kept, or None; a note when a name was given but cannot be kept)."""
    try:
        return validate_author(st.session_state.get(VISITOR)), None
    except InvalidDrawingError as exc:
        return None, f"Kept without your name: {exc}"


def keep(prediction: Prediction, prepared: Preprocessed, picture, fp: str) -> None:
    """Keep button callback: write the drawing with the label picked; remember it, so that the page shows it
    kept and a second click cannot keep it twice. A database error is shown by the run that follows."""
    label = int(st.session_state.get(f"keep_label_{fp}", prediction.digit))
    author, note = author_name()
    values = dict(author=author, model=session.active_model_name(), predicted=int(prediction.digit),
                  confidence=float(prediction.confidence))
    try:
        store = resources.drawing_store()
        try:
            drawing_id = store.add(label, prepared.image, picture, **values)
        except InvalidDrawingError as exc:
            if picture is None:
                raise
            # an uploaded photo too large to keep as it is: the network input is what matters
            drawing_id = store.add(label, prepared.image, None, **values)
            note = f"The original picture was not kept ({exc}); its 28 x 28 network input was."
    except DrawingsError as exc:
        st.session_state[FAILED] = exc
        return
    st.session_state[KEPT] = {"fingerprint": fp, "id": drawing_id, "label": label, "note": note}
    st.session_state.pop(FAILED, None)


def relabel(label: int) -> None:
    """Button callback: give the drawing just kept another label (an error is shown on the next run)."""
    kept = st.session_state[KEPT]
    try:
        found = resources.drawing_store().relabel(kept["id"], label)
    except DrawingsError as exc:
        st.session_state[NOTICE] = ("error", str(exc))
        return
    st.session_state[KEPT] = {**kept, "label": label} if found else \
        {**kept, "note": "That drawing was deleted meanwhile (on the Drawings page)."}


def keep_ui(prediction: Prediction, prepared: Preprocessed, picture, clear: Callable[[], None] | None = None) -> None:
    """Under the answer: the label (the prediction pre-filled), Keep, and once kept, how many there are.
    `picture`: the original canvas RGBA (or uploaded picture); `clear`: empties the canvas (None for uploads)."""
    with st.container(border=True, key="keep_box"):
        st.markdown("**Keep this drawing**, to test models on it or fine-tune one on the Drawings page.")
        notice_ui()
        fp = fingerprint(prepared)
        kept = st.session_state.get(KEPT)
        kept = kept if kept and kept["fingerprint"] == fp else None
        row = st.container(horizontal=True, vertical_alignment="bottom")
        label = row.segmented_control(
            "What digit is it?", list(range(10)), default=int(prediction.digit), required=True,
            key=f"keep_label_{fp}", help="The network's answer is picked. If it was wrong, click the right digit.")
        label = int(prediction.digit if label is None else label)
        if kept is None:
            row.button(f"Keep as a {label}", key="keep_drawing", type="primary", icon=":material/bookmark_add:",
                       on_click=keep, args=(prediction, prepared, picture, fp))
            if label != prediction.digit:
                st.caption(f"The network said {prediction.digit}; you say it is a {label}.")
        failed = st.session_state.get(FAILED)  # shown until a drawing is kept or the file is moved aside
        if failed is not None:
            database_error_ui(failed, key="keep_move_aside")
        elif kept is not None:
            try:
                kept_ui(row, kept, label, clear)
            except DrawingsError as exc:
                database_error_ui(exc, key="keep_move_aside")


def kept_ui(row, kept: dict, label: int, clear: Callable[[], None] | None) -> None:
    """Kept: how many there are now; relabel it if another label is picked; clear for the next one."""
    if label != kept["label"]:
        row.button(f"Change its label to {label}", key="keep_relabel", icon=":material/edit:",
                   on_click=relabel, args=(label,))
    elif clear is not None:
        row.button("Clear for the next drawing", key="keep_clear", icon=":material/ink_eraser:", on_click=clear)
    total = resources.drawing_store().count()
    st.success(f"Kept as a {kept['label']} (drawing #{kept['id']}). {plural(total, 'drawing')} kept so far: "
               "see them on the Drawings page.", icon=":material/check_circle:")
    if kept.get("note"):
        st.caption(plain(kept["note"]))

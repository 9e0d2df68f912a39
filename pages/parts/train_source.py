"""The Train page's fine-tune controls: start from a new network or a stored model, how many of the kept
drawings train and how many are held out, and a finished fine-tune's figures before and after.

Choosing a stored model puts its architecture and the fine-tune defaults (core.fit.finetune.FINE_TUNE_DEFAULTS)
into the widgets once per model, so the visitor can still change them (when a link named a model that is
not here, the model chosen in its place gets the link's own settings over those defaults); the run itself
is an ordinary run of the job registry (TrainConfig.start_from), queued, watched and stopped like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.data import datasets
from core.drawings import DrawingsError
from core.fit import finetune
from core.store import StoreError
from pages.parts import resources, session
from pages.parts.formatting import plain
from pages.parts.train_state import (
    ARCH_KEY,
    BASE_KEY,
    BASE_SEEN_KEY,
    LINK_GIVEN_KEY,
    MISSING_KEY,
    NEW_NETWORK,
    SOURCE_KEY,
    STORED_MODEL,
    widget_state,
)


@dataclass(frozen=True)
class Base:
    """The stored model a run starts from: its name, architecture and options."""

    name: str
    arch: str
    options: dict[str, Any]


def source_ui() -> Base | None:
    """'Start from: a new network | a stored model' and, for a stored model, the picker; None for a new network."""
    source = st.radio("Start from", [NEW_NETWORK, STORED_MODEL], key=SOURCE_KEY, horizontal=True,
                      help="A stored model is trained further (fine-tuned): a few epochs on MNIST and your "
                           "drawings, at a low learning rate. It is kept as it is; the result is a new model.")
    if source != STORED_MODEL:
        st.session_state.pop(MISSING_KEY, None)
        return None
    asked = st.session_state.get(BASE_KEY)
    name = session.model_picker("Stored model", key=BASE_KEY, digits_only=True, activate=False)
    if asked is not None and name is not None and name != asked:   # a link's model, or one deleted since
        given = st.session_state.get(LINK_GIVEN_KEY) or {}
        st.session_state[MISSING_KEY] = (str(asked), name, given.get("start_from") == asked)
    missing = st.session_state.get(MISSING_KEY)
    if missing and missing[1] != name:                  # another model chosen since: the warning is done
        st.session_state.pop(MISSING_KEY, None)
        missing = None
    if missing:
        asked_text, _, from_link = missing
        if from_link:
            st.warning(f"This link starts from the model **{plain(asked_text, 80)}**, which is not among the "
                       f"stored digit models: it starts from **{plain(name)}** instead, with the link's other "
                       "settings. Choose another model here if you like.", icon=":material/link_off:")
        else:
            st.warning(f"The model **{plain(asked_text, 80)}** is no longer among the stored digit models: "
                       f"**{plain(name)}** is chosen instead, with the fine-tune settings.",
                       icon=":material/warning:")
    if name is None:
        return None
    try:
        meta = resources.model_store().read_meta(name)
    except StoreError as exc:
        session.show_store_error(exc)
        return None
    stored = meta.config if isinstance(meta.config, dict) else {}
    options = stored.get("options") if isinstance(stored.get("options"), dict) else {}
    if st.session_state.get(BASE_SEEN_KEY) != name:     # a newly chosen model: its settings, once
        given = st.session_state.pop(LINK_GIVEN_KEY, None) if missing and missing[2] else None
        state, _ = widget_state({"arch": meta.arch, "options": options, "dataset": meta.dataset,
                                 **finetune.FINE_TUNE_DEFAULTS, **link_settings(given), "start_from": name})
        for key in (SOURCE_KEY, BASE_KEY):               # drawn already in this run
            state.pop(key, None)
        st.session_state.update(state)
    st.session_state[ARCH_KEY] = meta.arch
    st.caption(f"Trains a copy of {plain(name)} further and saves it as a new model "
               f"(`{plain(name)}-tuned` unless you name it); {plain(name)} itself is kept as it is.")
    return Base(name, meta.arch, options)


def link_settings(given: dict[str, Any] | None) -> dict[str, Any]:
    """The training settings a link gave itself, for a stored model chosen in place of the one it named: not
    its architecture, options or dataset (the model chosen has its own), nor the model to start from."""
    return {name: value for name, value in (given or {}).items()
            if name not in ("arch", "options", "dataset", "start_from", "name")}


def drawings_plan_ui(weight: int, held_out: float) -> None:
    """How many kept drawings train and how many are held out with these settings, or why there can be none."""
    if not weight:
        st.caption("Not used. Set a weight to train on the digits kept on the Draw page too; a share of them "
                   "is held out to measure the model before and after.")
        return
    try:
        count = resources.drawing_store().count()
    except DrawingsError as exc:
        st.warning(plain(exc))
        return
    try:
        trained, held = finetune.plan(count, held_out)
    except finetune.FineTuneError as exc:
        st.warning(f"{plain(exc)} Or set the weight to 0 to train on MNIST only.")
        return
    st.markdown(f"**{trained}** of your {count} drawings to train on (each shown {weight}×), "
                f"**{held}** held out for testing.")


def change(before: float, after: float, decimals: int) -> dict:
    """st.metric's delta: the change in percentage points, from the figure before."""
    points = round(100 * (after - before), decimals)
    since = f"from {before:.{decimals}%}"
    if not points:
        return dict(delta="no change", delta_color="off", delta_arrow="off", delta_description=since)
    return dict(delta=f"{points:+.{decimals}f} points", delta_description=since)


def before_after_ui(result, dataset: str) -> None:
    """A fine-tune's figures before and after fit: the held-out drawings (if it used them) and the test set."""
    before, after = result.before, result.after
    if not before or not after:
        return
    source = f"Fine-tuned from **{plain(result.base)}**" if result.base else "Trained on your drawings too"
    st.markdown(f"{source}: before and after training.")
    cells = st.columns(2)
    if "drawings_accuracy" in before:
        cells[0].metric(f"Held-out drawings ({result.held_out})", f"{after['drawings_accuracy']:.1%}",
                        **change(before["drawings_accuracy"], after["drawings_accuracy"], 1),
                        help="Your drawings that were kept out of training: the honest test of fine-tuning.")
    title = datasets.get(dataset).title
    cells[1].metric(f"{title} test", f"{after['test_accuracy']:.2%}",
                    **change(before["test_accuracy"], after["test_accuracy"], 2),
                    help=f"Whether the model still reads {title}'s test images as well as before.")

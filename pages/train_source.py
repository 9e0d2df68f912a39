"""The Train page's fine-tune controls: start from a new network or a stored model, how many of the kept
drawings train and how many are held out, and a finished fine-tune's figures before and after.

Choosing a stored model puts its architecture and the fine-tune defaults (core.finetune.FINE_TUNE_DEFAULTS)
into the widgets once per model, so the visitor can still change them; the run itself is an ordinary run
of the job registry (TrainConfig.start_from), queued, watched and stopped like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from core import datasets, finetune
from core.drawings import DrawingsError
from core.store import StoreError
from pages import resources, session
from pages.formatting import plain
from pages.train_controls import (ARCH_KEY, BASE_KEY, BASE_SEEN_KEY, NEW_NETWORK, SOURCE_KEY, STORED_MODEL,
                                  widget_state)


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
        return None
    asked = st.session_state.get(BASE_KEY)
    name = session.model_picker("Stored model", key=BASE_KEY, digits_only=True, activate=False)
    if asked is not None and name != asked:
        st.warning("The model to start from in this link is not in the store: choose one here.")
        st.text(f"Model asked for: {str(asked)[:200]}")   # from a link: shown as text
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
        state, _ = widget_state({"arch": meta.arch, "options": options, "dataset": meta.dataset,
                                 **finetune.FINE_TUNE_DEFAULTS, "start_from": name})
        for key in (SOURCE_KEY, BASE_KEY):               # drawn already in this run
            state.pop(key, None)
        st.session_state.update(state)
    st.session_state[ARCH_KEY] = meta.arch
    st.caption(f"Trains a copy of {plain(name)} further and saves it as a new model "
               f"(`{plain(name)}-tuned` unless you name it); {plain(name)} itself is kept as it is.")
    return Base(name, meta.arch, options)


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
        st.warning(plain(exc))
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

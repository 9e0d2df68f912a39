"""Replay a run (Train page after it ends, Models page for a saved model): a slider over its snapshots
showing the panel's predictions, the first-layer filters and the confusion matrix as they were.
"""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.store import StoreError
from core.store.snapshots import Panel, Snapshot
from pages.parts import resources, snapshot_html
from pages.parts.formatting import plain


def latest_with(snapshots: Sequence[Snapshot], index: int, attribute: str) -> Snapshot | None:
    """The last snapshot at or before `index` that has `attribute` (filters or confusion)."""
    for snapshot in reversed(snapshots[:index + 1]):
        if getattr(snapshot, attribute) is not None:
            return snapshot
    return None


def replay_ui(panel: Panel, snapshots: Sequence[Snapshot], batches_per_epoch: int, key: str,
              title: str | None = "Replay: how it learned", events=()) -> None:
    """A slider over the recorded snapshots and what the network said at the chosen one; then each layer's
    gradients and weights over the run, and what was changed while it trained (`events`)."""
    snapshots = list(snapshots)
    if not snapshots:
        return
    if title:
        st.subheader(title)
    labels = [s.label(batches_per_epoch) for s in snapshots]
    last = len(snapshots) - 1
    index = st.select_slider(
        "Snapshot", options=list(range(len(snapshots))), value=last, key=key,
        format_func=lambda i: labels[i],
        help="Drag through the run: the same test images as the network saw them at each recorded moment.")
    shot = snapshots[index]
    right = int(shot.correct(panel).sum())
    st.caption(f"{labels[index]} · {shot.step:,} batches trained · {shot.seconds:.1f} s into training · "
               f"snapshot {index + 1} of {len(snapshots)} recorded · {right} of {len(panel)} right")
    st.markdown(snapshot_html.panel_html(panel, shot), unsafe_allow_html=True)
    left, right_column = st.columns([3, 2], gap="large")
    with left:
        filters = latest_with(snapshots, index, "filters")
        if filters is not None:
            as_of = "" if filters is shot else f" (as of {filters.label(batches_per_epoch)})"
            st.markdown(f"**First-layer filters**{as_of}")
            st.markdown(snapshot_html.filters_html(filters.filters, panel.filter_kind), unsafe_allow_html=True)
        if shot.probe is not None and shot.probe_image is not None:
            st.markdown("**The drawing it was shown**")
            st.markdown(snapshot_html.probe_html(shot, panel.class_names, labels[index]), unsafe_allow_html=True)
    with right_column:
        confusion = latest_with(snapshots, index, "confusion")
        if confusion is not None:
            total = max(1, int(confusion.confusion.sum()))
            source = panel.confusion_source or "validation"
            st.markdown(f"**Confusion matrix, {confusion.label(batches_per_epoch)}** · "
                        f"{confusion.confusion_count:,} {source} images, "
                        f"{confusion.confusion.trace() / total:.1%} right")
            st.markdown(snapshot_html.confusion_html(confusion.confusion, panel.class_names), unsafe_allow_html=True)
        else:
            st.caption("The confusion matrix comes at the end of the first epoch.")
    changes_ui(events, shot.step)
    from pages.parts import layer_stats_view

    layer_stats_view.hints_ui(shot)
    layer_stats_view.layer_stats_ui(snapshots)


def changes_ui(events, step: int) -> None:
    """What was changed while the run trained, each marked as before or after the chosen snapshot."""
    if not events:
        return
    lines = [f"- {'✓' if event.step <= step else '·'} after batch {event.step:,}: {plain(event.text)}"
             for event in events]
    st.markdown("**Changed while it trained** (✓: before this snapshot)\n" + "\n".join(lines))


def models_replay_ui(names: Sequence[str]) -> None:
    """Models page: pick a saved model that kept its run's snapshots and replay them."""
    store = resources.model_store()
    with_replay = [name for name in names if store.replay_path(name).exists()]
    st.subheader("Watch how a model learned")
    if not with_replay:
        st.caption("Models trained from now on keep snapshots of their run: train one on the Train page "
                   "to replay how it learned.")
        return
    name = st.selectbox("Model", with_replay, key="models_replay_model",
                        help="Only models that kept snapshots of their run are listed.")
    try:
        replay = store.load_replay(name)
    except StoreError as exc:
        st.error(plain(exc))
        return
    if replay is None:
        st.info("This model has no replay.")
        return
    replay_ui(replay.panel, replay.snapshots, replay.batches_per_epoch, key=f"models_replay_{name}", title=None,
              events=replay.events)

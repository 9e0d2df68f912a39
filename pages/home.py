"""Home: what Digit Studio is, which model is in use, where to go, and whether training is running."""
from __future__ import annotations

import streamlit as st

from core.store import StoreError
from pages.common import active_jobs, active_model_name, model_store

POLL_SECONDS = 2.0
POLLING = "home_polling"
PAGES = [
    ("pages/draw.py", "Draw", ":material/draw:", "Draw a digit and watch the network read it, stroke by stroke."),
    ("pages/train.py", "Train", ":material/model_training:", "Pick an architecture and settings, then watch it learn live."),
    ("pages/mistakes.py", "Mistakes", ":material/search:", "The test digits a model gets wrong, and what it confuses."),
    ("pages/dataset.py", "Dataset", ":material/grid_view:", "Browse the 70,000 handwritten MNIST digits it learns from."),
    ("pages/models.py", "Models", ":material/inventory_2:", "Compare saved models, choose one, download or delete it."),
]
# Keyed by JobState values: Home does not import core.training (and TensorFlow) itself.
STATE_WORDS = {"queued": "waiting to start", "running": "training", "stopping": "stopping"}


def active_model_ui() -> None:
    """The model the Draw page uses: name, architecture, test accuracy."""
    name = active_model_name()
    st.subheader("Model in use")
    try:
        meta = model_store().read_meta(name)
    except StoreError as exc:
        st.warning(f"{exc} Choose another model on the Models page, or train one on the Train page.")
        return
    accuracy = (meta.get("test_metrics") or {}).get("accuracy")
    name_col, arch_col, acc_col = st.columns(3)
    name_col.metric("Name", name)
    arch_col.metric("Architecture", meta.get("arch", "?"))
    acc_col.metric("Test accuracy", f"{accuracy:.2%}" if isinstance(accuracy, (int, float)) else "not measured",
                   help="Share of the 10,000 MNIST test digits it reads correctly.")


def links_ui() -> None:
    st.subheader("Where to go")
    columns = st.columns(len(PAGES))
    for column, (path, title, icon, blurb) in zip(columns, PAGES):
        with column:
            st.page_link(path, label=f"**{title}**", icon=icon)
            st.caption(blurb)


def _job_line(progress) -> str:
    config = progress.config
    what = f"**{config.name or config.arch}** ({config.arch})"
    state = STATE_WORDS.get(progress.state.value, progress.state.value)
    if progress.state.value == "queued" and progress.queue_position:
        return f"{what}: {state}, number {progress.queue_position} in the queue"
    eta = f", about {progress.eta:.0f} s left" if progress.eta else ""
    return f"{what}: {state}, epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}{eta}"


def training_status_ui() -> None:
    """Active training runs with their progress; polls while any is running."""
    jobs = active_jobs()
    if not jobs:
        st.caption("No training run in progress.")
        if st.session_state.get(POLLING):
            st.session_state[POLLING] = False
            st.rerun()  # a full rerun re-creates the fragment without run_every: polling stops
        return
    for job in jobs:
        progress = job.progress()
        st.progress(progress.fraction_done, text=_job_line(progress))
    st.page_link("pages/train.py", label="Follow it on the Train page", icon=":material/model_training:")


def main() -> None:
    st.title(":material/draw: Digit Studio")
    st.markdown(
        "Digit Studio shows how a neural network learns to read handwritten digits from the MNIST dataset. "
        "Draw a digit and see what the network sees and how sure it is, train your own networks and "
        "watch them learn, then look at the mistakes they still make."
    )
    active_model_ui()
    links_ui()
    st.subheader("Training")
    polling = bool(active_jobs())
    st.session_state[POLLING] = polling
    st.fragment(run_every=POLL_SECONDS if polling else None)(training_status_ui)()


main()

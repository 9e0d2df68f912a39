"""Home: what Digit Studio is, how to join (address, QR code, your name), which model is in use,
where to go, and whether training is running."""
from __future__ import annotations

import streamlit as st

from app import PAGES
from core.store import StoreError
from pages.parts import lesson_view, resources, visitor
from pages.parts.formatting import duration, plain
from pages.parts.session import active_model_name

POLL_SECONDS = 2.0
LINKS_PER_ROW = 5
POLLING = "home_polling"
# Keyed by JobState values: Home does not import core.fit.training (and TensorFlow) itself.
STATE_WORDS = {"queued": "waiting to start", "running": "training", "stopping": "stopping"}


def active_model_ui() -> None:
    """The model the Draw page uses: name, architecture, test accuracy."""
    name = active_model_name()
    st.subheader("Model in use")
    try:
        meta = resources.model_store().read_meta(name)
    except StoreError as exc:
        st.warning(f"{plain(exc)} Choose another model on the Models page, or train one on the Train page.")
        return
    accuracy = meta.test_accuracy
    name_col, arch_col, acc_col = st.columns(3)
    name_col.metric("Name", name)
    arch_col.metric("Architecture", meta.arch)
    acc_col.metric("Test accuracy", f"{accuracy:.2%}" if accuracy is not None else "not measured",
                   help="Share of the 10,000 MNIST test digits it reads correctly.")


def links_ui() -> None:
    """A link to every page but this one, from app.py's page table, five to a row."""
    st.subheader("Where to go")
    pages = [page for page in PAGES if not page.default]
    for start in range(0, len(pages), LINKS_PER_ROW):
        for column, page in zip(st.columns(LINKS_PER_ROW), pages[start:start + LINKS_PER_ROW]):
            with column:
                st.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
                st.caption(page.blurb)


def join_ui() -> None:
    """How to join: the address and its QR code (large for the presenter), your name, presenter view."""
    url, source = visitor.join_url()
    presenting = visitor.presenting()
    st.subheader("Join")
    qr, words = st.columns([2, 3] if presenting else [1, 3], gap="large", vertical_alignment="center")
    with qr, st.container(key="join_qr"):
        if url:
            st.image(visitor.qr_png(url), width=520 if presenting else 200, caption="Scan to open Digit Studio")
    with words:
        if url:
            st.markdown("Open this address on your laptop or phone:")
            with st.container(key="join_address"):
                st.code(url, language=None, wrap_lines=True)
        st.caption(f"Address: {plain(source)}.")
        if not presenting:
            visitor.name_ui(key="home_name")
        visitor.presenter_toggle(key="home_presenter")
        if visitor.presenter_powers():
            room_lesson_ui()


def room_lesson_ui() -> None:
    """For the presenter: the room's link and QR code to the lesson step open in this tab."""
    at = lesson_view.current(report=False)     # the banner above has said what is wrong with it
    if at is None:
        st.caption("Open a lesson on the Lessons page to get the room's link to each of its steps.")
        return
    url = lesson_view.room_link(at.lesson, at.number)
    st.markdown(f"**{plain(at.lesson.title)}**, step {at.number}: {plain(at.step.title)}")
    left, right = st.columns([1, 2], vertical_alignment="center")
    left.image(visitor.qr_png(url), width=240, caption="Scan to open this step")
    right.code(url, language=None, wrap_lines=True)


def _job_line(progress, owner: str | None = None) -> str:
    config = progress.config
    what = f"**{config.name or config.arch}** ({config.arch}{', ' + plain(owner) if owner else ''})"
    state = STATE_WORDS.get(progress.state.value, progress.state.value)
    if progress.state.value == "queued" and progress.queue_position:
        return f"{what}: {state}, number {progress.queue_position} in the queue"
    eta = f", about {duration(progress.eta)} left" if progress.eta else ""
    return f"{what}: {state}, epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}{eta}"


def training_status_ui() -> None:
    """Active training runs with their progress; polls while any is running."""
    jobs = resources.active_jobs()
    if not jobs:
        st.caption("No training run in progress.")
        if st.session_state.get(POLLING):
            st.session_state[POLLING] = False
            st.rerun()  # a full rerun re-creates the fragment without run_every: polling stops
        return
    for job in jobs:
        progress = job.progress()
        st.progress(progress.fraction_done, text=_job_line(progress, getattr(job, "owner", None)))
    st.page_link("pages/train.py", label="Follow it on the Train page", icon=":material/model_training:")


def main() -> None:
    st.title(":material/draw: Digit Studio")
    if visitor.presenting():
        join_ui()                              # on the projector: the way in comes first
    st.markdown(
        "Digit Studio shows how a neural network learns to read handwritten digits from the MNIST dataset. "
        "Draw a digit and see what the network sees and how sure it is, train your own networks and "
        "watch them learn, then look at the mistakes they still make."
    )
    if not visitor.presenting():
        join_ui()
    active_model_ui()
    links_ui()
    st.subheader("Training")
    polling = bool(resources.active_jobs())
    st.session_state[POLLING] = polling
    st.fragment(run_every=POLL_SECONDS if polling else None)(training_status_ui)()


if __name__ == "__main__":
    main()

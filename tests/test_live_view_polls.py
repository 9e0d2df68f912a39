"""The Train page's live panel, polled every second: a poll between two snapshots re-encodes no picture and
sends the same HTML again (which Streamlit then sends as a reference); a new snapshot is drawn anew."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def live_panel_script():
    """The live panel of a fake run, its snapshot chosen by session_state['which'] (kept across runs)."""
    import numpy as np
    import streamlit as st

    from core.fit.config import TrainConfig
    from core.fit.progress import JobState, Progress
    from core.store.snapshots import Panel, Snapshot
    from pages.parts import live_view

    if "shots" not in st.session_state:
        rng = np.random.default_rng(0)
        st.session_state.panel = Panel(images=rng.integers(0, 255, (26, 28, 28), dtype=np.uint8),
                                       labels=np.arange(26) % 10, hard=np.arange(26) >= 20,
                                       class_names=tuple(str(d) for d in range(10)), dataset="mnist",
                                       filter_kind="conv")
        st.session_state.shots = [
            Snapshot(seq=seq, step=10 * seq, epoch=0, batch=10 * seq, seconds=float(seq),
                     probabilities=rng.dirichlet(np.ones(10), 26).astype(np.float16),
                     filters=rng.integers(0, 255, (8, 3, 3), dtype=np.uint8), probe_version=1,
                     probe_image=rng.integers(0, 255, (28, 28), dtype=np.uint8),
                     probe=rng.dirichlet(np.ones(10)).astype(np.float32))
            for seq in (1, 2)]

    class Run:
        """What the live panel asks of a run: its id and the drawing it was handed."""
        id = "job-1"

        def probe(self):
            return 1, np.zeros((28, 28), np.float32)

        def set_probe(self, image):
            return 1

    which = st.session_state.get("which", 0)
    progress = Progress(job_id="job-1", state=JobState.RUNNING, config=TrainConfig.for_preset("cnn-fast"),
                        panel=st.session_state.panel, snapshot=st.session_state.shots[which],
                        snapshot_count=which + 1)
    live_view.live_ui(Run(), progress)


def test_a_poll_between_snapshots_encodes_no_picture_and_sends_the_same_html(monkeypatch):
    from pages.parts import snapshot_html

    encoded = []
    real = snapshot_html.png_uri
    monkeypatch.setattr(snapshot_html, "png_uri", lambda image: encoded.append(image.shape) or real(image))

    at = AppTest.from_function(live_panel_script, default_timeout=30).run()
    assert not at.exception
    first = [m.value for m in at.markdown]
    assert any("test images and what the network says" in m for m in first)
    assert encoded, "the first poll draws the panel, the filters and the drawing"

    encoded.clear()
    at.run()  # the next poll, no new snapshot
    assert not at.exception
    assert encoded == [], "no picture is encoded again while the snapshot is the same"
    assert [m.value for m in at.markdown] == first, "the same HTML, so Streamlit can send it as a reference"

    at.session_state["which"] = 1
    at.run()  # a new snapshot: its filters and the drawing's answer are drawn anew, the fixed images are not
    assert not at.exception
    assert len(encoded) == 2 and (28, 28) in encoded
    assert [m.value for m in at.markdown] != first

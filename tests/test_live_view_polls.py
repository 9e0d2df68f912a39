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


def test_the_live_curves_show_every_validation_point_and_the_thinned_training_curve():
    """While a run trains its curves are SVG made straight from the run's figures: a polyline of at most
    MAX_CURVE_POINTS training points, and one circle per epoch's validation figure, at that epoch's end."""
    import re

    from pages.parts.snapshot_html import MAX_CURVE_POINTS

    def script():
        import numpy as np

        from core.fit.config import TrainConfig
        from core.fit.progress import JobState, Progress
        from pages.parts import live_view

        xs = np.linspace(0.01, 2.0, 400)
        live_view.light_curves_ui(Progress(
            job_id="job-1", state=JobState.RUNNING, config=TrainConfig.for_preset("cnn-fast", epochs=3),
            batch_curve=[(x, 1.0 / (1 + x), x / 3) for x in xs],
            epoch_log=[{"epoch": 1, "val_loss": 0.5, "val_accuracy": 0.9},
                       {"epoch": 2, "val_loss": 0.3, "val_accuracy": 0.95}]))

    at = AppTest.from_function(script, default_timeout=30).run()
    assert not at.exception
    loss, accuracy = (m.value for m in at.markdown)
    for svg, title in ((loss, "Loss"), (accuracy, "Accuracy")):
        assert f"aria-label='{title} curve'" in svg
        points = re.search(r"<polyline points='([^']*)'", svg).group(1).split()
        assert 2 < len(points) <= MAX_CURVE_POINTS + 1
        assert svg.count("<circle") == 2, "one point per epoch's validation figure"
    assert "95%" not in loss and "100%" in accuracy  # the accuracy axis is in percent, the loss's is not

"""Helpers for the page tests (AppTest): pictures to draw or upload, a stand-in model, and what the user reads.

Fixtures live in conftest.py; these are plain functions and classes the page tests import.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from markdown_it import MarkdownIt
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from core.store import DEFAULT_MODEL, SHIPPED_DIR

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds per script run: two shared cores; the first run imports TensorFlow
DRAW, UPLOAD = ":material/draw: Draw", ":material/upload: Upload an image"


def page_path(name: str) -> str:
    return str(ROOT / "pages" / f"{name}.py")


def open_page(name: str, query: dict | None = None, state: dict | None = None) -> AppTest:
    """Run pages/<name>.py once, with optional query parameters and session state."""
    at = AppTest.from_file(page_path(name), default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at.run()


# --- what the user reads ---------------------------------------------------------------------------

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_MARKDOWN = MarkdownIt("commonmark")


def seen(markdown: str) -> str:
    """Markdown source as the reader sees it: backslash escapes removed (formatting.plain adds them)."""
    return _ESCAPED.sub(r"\1", str(markdown))


def texts(elements) -> list[str]:
    return [seen(e.value) for e in elements]


MARKDOWN_KINDS = ("markdown", "caption", "success", "info", "warning", "error", "subheader", "title")


def markdown_sources(at: AppTest) -> list[str]:
    """The markdown source of every element that renders markdown (text, code and widgets excluded)."""
    return [str(e.value) for kind in MARKDOWN_KINDS for e in getattr(at, kind)]


def all_text(at: AppTest) -> str:
    return "\n".join(seen(s) for s in markdown_sources(at))


def metric(at: AppTest, label: str) -> str:
    """The value of the metric with this label; fails naming the labels there are."""
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return values[0]


def links_in(markdown: str) -> list[str]:
    """Every link a browser would render from `markdown`: CommonMark links and autolinks, and the
    bare URLs GitHub-flavoured markdown (Streamlit's) turns into links by itself."""
    html = _MARKDOWN.render(markdown)
    links = re.findall(r"<a href=\"([^\"]*)\"", html)
    return links + re.findall(r"(?<!\\)(?:https?://|www\.)\S+", markdown)


def predicted_digit(at: AppTest) -> int | None:
    """The digit in the Draw page's 'Predicted digit' block, or None when there is none."""
    for block in at.markdown:
        if "Predicted digit" in block.value:
            match = re.search(r">(\d)</div>", block.value)
            assert match, block.value
            return int(match.group(1))
    return None


# --- pictures --------------------------------------------------------------------------------------

def canvas_image(draw=None) -> np.ndarray:
    """A 280x280 RGBA canvas as st_canvas returns it: opaque black, with `draw(ImageDraw)` in white."""
    image = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    if draw:
        draw(ImageDraw.Draw(image))
    return np.asarray(image)


def vertical_bar(pen: ImageDraw.ImageDraw) -> None:
    pen.line([(140, 50), (140, 230)], fill=(255, 255, 255, 255), width=20)


def pen_dot(diameter: int):
    """One click of the pen in the middle of the canvas."""
    def draw(pen: ImageDraw.ImageDraw) -> None:
        half = diameter / 2
        pen.ellipse([140 - half, 140 - half, 140 + half, 140 + half], fill=(255, 255, 255, 255))
    return draw


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def blank_paper_png() -> bytes:
    """A photo of an empty sheet: off-white, a little uneven."""
    rng = np.random.default_rng(0)
    paper = np.clip(235 + rng.normal(0, 2, (600, 800)), 0, 255).astype(np.uint8)
    return png_bytes(np.repeat(paper[..., None], 3, axis=2))


def small_digit_photo_png() -> bytes:
    """A dark '1' 40 px tall in a 1200 x 900 photo of paper: a real digit, far too small in the frame."""
    paper = Image.new("RGB", (1200, 900), (240, 240, 240))
    ImageDraw.Draw(paper).line([(600, 430), (600, 470)], fill=(20, 20, 20), width=6)
    return png_bytes(np.asarray(paper))


def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A real, valid grey PNG of width x height white pixels: a few hundred kilobytes for 20000 x 20000."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = (b"\x00" + b"\xff" * width) * 100
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(rows) for _ in range(height // 100)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


# --- models ----------------------------------------------------------------------------------------

class FakeModel:
    """Stands in for a Keras model: fixed probabilities (or an error) for any input.

    `calls` counts predictions actually made, however the page calls the model: inside a
    tf.function (core.nets.predict traces one per model) the answer comes from a numpy_function,
    so every run of the traced graph counts, not only the trace.
    """

    def __init__(self, probabilities=None, error: Exception | None = None):
        self.probabilities = probabilities
        self.error = error
        self.calls = 0

    def _predict(self, x) -> np.ndarray:
        self.calls += 1
        assert tuple(x.shape) == (1, 28, 28, 1)
        return np.asarray([self.probabilities], dtype=np.float32)

    def __call__(self, x, training=False):
        assert not training
        if self.error:
            raise self.error
        import tensorflow as tf

        if isinstance(x, tf.Tensor) and not tf.executing_eagerly():
            out = tf.numpy_function(self._predict, [x], tf.float32)
            out.set_shape((1, len(self.probabilities)))
            return out
        return self._predict(np.asarray(x))


def add_copy_of_default(root: Path, name: str, **meta_changes) -> None:
    """A second model in the store at `root`: the shipped default under another name."""
    shutil.copy(SHIPPED_DIR / f"{DEFAULT_MODEL}.keras", root / f"{name}.keras")
    meta = json.loads((SHIPPED_DIR / f"{DEFAULT_MODEL}.json").read_text())
    (root / f"{name}.json").write_text(json.dumps({**meta, "name": name, **meta_changes}))


def use_registry(monkeypatch, registry) -> None:
    """The pages' job registry replaced by `registry`, with Keras' state kept as the server keeps it
    (pages.parts.resources.freeze_long_lived, which the real registry() runs once Keras is loaded): runs here
    train in a thread of this process, and Streamlit's per-run keras.backend.clear_session() under a model
    being built resets Keras' layer names halfway ("Name 'dense' is already the name of a layer")."""
    from pages.parts import resources

    resources.freeze_long_lived()
    monkeypatch.setattr(resources, "registry", lambda: registry)


def with_embeddings(at: AppTest) -> AppTest:
    """Wait for the Inside page's embedding threads (pages/parts/inside_models.py fills them after a render),
    then run the page again, as its progress bar does once they are done: it now shows the neighbours."""
    import threading

    from pages.parts.inside_models import EMBEDDING_THREAD

    for thread in threading.enumerate():
        if thread.name.startswith(EMBEDDING_THREAD):
            thread.join(TIMEOUT)
            assert not thread.is_alive(), "the embeddings were not made in time"
    return at.run()

"""Every bad input a user (or a hostile link or file) can give a page, and what the page says instead.

One row per input: how to give it, where the answer appears and what it says, what must
not appear. For every row: no exception, no prediction, and no link in any markdown.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import ImageDraw
from streamlit.testing.v1 import AppTest

import pages.parts.canvas

from page_support import (
    UPLOAD,
    add_copy_of_default,
    blank_paper_png,
    canvas_image,
    huge_png,
    links_in,
    markdown_sources,
    open_page,
    pen_dot,
    png_bytes,
    predicted_digit,
    seen,
    small_digit_photo_png,
    vertical_bar,
)

EVIL_LINK = "[x](http://evil.example)"
DRAWING_HINT = "Draw a digit in the black box"


def drawn(image) -> Callable[[pytest.MonkeyPatch, Path], AppTest]:
    def give(monkeypatch, store):
        monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", lambda **kw: image)
        return open_page("draw")
    return give


def uploaded(file_name: str, data: Callable[[], bytes]) -> Callable[[pytest.MonkeyPatch, Path], AppTest]:
    def give(monkeypatch, store):
        monkeypatch.setattr(pages.parts.canvas, "drawing_canvas", lambda **kw: None)
        at = open_page("draw")
        at.segmented_control(key="draw_source").set_value(UPLOAD).run()
        return at.file_uploader(key="draw_upload").upload(file_name, data(), "image/png").run()
    return give


def train_link(job: str) -> Callable[[pytest.MonkeyPatch, Path], AppTest]:
    return lambda monkeypatch, store: open_page("train", query={"job": job})


def store_file(name: str, **meta) -> Callable[[pytest.MonkeyPatch, Path], AppTest]:
    """A model folder holding a copy of the default as `name`, its metadata changed by `meta`."""
    def give(monkeypatch, store):
        if meta:
            add_copy_of_default(store, name, **meta)
        else:
            (store / f"{name}.json").write_text("{}")
        return open_page("models")
    return give


def small_seven(pen: ImageDraw.ImageDraw) -> None:
    pen.line([(130, 130), (144, 130), (134, 144)], fill=(255, 255, 255, 255), width=3)  # a whole 7, 14 px tall


@dataclass(frozen=True)
class BadInput:
    name: str
    give: Callable[[pytest.MonkeyPatch, Path], AppTest]
    where: str            # the AppTest elements the answer is in: "warning", "error", "info", "text", "dataframe"
    says: str             # what the user reads there
    never: tuple[str, ...] = ()


BAD_INPUTS = [
    BadInput("a tiny dot on the canvas", drawn(canvas_image(pen_dot(6))),
             "warning", "That mark is too small to be a digit. Draw the digit larger", (DRAWING_HINT,)),
    BadInput("one click of the default 20 px pen", drawn(canvas_image(pen_dot(20))),
             "warning", "too small to be a digit"),
    BadInput("a whole digit drawn 14 px tall", drawn(canvas_image(small_seven)),
             "warning", "too small to be a digit"),
    BadInput("an erased canvas", drawn(canvas_image()), "info", DRAWING_HINT),
    BadInput("a 20000 x 20000 PNG", uploaded("huge.png", huge_png),
             "error", "The image is 20000x20000 pixels; it must be at most 4096 pixels per side.",
             ("not an image we can read",)),
    BadInput("a photo of blank paper", uploaded("paper.png", blank_paper_png),
             "warning", "The picture looks empty: no digit found. Upload a photo of one dark digit on light paper",
             (DRAWING_HINT,)),
    BadInput("a digit far too small in a big photo", uploaded("far.png", small_digit_photo_png),
             "warning", "Crop the photo close around the digit", (DRAWING_HINT,)),
    BadInput("a file that is not an image", uploaded("digit.png", lambda: b"this is not a picture"),
             "error", "This file is not an image we can read (use PNG or JPEG)."),
    BadInput("a file over 5 MB", uploaded("big.png", lambda: png_bytes(canvas_image(vertical_bar)) + bytes(5 << 20)),
             "error", "the limit is 5.0 MB"),
    BadInput("a crafted ?job= link", train_link(EVIL_LINK),
             "text", f"Run asked for: {EVIL_LINK}"),
    BadInput("a ?job= with HTML in it", train_link("<img src=x onerror=alert(1)>"),
             "text", "Run asked for: <img src=x onerror=alert(1)>"),
    BadInput("a bare URL as ?job=", train_link("www.evil.example/run"),
             "text", "Run asked for: www.evil.example/run"),
    BadInput("saved metadata whose architecture is a link", store_file("sneaky", arch=EVIL_LINK),
             "markdown", f"**sneaky** — {EVIL_LINK}"),
    BadInput("a model file named like a link", store_file("[x](javascript:alert(1))"),
             "error", "[x](javascript:alert(1))"),
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda bad: bad.name)
def test_bad_input_is_refused_with_a_clear_message(bad, monkeypatch, temp_store):
    at = bad.give(monkeypatch, temp_store)

    assert not at.exception, [e.value for e in at.exception]
    shown = [str(e.value) if bad.where == "text" else seen(e.value) for e in getattr(at, bad.where)]
    assert any(bad.says in text for text in shown), shown
    everything = "\n".join(seen(source) for source in markdown_sources(at))
    for phrase in bad.never:
        assert phrase not in everything
    assert predicted_digit(at) is None
    for source in markdown_sources(at):
        assert links_in(source) == [], f"a link from text the page was given: {source!r}"


def test_the_link_check_sees_links():
    """links_in is what makes the last assert above worth something."""
    assert links_in(f"Run **{EVIL_LINK}** is unknown")[0] == "http://evil.example"
    assert len(links_in("see http://evil.example or www.evil.example")) == 2
    assert links_in("<http://evil.example>")[0] == "http://evil.example"
    from pages.parts.formatting import plain

    assert links_in(f"Run **{plain(EVIL_LINK)}** is unknown") == []
    assert links_in(plain("see http://evil.example or www.evil.example")) == []
    assert seen(plain(EVIL_LINK)) == EVIL_LINK
    assert json.loads(seen(plain(json.dumps({"a": [1, "b"]})))) == {"a": [1, "b"]}

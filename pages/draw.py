"""Draw: a digit on the canvas (or an uploaded picture) -> what the network sees and what it says.

The canvas and the results live in one fragment, so a stroke reruns only that
fragment: the model is cached, prediction calls it directly, and the page
answers within a few hundred milliseconds of the stroke.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.data.preprocess import BlankImageError, ImageError, Preprocessed, TooSmallError, load_image_bytes
from core.nets.predict import Prediction, predict_drawing
from core.store import StoreError
from pages.parts import canvas, keep_drawing, live_draw, probability_bars, resources, session, visitor
from pages.parts.formatting import percent, plain
from pages.parts.images import fit_pil, to_pil

LOW_CONFIDENCE = 0.60
ENLARGE = 7  # 28 px -> 196 px, nearest neighbour: every input pixel stays visible
ENLARGE_PRESENTING = 11  # 308 px in presenter view
MAX_UPLOAD_MB = 5
DRAW, UPLOAD = ":material/draw: Draw", ":material/upload: Upload an image"
HINT = ("Draw a digit in the black box: one digit, as large as the box allows. "
        "The network's answer appears here as soon as you lift the pen.")
UPLOAD_HINT = "Upload a picture of one digit to see what the network makes of it."
# What to do next, by what went wrong and where the picture came from.
TOO_SMALL_HINTS = {
    DRAW: "That mark is too small to be a digit. Draw the digit larger, so it fills most of the black box.",
    UPLOAD: "The digit is too small in this picture to read. Crop the photo close around the digit, "
            "so it fills most of the picture.",
}
BLANK_UPLOAD_HINT = ("The picture looks empty: no digit found. Upload a photo of one dark digit on light paper, "
                     "or of one light digit on a dark background, filling most of the picture.")
DIGITS = tuple(str(d) for d in range(10))
STEP_CAPTIONS = {
    "ink": "1. Ink found",
    "cropped": "2. Cropped to the ink",
    "scaled": "3. Scaled to fit 20 x 20",
    "centred": "4. Centred in 28 x 28",
}

CANVAS_GENERATION = "canvas_generation"


def clear_canvas() -> None:
    """A new widget key mounts a fresh, empty canvas (and forgets the old drawing)."""
    st.session_state[CANVAS_GENERATION] = st.session_state.get(CANVAS_GENERATION, 0) + 1


def prediction_ui(prediction: Prediction, large: bool = False) -> None:
    """The answer, large enough for the back of a classroom (larger still in presenter view), and how sure
    the network is."""
    words, digit = ("2rem", "min(14rem, 26vh)") if large else ("1.3rem", "8rem")
    st.markdown(
        f"<div style='line-height:1.1'>"
        f"<div style='font-size:{words}'>Predicted digit</div>"
        f"<div style='font-size:{digit};font-weight:700;line-height:1'>{prediction.digit}</div>"
        f"<div style='font-size:{words}'>{percent(prediction.confidence, 1)} confident</div></div>",
        unsafe_allow_html=True,
    )
    if prediction.confidence < LOW_CONFIDENCE:
        st.warning(f"Not sure — only {percent(prediction.confidence, 0)} confident: this may not look "
                   "like a digit to the network. Try drawing it larger and clearer.")


def network_input_ui(prepared: Preprocessed, large: bool = False) -> None:
    """The 28 x 28 picture the network was given, enlarged so each pixel shows."""
    st.image(to_pil(prepared.image, ENLARGE_PRESENTING if large else ENLARGE), caption="What the network sees: 28 x 28 pixels")


def steps_ui(prepared: Preprocessed) -> None:
    """How the drawing became that picture, the way MNIST's digits were made."""
    st.markdown("**From drawing to network input**")
    columns = st.columns(len(STEP_CAPTIONS))
    for column, (name, caption) in zip(columns, STEP_CAPTIONS.items()):
        step = prepared.steps.get(name)
        if step is not None:
            column.image(fit_pil(step, 112), caption=caption)


def results_ui(model, image: np.ndarray | None, source: str = DRAW) -> Preprocessed | None:
    """Predict `image` with `model` and show the answer; nothing to read -> a hint for `source`.
    Returns the network input."""
    if image is None:
        st.info(HINT)
        return None
    try:
        prediction, prepared = predict_drawing(model, image)
    except TooSmallError as exc:  # a dot would be scaled up into a confident "0"
        st.warning(TOO_SMALL_HINTS[source])
        (height, width), (side_h, side_w) = exc.mark, exc.picture
        st.caption(f"The ink spans {width} x {height} pixels of a {side_w} x {side_h} picture.")
        return None
    except BlankImageError:
        if source == UPLOAD:
            st.warning(BLANK_UPLOAD_HINT)
        else:
            st.info(HINT)
        return None
    except ImageError as exc:
        st.error(f"{plain(exc)} Try another picture, or draw the digit instead.")
        return None
    except Exception as exc:  # a model that loads but cannot take a 28x28 image
        st.error(f"This model could not make a prediction ({type(exc).__name__}: {plain(exc)}). "
                 "Pick another model above.")
        return None
    large = visitor.presenting()
    answer, picture = st.columns([1, 1])
    with answer:
        prediction_ui(prediction, large)
    with picture:
        network_input_ui(prepared, large)
    look = probability_bars.PRESENTING if large else probability_bars.DRAW
    st.markdown(probability_bars.probability_bars_html(prediction.probabilities, DIGITS, look=look,
                                                       screen_relative=large), unsafe_allow_html=True)
    keep_drawing.keep_ui(prediction, prepared, image, clear=clear_canvas if source == DRAW else None)
    return prepared


def uploaded_image() -> tuple[np.ndarray | None, bool]:
    """(the uploaded picture as RGBA or None, whether a file was given); an unusable file shows an error."""
    upload = st.file_uploader(
        f"A photo or scan of one digit (PNG or JPEG, up to {MAX_UPLOAD_MB} MB)",
        type=["png", "jpg", "jpeg"], max_upload_size=MAX_UPLOAD_MB, key="draw_upload",
    )
    if upload is None:
        return None, False
    try:
        return load_image_bytes(upload.getvalue(), max_bytes=MAX_UPLOAD_MB * 2**20), True
    except ImageError as exc:
        st.error(f"{plain(exc)} Upload a PNG or JPEG of a single digit, up to {MAX_UPLOAD_MB} MB.")
        return None, True


@st.fragment
def drawing_ui(model_name: str | None, source: str) -> None:
    """Input on the left (canvas or upload), the network's answer on the right."""
    left, right = st.columns([5, 7], gap="large")
    uploaded = False
    with left:
        if source == DRAW:
            # the canvas with Clear, Undo and the pen width; sized for a phone on a phone
            image = canvas.canvas_ui(key=f"draw_canvas_{st.session_state.get(CANVAS_GENERATION, 0)}",
                                     clear=clear_canvas)
            st.session_state[session.DRAWING_KEY] = image  # the Inside the network page reads the latest drawing
        else:
            image, uploaded = uploaded_image()
        show_steps = st.toggle("Show the preprocessing steps", key="draw_show_steps")
    with right:
        if live_draw.answer_ui(image, source):  # "the run in progress" chosen: its latest answer instead
            return
        if model_name is None:
            return
        if image is None:  # nothing to read yet: a hint, and no model needed (the first render waits for none)
            if source == DRAW:
                st.info(HINT)
            elif not uploaded:
                st.info(UPLOAD_HINT)
            return
        try:
            model = resources.load_model(model_name)
        except StoreError as exc:
            session.show_store_error(exc)
            return
        prepared = results_ui(model, image, source)
    if show_steps and prepared is not None:
        with left:
            steps_ui(prepared)


def main() -> None:
    st.title(":material/draw: Draw a digit")
    picker, choice = st.columns([5, 7], gap="large", vertical_alignment="bottom")
    with picker:
        model_name = session.model_picker("Model", digits_only=True)  # a drawing is a digit
        live_draw.choice_ui()  # or the run in progress, while one trains
    with choice:
        source = st.segmented_control("Input", [DRAW, UPLOAD], default=DRAW, required=True,
                                      key="draw_source", label_visibility="collapsed")
    drawing_ui(model_name, source)
    if model_name is not None:
        resources.warm_model(model_name)  # now that the page is drawn: ready for the first stroke


if __name__ == "__main__":
    main()

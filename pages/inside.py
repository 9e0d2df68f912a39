"""Inside the network: what a model computes for one input, and why it answers what it does.

The input is the drawing from the Draw page, a test image (the Mistakes page hands one over
with "Look inside"), or an uploaded picture. The answer, its saliency and the what-if sliders
live in one fragment, so a slider reruns only that part, for one model or two side by side.
The training-set embeddings behind the neighbours and the map are computed once per model version.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from core import explain
from core.data import datasets
from core.store import StoreError
from pages.parts import inside_views as views
from pages.parts import resources, session
from pages.parts.formatting import percent, plain
from pages.parts.inside_input import Subject, input_ui

COMPARE_KEY, WHICH_KEY, TARGET_KEY = "inside_compare", "inside_which", "inside_target"
NO_SECOND = "none"
NEIGHBOURS = 8
# What-if sliders: (key, label, minimum, maximum, step, neutral value)
SLIDERS = (
    ("inside_dx", "Shift right (pixels)", -10, 10, 1, 0),
    ("inside_dy", "Shift down (pixels)", -10, 10, 1, 0),
    ("inside_degrees", "Rotate (degrees)", -60, 60, 5, 0),
    ("inside_scale", "Scale", 0.5, 1.6, 0.05, 1.0),
    ("inside_thickness", "Thicken or thin (pixels)", -2, 3, 1, 0),
)
VARIANT_KEY = "inside_variant"


@dataclass(frozen=True)
class Opened:
    """A stored model ready to explain, with its dataset's spec."""

    name: str
    model: object
    arch: str
    spec: datasets.DatasetSpec
    version: float


# --- loaders ----------------------------------------------------------------------------------------

@dataclass(eq=False)
class EmbeddingSlot:
    """One model version's training-set embeddings and test-set map, filled once and shared by sessions."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    train: np.ndarray | None = None
    test_map: explain.EmbeddingMap | None = None


@st.cache_resource(show_spinner=False, max_entries=3)
def _embedding_slot(name: str, version: float, dataset: str) -> EmbeddingSlot:
    return EmbeddingSlot()


def embeddings(opened: Opened) -> EmbeddingSlot:
    """The slot of `opened`, filled on first use with a progress bar saying it happens once per model."""
    slot = _embedding_slot(opened.name, opened.version, opened.spec.name)
    if slot.train is not None:
        return slot
    if not slot.lock.acquire(blocking=False):  # another session is filling it
        with st.spinner("Another visitor's page is reading the training images through this model; one moment..."):
            slot.lock.acquire()
    try:
        if slot.train is None:
            data = resources.dataset(opened.spec.name)
            total = len(data.x_train) + len(data.x_test)
            text = (f"Passing all {total:,} training and test images through {opened.name}: "
                    "this happens once per model, then it is instant.")
            bar = st.progress(0.0, text=text)
            train = explain.embed(opened.model, data.x_train,
                                  progress=lambda done, _: bar.progress(done / total, text=text))
            test = explain.embed(opened.model, data.x_test,
                                 progress=lambda done, _: bar.progress((len(train) + done) / total, text=text))
            slot.test_map = explain.embedding_map(test)
            slot.train = train
            bar.empty()
    finally:
        slot.lock.release()
    return slot


def open_model(name: str) -> Opened | None:
    """Load `name` with its dataset spec; a problem becomes a message, and None."""
    try:
        meta = resources.model_store().read_meta(name)
        spec = datasets.get(meta.dataset)
        model = resources.load_model(name)
        version = resources.model_store().paths(name)[0].stat().st_mtime
    except StoreError as exc:
        session.show_store_error(exc)
        return None
    except (datasets.DatasetError, OSError) as exc:
        st.error(f"Model **{plain(name)}** cannot be used here: {plain(exc)}")
        return None
    return Opened(name, model, meta.arch, spec, version)


# --- choosing the models and the input ---------------------------------------------------------------

def second_model_ui(first: Opened) -> Opened | None:
    """An optional second model of the same dataset, to compare side by side."""
    others = [info.name for info in session.saved_models().usable
              if info.name != first.name and info.meta.dataset == first.spec.name]
    if st.session_state.get(COMPARE_KEY) not in others:  # e.g. it became the first model, or another dataset's
        st.session_state[COMPARE_KEY] = NO_SECOND
    choice = st.selectbox("Compare with", [NO_SECOND, *others], key=COMPARE_KEY,
                          format_func=lambda name: "no second model" if name == NO_SECOND else name,
                          help="Both models get the same input and the same what-if changes.")
    return None if choice == NO_SECOND else open_model(choice)


# --- the answer, why, and what if (one fragment) -----------------------------------------------------

def _reset_what_if() -> None:
    for key, *_, neutral in SLIDERS:
        st.session_state[key] = neutral
    st.session_state[VARIANT_KEY] = explain.FULL


def what_if_sliders_ui() -> dict:
    """The what-if sliders in one row, and a Reset; returns their values."""
    values = {}
    columns = st.columns(len(SLIDERS) + 1, vertical_alignment="bottom")
    for column, (key, label, low, high, step, neutral) in zip(columns, SLIDERS):
        st.session_state.setdefault(key, neutral)  # set here, not as the widget's value: Reset sets it too
        values[key] = column.slider(label, low, high, step=step, key=key)
    columns[-1].button("Reset", icon=":material/restart_alt:", on_click=_reset_what_if, key="inside_reset")
    return values


def variant_ui(variants: list[str]) -> str:
    """For a drawing or photo: which preprocessing to use (all of it, or all but one step)."""
    if len(variants) < 2:
        return explain.FULL
    return st.selectbox("Preprocessing", variants, key=VARIANT_KEY,
                        help="Skip one step of the preparation that turns a drawing into a 28 x 28 MNIST-style input.")


def describe_change(values: dict) -> str:
    """The what-if changes in words, '' when there are none."""
    parts = []
    if values["inside_dx"] or values["inside_dy"]:
        parts.append(f"moved {values['inside_dx']:+d} right, {values['inside_dy']:+d} down")
    if values["inside_degrees"]:
        parts.append(f"turned {values['inside_degrees']:+d}°")
    if values["inside_scale"] != 1.0:
        parts.append(f"scaled x{values['inside_scale']:.2f}")
    if values["inside_thickness"]:
        parts.append(("thickened " if values["inside_thickness"] > 0 else "thinned ")
                     + f"by {abs(values['inside_thickness'])} px")
    if values[VARIANT_KEY] != explain.FULL:
        parts.append(values[VARIANT_KEY])
    return ", ".join(parts)


def saliency_words(result: explain.Saliency, class_name: str) -> str:
    how = (f"Grad-CAM at {result.layer_name}" if result.method == "grad-cam"
           else result.method.replace("-", " "))
    return f"Evidence for {class_name} ({how})"


def model_answer_ui(opened: Opened, picture: np.ndarray, target: int | None, label: int | None) -> None:
    """One model's answer to `picture`: the saliency overlay, the class in large type, the probabilities."""
    names = list(opened.spec.class_names)
    st.markdown(f"### {plain(opened.name)}")
    st.caption(f"{plain(opened.arch)}, trained on {opened.spec.title}")
    try:
        answer = explain.answer(opened.model, picture)
        why = explain.saliency(opened.model, answer.image, target_class=target)
    except explain.ExplainError as exc:
        st.error(f"{plain(exc)} Pick another model.")
        return
    heat, verdict = st.columns([1, 1])
    heat.image(explain.overlay(answer.image, why.heatmap, scale=views.INPUT_SCALE), output_format="PNG",
               caption=saliency_words(why, names[why.target_class]))
    verdict.markdown(views.answer_html(names[answer.predicted], answer.confidence,
                                       None if label is None else names[label]), unsafe_allow_html=True)
    st.markdown(views.probability_bars_html(answer.probabilities, names, answer.predicted), unsafe_allow_html=True)


@st.fragment
def answer_ui(subject: Subject, models: list[Opened], variants: dict[str, np.ndarray]) -> None:
    """The models' answers to the input as the what-if sliders change it; a slider reruns only this."""
    names = list(models[0].spec.class_names)
    values = what_if_sliders_ui()
    columns = st.columns([2] + [3] * len(models), gap="large")
    with columns[0]:
        st.markdown("### The input")
        slot = st.empty()  # the picture goes above the pickers, once they say what it is
        target = st.selectbox("Show the evidence for", [None, *range(len(names))], key=TARGET_KEY,
                              format_func=lambda c: "the predicted class" if c is None else names[c])
        values[VARIANT_KEY] = variant_ui(list(variants))
        change = describe_change(values)
        if change:
            st.caption(f"Changed: {change}. The sections below show {subject.title} as it was given.")
    base = variants.get(values[VARIANT_KEY], subject.image)
    picture = explain.transform(base, values["inside_dx"], values["inside_dy"], values["inside_degrees"],
                                values["inside_scale"], values["inside_thickness"])
    slot.image(views.input_picture(picture), output_format="PNG",
               caption=f"{subject.title}{', changed' if change else ''}: what the network gets, 28 x 28")
    for column, opened in zip(columns[1:], models):
        with column:
            model_answer_ui(opened, picture, target, subject.label)


def preprocessing_ui(subject: Subject, models: list[Opened], variants: dict[str, np.ndarray]) -> None:
    """The same drawing with one preprocessing step skipped, and each model's answer to it."""
    st.subheader("Why preprocessing matters")
    st.caption("The same picture with one step of the preparation left out: networks trained on MNIST "
               "expect a centred, 20 x 20, smooth, white-on-black digit.")
    names = list(models[0].spec.class_names)
    for column, (variant, image) in zip(st.columns(len(variants)), variants.items()):
        with column:
            picture = views.enlarge(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), 5)
            st.image(np.pad(picture, 2, constant_values=150), caption=variant, output_format="PNG")  # framed: one is white
            for opened in models:
                result = explain.answer(opened.model, image)
                st.markdown(f"**{plain(opened.name)}**: {plain(names[result.predicted])} "
                            f"({percent(result.confidence)})")


# --- inside one model --------------------------------------------------------------------------------

def layers_ui(opened: Opened, subject: Subject) -> None:
    """Every layer's output, in order, folded layers collapsed where they sit."""
    st.subheader("Layer by layer")
    st.caption(f"What each layer of {opened.name} computes for {subject.title}, from the first layer to the answer.")
    layers = explain.activations(opened.model, subject.image)
    names = list(opened.spec.class_names)
    folded: list[explain.LayerActivation] = []
    for position, layer in enumerate(layers):
        if layer.folded:
            folded.append(layer)
            continue
        views.folded_layers_ui(folded)
        folded = []
        views.layer_row_ui(layer, names if position == len(layers) - 1 else None)
    views.folded_layers_ui(folded)


def first_layer_ui(opened: Opened) -> None:
    st.subheader("What the first layer learned")
    views.first_layer_ui(explain.first_layer_weights(opened.model))
    templates = explain.class_templates(opened.model)
    if templates is not None:
        st.markdown("**The class templates.** A linear model scores each class by laying the input over that "
                    "class's template: ink on red adds to the score, ink on blue takes away.")
        views.class_templates_ui(templates, list(opened.spec.class_names))


def neighbours_and_map_ui(opened: Opened, subject: Subject) -> None:
    st.subheader("The closest training images")
    slot = embeddings(opened)
    query = explain.embed(opened.model, subject.image[None])[0]
    near = explain.nearest(slot.train, query, k=NEIGHBOURS)
    data = resources.dataset(opened.spec.name)
    names = list(opened.spec.class_names)
    layer = explain.embedding_layer_name(opened.model)
    st.caption(f"The {NEIGHBOURS} training images most alike {subject.title} as {opened.name} sees them: compared by "
               f"what the network has made of each just before its last layer (the output of {layer}). "
               "In brackets, how far each is (0 = the same).")
    views.neighbours_ui(data.x_train[near.indices], [names[data.y_train[i]] for i in near.indices], near.distances)

    st.subheader("A map of the test set")
    st.caption(f"Each dot is one of the {len(data.x_test):,} test images, placed by how {opened.name} sees it "
               f"(the output of {layer}, squeezed to two directions by PCA). The star is {subject.title}.")
    chart = views.embedding_map_chart(slot.test_map.coordinates, data.y_test, names,
                                      slot.test_map.project(query), subject.title)
    st.altair_chart(chart, width="stretch", key="inside_map")


def inside_ui(models: list[Opened], subject: Subject) -> None:
    """The sections that look inside one model (the first, or the one picked when comparing)."""
    opened = models[0]
    if len(models) > 1:
        by_name = {m.name: m for m in models}
        if st.session_state.get(WHICH_KEY) not in by_name:
            st.session_state[WHICH_KEY] = models[0].name
        opened = by_name[st.segmented_control("Look inside", list(by_name), key=WHICH_KEY, required=True)]
    layers_ui(opened, subject)
    first_layer_ui(opened)
    neighbours_and_map_ui(opened, subject)


def main() -> None:
    views.page_style_ui()
    st.title(":material/neurology: Inside the network")
    st.caption("What a network computes, layer by layer, for one input, and why it answers what it does.")
    first_column, second_column = st.columns(2, gap="large")
    with first_column:
        name = session.model_picker("Model", key="inside_model")
        first = open_model(name) if name else None
    if first is None:
        return
    with second_column:
        second = second_model_ui(first)
    models = [first] if second is None else [first, second]
    try:
        subject = input_ui(first.spec)
        if subject is None:
            return
        variants = {explain.FULL: subject.image}
        if subject.raw is not None and first.spec.is_digits:
            variants = explain.preprocessing_ablations(subject.raw)
        st.subheader("What it answers, and why")
        answer_ui(subject, models, variants)
        if len(variants) > 1:
            preprocessing_ui(subject, models, variants)
        inside_ui(models, subject)
    except datasets.DatasetError as exc:
        st.error(plain(exc))
    except explain.ExplainError as exc:
        st.error(f"This model cannot be explained: {plain(exc)} Pick another model.")


if __name__ == "__main__":
    main()

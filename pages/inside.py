"""Inside the network: what a model computes for one input, and why it answers what it does.

The input is the drawing from the Draw page, a test image (the Mistakes page hands one over
with "Look inside"), or an uploaded picture. The answer, its saliency and the what-if sliders
live in one fragment, so a slider reruns only that part, for one model or two side by side.
On a fresh server the model itself is loaded the same way: the page renders first, with the input, and the
model's parts follow once TensorFlow is imported. The training-set embeddings behind the neighbours and the map are
computed once per model version, in a thread of their own once the page has rendered
(pages/parts/inside_models.py); the what-if controls are pages/parts/what_if.py.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import explain
from core.data import datasets
from pages.parts import inside_views as views
from pages.parts import resources, session
from pages.parts.formatting import percent, plain
from pages.parts.inside_input import Subject, input_ui
from pages.parts.inside_models import Opened, embeddings, fill_embeddings, loading_ui, open_model, waiting_for
from pages.parts.inside_more import more_ui
from pages.parts.what_if import VARIANT_KEY, describe_change, variant_ui, what_if_sliders_ui

COMPARE_KEY, WHICH_KEY, TARGET_KEY = "inside_compare", "inside_which", "inside_target"
NO_SECOND = "none"
NEIGHBOURS = 8


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
    if slot is None:  # still being filled (a progress bar says so), or failed (a message says why)
        return
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


def inside_ui(models: list[Opened], subject: Subject) -> Opened:
    """The sections that look inside one model (the first, or the one picked when comparing); returns that model."""
    opened = models[0]
    if len(models) > 1:
        by_name = {m.name: m for m in models}
        if st.session_state.get(WHICH_KEY) not in by_name:
            st.session_state[WHICH_KEY] = models[0].name
        opened = by_name[st.segmented_control("Look inside", list(by_name), key=WHICH_KEY, required=True)]
    layers_ui(opened, subject)
    first_layer_ui(opened)
    neighbours_and_map_ui(opened, subject)
    return opened


def while_loading_ui(name: str, spec: datasets.DatasetSpec) -> None:
    """A fresh server: the input can be chosen while `name` loads; the model's parts follow once TensorFlow is in."""
    try:
        subject = input_ui(spec)
    except datasets.DatasetError as exc:
        st.error(plain(exc))
        return
    if subject is not None:
        st.image(views.input_picture(subject.image), output_format="PNG",
                 caption=f"{subject.title}: what the network gets, 28 x 28")
    loading_ui(name)


def main() -> None:
    views.page_style_ui()
    st.title(":material/neurology: Inside the network")
    st.caption("What a network computes, layer by layer, for one input, and why it answers what it does.")
    first_column, second_column = st.columns(2, gap="large")
    with first_column:
        name = session.model_picker("Model", key="inside_model")
    spec = waiting_for(name) if name else None
    if spec is not None:
        while_loading_ui(name, spec)
        return
    with first_column:
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
        opened = inside_ui(models, subject)
        more_ui(models, opened, subject)
        fill_embeddings(opened)  # after the page rendered: the neighbours and the map fill in when done
    except datasets.DatasetError as exc:
        st.error(plain(exc))
    except explain.ExplainError as exc:
        st.error(f"This model cannot be explained: {plain(exc)} Pick another model.")


if __name__ == "__main__":
    main()

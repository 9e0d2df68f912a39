"""Inside the network: what it imagines. The input each model scores highest for each class, grown by gradient
ascent from faint noise or from the input; and, for a layer picked for each model, what each of its channels (or
units) responds to most, next to the training images that excite it most. Two models side by side when comparing."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import explain
from pages.parts import resources
from pages.parts.formatting import percent, plain
from pages.parts.images import enlarge
from pages.parts.inside_input import Subject
from pages.parts.inside_models import Opened
from pages.parts.inside_views import tile_grid

START_KEY, LAYER_KEY, FIRST_UNIT_KEY = "inside_imagine_start", "inside_units_layer", "inside_units_first"
NOISE, INPUT = "faint noise", "the input above"
UNITS_SHOWN, TOP_IMAGES = 12, 4
RANKED = 10_000  # training images ranked for each unit: the first 10,000 (a few seconds, once per layer)


@st.cache_data(show_spinner=False, max_entries=16)
def _classes(_model, name: str, version: float, start: np.ndarray | None) -> explain.Imagined:
    return explain.imagine_classes(_model, start=start)


@st.cache_data(show_spinner=False, max_entries=16)
def _units(_model, name: str, version: float, layer: str, units: tuple[int, ...]) -> explain.Imagined:
    return explain.imagine_units(_model, layer, units)


@st.cache_data(show_spinner=False, max_entries=8)
def _unit_means(_model, name: str, version: float, dataset: str, layer: str) -> np.ndarray:
    return explain.unit_means(_model, layer, resources.dataset(dataset).x_train[:RANKED])


def class_images_ui(models: list[Opened], subject: Subject) -> None:
    """Ten grown inputs per model, each captioned with its class and how sure the model is of it."""
    st.markdown("#### What each class looks like to the network")
    if st.session_state.get(START_KEY) not in (NOISE, INPUT):
        st.session_state[START_KEY] = NOISE
    start_from = st.segmented_control("Start from", [NOISE, INPUT], key=START_KEY, required=True,
                                      format_func=lambda o: o if o == NOISE else subject.title,
                                      help="From faint noise: what the network thinks each class is. From the "
                                           "input: the same input made more of each class.")
    start = subject.image if start_from == INPUT else None
    names = list(models[0].spec.class_names)
    description = ""
    for column, opened in zip(st.columns(len(models), gap="large"), models):
        with column:
            with st.spinner(f"Growing ten pictures for {opened.name}..."):
                result = _classes(opened.model, opened.name, opened.version, start)
            st.markdown(f"**{plain(opened.name)}**")
            tiles = [enlarge(np.round(image * 255).astype(np.uint8), 3) for image in result.images]
            scores = result.probabilities[np.arange(len(result.targets)), list(result.targets)]
            st.image(tiles, caption=[f"{names[k]}: {percent(p)}" for k, p in zip(result.targets, scores)],
                     output_format="PNG")
            description = result.description
    st.caption(f"Each picture was grown to make the network answer its class: {description}. Under each, how sure "
               "the network is of that class for it. A network does not store digits; these are what its answer "
               "responds to most.")


def _stretched(image: np.ndarray) -> np.ndarray:
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return np.round((image - low) / (high - low) * 255).astype(np.uint8)


def _layer_words(layer: explain.LayerUnits) -> str:
    what = "channels" if layer.spatial else "units"
    return f"{layer.name} ({layer.kind}, {layer.units} {what})"


def unit_keys(position: int) -> tuple[str, str]:
    """The keys of the layer picker and the first-unit box of the model at `position` (0: the first model)."""
    suffix = "" if position == 0 else f"_{position + 1}"
    return LAYER_KEY + suffix, FIRST_UNIT_KEY + suffix


def model_units_ui(opened: Opened, position: int, per_row: int) -> str | None:
    """One model's layer picker, then a grown picture per channel or unit of that layer, next to the training
    images that excite it most, `per_row` to a row; returns how the pictures were grown (None: nothing shown)."""
    st.markdown(f"**{plain(opened.name)}**")
    layers = explain.unit_layers(opened.model)
    if not layers:
        st.info(f"{opened.name} has no hidden layer to look into: its input goes straight to the answer.")
        return None
    if not any(layer.spatial for layer in layers):
        st.info(f"{opened.name} has no convolutions, so channels do not apply: here are the units of its "
                "dense layers instead.")
    layer_key, first_key = unit_keys(position)
    by_name = {layer.name: layer for layer in layers}
    if st.session_state.get(layer_key) not in by_name:  # e.g. another model was picked in this place
        st.session_state[layer_key] = layers[0].name
    pick, first_column = st.columns([3, 2], vertical_alignment="bottom")
    name = pick.selectbox("Layer", list(by_name), key=layer_key, format_func=lambda n: _layer_words(by_name[n]))
    layer = by_name[name]
    if not 0 <= int(st.session_state.get(first_key, 0)) < layer.units:
        st.session_state[first_key] = 0
    first = first_column.number_input(f"First {'channel' if layer.spatial else 'unit'} shown", 0, layer.units - 1,
                                      step=UNITS_SHOWN, key=first_key)
    units = tuple(range(int(first), min(layer.units, int(first) + UNITS_SHOWN)))
    with st.spinner(f"Growing {len(units)} pictures and ranking {RANKED:,} training images for {layer.name}..."):
        grown = _units(opened.model, opened.name, opened.version, layer.name, units)
        means = _unit_means(opened.model, opened.name, opened.version, opened.spec.name, layer.name)
    train = resources.dataset(opened.spec.name).x_train
    best = explain.top_images(means, units, k=TOP_IMAGES)
    what = "channel" if layer.spatial else "unit"
    for column_index, column in enumerate(st.columns(per_row)):
        for row in range(column_index, len(units), per_row):
            unit, rows = units[row], best[row]
            tiles = np.stack([_stretched(grown.images[row]), *train[rows]])
            dead = float(means[:, unit].max()) <= 0 and grown.activation[row] <= 0
            words = (f"{what} {unit}: never active on these images" if dead else
                     f"{what} {unit}: grown (left, {grown.activation[row]:.2f}) and its top {TOP_IMAGES} "
                     f"training images (up to {float(means[rows[0], unit]):.2f})")
            column.image(tile_grid(tiles, len(tiles), 2), caption=words, output_format="PNG")
    return grown.description


def units_ui(models: list[Opened]) -> None:
    """For each model (side by side when comparing), one layer of its own choosing: what each channel or unit
    responds to most."""
    st.markdown("#### What each channel responds to")
    per_row = 3 if len(models) == 1 else 2
    descriptions = []
    for position, (column, opened) in enumerate(zip(st.columns(len(models), gap="large"), models)):
        with column:
            descriptions.append(model_units_ui(opened, position, per_row))
    grown = next((d for d in descriptions if d), None)
    if grown is None:
        return
    st.caption(f"Left of each row, the picture grown to make that channel (a convolution's feature map, averaged "
               f"over the picture) or unit as active as it can be (each stretched to its own range so faint "
               f"patterns show; {grown}); right, the {TOP_IMAGES} of the first {RANKED:,} training images that "
               "make it most active. The numbers are its activation. Each model has its own layer picker.")


def imagine_ui(models: list[Opened], subject: Subject) -> None:
    st.subheader("What the network imagines")
    class_images_ui(models, subject)
    units_ui(models)

"""Inside the network's projector: the test set as the model sees it, on a t-SNE map (made once per model, kept
beside it in the store) or the instant PCA map. Zoom in (scroll or pinch) and the points turn into their digits;
click one to open that test image here; the input being explained is the star."""
from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from core import explain
from pages.parts import charts, resources
from pages.parts.inside_input import HANDOVER_KEY, Subject
from pages.parts.inside_models import Opened, embeddings
from pages.parts.inside_views import CLASS_COLOURS, star_path

LAYOUT_KEY, CHART_KEY, MAKE_KEY = "inside_projector_layout", "inside_projector_chart", "inside_projector_make"
TSNE, PCA = "t-SNE (neighbours kept)", "PCA (instant)"
ZOOMED = 4  # pictures appear once the view is this many times narrower than the whole map
PICTURE_PX = 30


@st.cache_resource(show_spinner=False, max_entries=2)
def thumbnails(dataset: str) -> list[str]:
    """PNG data URIs of the test images (white ink on black, as the network reads them): about 4 MB for 10,000,
    sent to the browser with the chart once (Streamlit caches large messages in the browser)."""
    uris = []
    for image in resources.dataset(dataset).x_test:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    return uris


@st.cache_resource(show_spinner=False, max_entries=8)
def _map_lock(name: str, version: float) -> threading.Lock:
    return threading.Lock()


def open_point() -> None:
    """A click on a point: hand its test image over to the input (as the Mistakes page's Look inside does)."""
    picked = st.session_state.get(CHART_KEY, {}).get("selection", {}).get("pick") or []
    if picked and "index" in picked[0]:
        st.session_state[HANDOVER_KEY] = int(picked[0]["index"])


def projector_chart(coordinates: np.ndarray, labels: np.ndarray, class_names: list[str], pictures: list[str],
                    here: np.ndarray, here_label: str, layout: str):
    """Dots coloured by class, with class names on the clusters; zoomed in, the points in view become their pictures
    framed in their class colour; the input as a star."""
    import altair as alt

    frame = pd.DataFrame({"x": coordinates[:, 0], "y": coordinates[:, 1], "index": np.arange(len(coordinates)),
                          "class": np.asarray(class_names, dtype=object)[np.asarray(labels, int)]})
    zoom = alt.selection_interval(bind="scales", name="zoom")
    pick = alt.selection_point(name="pick", fields=["index"], on="click", toggle=False, nearest=True)
    width = float(np.ptp(coordinates[:, 0])) or 1.0
    zoomed = f"isValid(zoom) && isValid(zoom.x) && (zoom.x[1] - zoom.x[0]) < {width / ZOOMED:.6g}"
    axis = alt.Axis(labels=False, ticks=False, grid=False)
    x = alt.X("x:Q", title=f"{layout.split(' ')[0]} 1", axis=axis, scale=alt.Scale(zero=False))
    y = alt.Y("y:Q", title=f"{layout.split(' ')[0]} 2", axis=axis, scale=alt.Scale(zero=False))
    colour = alt.Color("class:N", title="class", sort=list(class_names),
                       scale=alt.Scale(domain=list(class_names), range=CLASS_COLOURS[:len(class_names)]),
                       legend=alt.Legend(symbolSize=260, symbolOpacity=1, labelFontSize=17, titleFontSize=17))
    tooltip = [alt.Tooltip("class:N"), alt.Tooltip("index:Q", title="test image")]
    dots = alt.Chart(frame).mark_circle(size=22, opacity=0.65, clip=True).encode(x=x, y=y, color=colour)
    # an invisible copy on top of everything answers the pointer: a click or a hover anywhere finds the nearest point
    pointer = alt.Chart(frame).mark_circle(size=22, opacity=0, clip=True).encode(
        x=x, y=y, tooltip=tooltip).add_params(zoom, pick)
    in_view = (f"{zoomed} && datum.x >= zoom.x[0] && datum.x <= zoom.x[1] "
               "&& datum.y >= zoom.y[0] && datum.y <= zoom.y[1]")
    shown = alt.Chart(frame.assign(picture=pictures[:len(frame)])).transform_filter(in_view)
    frames = shown.mark_square(size=(PICTURE_PX + 6) ** 2, opacity=1, clip=True).encode(x=x, y=y, color=colour)
    pictures_layer = shown.mark_image(width=PICTURE_PX, height=PICTURE_PX, clip=True).encode(x=x, y=y, url="picture:N")
    centres = frame.groupby("class", sort=False)[["x", "y"]].median().reset_index()
    names = alt.Chart(centres).transform_filter(f"!({zoomed})").mark_text(
        fontSize=26, fontWeight="bold", stroke="white", strokeWidth=4).encode(x=x, y=y, text="class:N")
    names_fill = alt.Chart(centres).transform_filter(f"!({zoomed})").mark_text(
        fontSize=26, fontWeight="bold").encode(x=x, y=y, text="class:N", color=colour)
    star_frame = pd.DataFrame({"x": [float(here[0])], "y": [float(here[1])], "what": [here_label]})
    star = alt.Chart(star_frame).mark_point(shape=star_path(), size=1800, filled=True, fill="white", stroke="black",
                                            strokeWidth=3, opacity=1).encode(x=x, y=y)
    label = {"dy": -36, "align": "center", "fontSize": 22, "fontWeight": "bold"}
    star_text = alt.Chart(star_frame).mark_text(**label, stroke="white", strokeWidth=5).encode(x=x, y=y, text="what")
    star_fill = alt.Chart(star_frame).mark_text(**label).encode(x=x, y=y, text="what")
    layers = alt.layer(dots, frames, pictures_layer, names, names_fill, star, star_text, star_fill, pointer)
    return charts.style(layers.properties(height=620))


def _make_map(opened: Opened, data, test_embeddings: np.ndarray) -> explain.ProjectorMap:
    """Make (or, if another session just made it, read) the t-SNE map, with a progress bar."""
    with _map_lock(opened.name, opened.version):
        bar = st.progress(0.0, text=f"Making the t-SNE map of {len(data.x_test):,} test images for {opened.name}")

        def progress(fraction: float, words: str) -> None:
            bar.progress(min(1.0, fraction), text=f"Making the t-SNE map for {opened.name}: {words}. "
                                                  "This happens once per model; then it is kept with the model.")

        made = explain.model_map(resources.model_store(), opened.name, opened.model, data,
                                 embeddings=test_embeddings, progress=progress)
        bar.empty()
    return made


def projector_ui(opened: Opened, subject: Subject) -> None:
    """The projector: layout choice, the t-SNE map made on request with progress, the zoomable chart."""
    st.subheader("A projector of the test set")
    data = resources.dataset(opened.spec.name)
    store = resources.model_store()
    kept = explain.kept_model_map(store, opened.name, data)
    if st.session_state.get(LAYOUT_KEY) not in (TSNE, PCA):
        st.session_state[LAYOUT_KEY] = TSNE if kept is not None else PCA
    layout = st.segmented_control("Lay the points out by", [TSNE, PCA], key=LAYOUT_KEY, required=True,
                                  help="t-SNE keeps each image next to the ones the network finds alike; PCA "
                                       "shows the two directions the images differ most along, and is instant.")
    slot = embeddings(opened)
    if slot is None:
        return
    query = explain.embed(opened.model, subject.image[None])[0]
    placed = "" if subject.test_index is not None else ", placed among the test images nearest it"
    if layout == PCA:
        coordinates, here = slot.test_map.coordinates, slot.test_map.project(query)
        how = "squeezed to the two directions they differ most along (PCA)"
        placed = "" if subject.test_index is not None else ", placed by the same two directions"
    else:
        if kept is None:
            st.info(f"The t-SNE map of {opened.name} is not made yet: it takes about a minute on this machine, "
                    "once; then it is kept beside the model and opens at once.")
            if not st.button("Make the t-SNE map", key=MAKE_KEY, icon=":material/scatter_plot:"):
                return
            kept = _make_map(opened, data, slot.test)
        coordinates = kept.coordinates
        here = (coordinates[subject.test_index] if subject.test_index is not None  # a test image is on the map
                else explain.place(slot.test, coordinates, query))
        how = ("laid out by t-SNE so that images the network finds alike sit together "
               f"(made in {kept.seconds:.0f} s{', kept with the model' if kept.from_cache else ''})")
    st.caption(f"Each dot is one of the {len(data.x_test):,} test images as {opened.name} sees them (the output of "
               f"{explain.embedding_layer_name(opened.model)}), {how}. The star is {subject.title}{placed}. "
               "Scroll or pinch to zoom in: the dots turn into their pictures. Drag to move; double-click to see "
               "it all again; click a dot to look inside that image.")
    names = list(opened.spec.class_names)
    chart = projector_chart(coordinates, data.y_test, names, thumbnails(opened.spec.name), here, subject.title,
                            layout)
    st.altair_chart(chart, width="stretch", key=CHART_KEY, on_select=open_point, selection_mode="pick")

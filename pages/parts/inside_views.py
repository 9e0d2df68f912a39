"""Inside the network, drawn for a projector: pictures of layers, weights and neighbours, big answers, a map.

Pictures are built as one numpy image per idea (a whole layer's feature maps in one grid), so a
layer with 128 channels is one small PNG, not 128 elements. Text in HTML blocks is sized in rem
so it reads from the back of a classroom; class names come from the dataset spec.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import streamlit as st

from core.explain import FirstLayerWeights, LayerActivation
from pages.parts import charts
from pages.parts.formatting import percent, plain
from pages.parts.images import enlarge

INPUT_SCALE = 8  # 28 px -> 224 px
TILE_MIN = 44  # px: the smallest a feature map or kernel is shown
GRID_WIDTH = 1080  # px: the widest a grid of maps may grow
GAP = 3  # px of white between tiles
STRIP_HEIGHT = 120  # px: the bars of a dense layer
MAX_WEIGHT_PICTURES = 64
# Okabe-Ito (charts' palette) and two more for ten classes; each cluster is labelled on the map too,
# so no class depends on its colour alone.
CLASS_COLOURS = [charts.BLUE, charts.ORANGE, charts.GREEN, charts.VERMILLION, charts.SKY, charts.PURPLE,
                 "#B8A000", charts.BLACK, "#882255", "#8B5A2B"]
KIND_WORDS = {
    "conv": "convolution: one map per filter",
    "pool": "pooling: every map shrunk, the strongest value of each patch kept",
    "norm": "normalisation: every map rescaled",
    "activation": "activation",
    "dense": "dense: one bar per unit",
    "other": "layer",
}
PAGE_STYLE = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p { font-size: 1.2rem; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.05rem; }
[data-testid="stMain"] [data-testid="stImageCaption"] { font-size: 1.05rem; color: #333; }
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.1rem; }
</style>"""


def page_style_ui() -> None:
    """Larger type in the page's text, captions and labels (this page only)."""
    st.html(PAGE_STYLE)


# --- the answer ------------------------------------------------------------------------------------

def answer_html(predicted: str, confidence: float, true: str | None = None) -> str:
    """'Predicted' and the class in large type, how sure, and (for a labelled image) whether it is right."""
    size = "6rem" if len(predicted) <= 2 else "2.8rem"
    verdict = ""
    if true is not None:
        verdict = ("<div style='font-size:1.3rem;color:#009E73;font-weight:600'>✓ right</div>" if predicted == true
                   else f"<div style='font-size:1.3rem;color:#D55E00;font-weight:600'>✗ wrong: it is "
                        f"{html.escape(true)}</div>")
    return (f"<div style='line-height:1.15'><div style='font-size:1.3rem'>Predicted</div>"
            f"<div style='font-size:{size};font-weight:700;line-height:1'>{html.escape(predicted)}</div>"
            f"<div style='font-size:1.3rem'>{percent(confidence, 1)} sure</div>{verdict}</div>")


def probability_bars_html(probabilities, class_names, predicted: int) -> str:
    """One labelled horizontal bar per class, the predicted one highlighted: plain HTML, drawn at once."""
    width = max(len(name) for name in class_names) * 0.62 + 0.6
    rows = []
    for index, (name, probability) in enumerate(zip(class_names, np.asarray(probabilities, float))):
        chosen = index == predicted
        colour = charts.HIGHLIGHT if chosen else charts.NEUTRAL
        rows.append(
            f"<div title='{html.escape(name)}: {probability:.1%}' style='display:flex;align-items:center;"
            f"gap:8px;height:1.75rem'>"
            f"<div style='width:{width:.1f}em;text-align:right;font-size:1.15rem;font-weight:{700 if chosen else 400}'>"
            f"{html.escape(name)}</div>"
            f"<div style='flex:1;height:1.1rem;background:#eeeeee;border-radius:3px'>"
            f"<div style='width:{probability * 100:.1f}%;min-width:2px;height:100%;background:{colour};"
            f"border-radius:3px'></div></div>"
            f"<div style='width:3.2em;font-size:1.05rem'>{percent(probability)}</div></div>")
    return f"<div aria-label='probability of each class'>{''.join(rows)}</div>"


def input_picture(image) -> np.ndarray:
    """The 28x28 input as an enlarged grey picture, every pixel a visible square."""
    grey = np.clip(np.asarray(image, np.float32).squeeze(), 0, 1)
    return enlarge(np.round(grey * 255).astype(np.uint8), INPUT_SCALE)


# --- pictures of layers and weights -----------------------------------------------------------------

def tile_grid(tiles: np.ndarray, columns: int, scale: int, background: int = 255) -> np.ndarray:
    """(n, h, w) uint8 or (n, h, w, 3) uint8 tiles -> one image, `columns` per row, each enlarged `scale` times."""
    n, h, w = tiles.shape[:3]
    rows = math.ceil(n / columns)
    th, tw = h * scale, w * scale
    shape = (rows * th + (rows - 1) * GAP, columns * tw + (columns - 1) * GAP, *tiles.shape[3:])
    grid = np.full(shape, background, np.uint8)
    for index in range(n):
        r, c = divmod(index, columns)
        top, left = r * (th + GAP), c * (tw + GAP)
        tile = tiles[index]
        grid[top:top + th, left:left + tw] = np.repeat(np.repeat(tile, scale, axis=0), scale, axis=1)
    return grid


def grid_layout(count: int, side: int) -> tuple[int, int]:
    """(columns, scale) for `count` tiles of `side` pixels: each at least TILE_MIN px, rows as even as can be."""
    scale = max(1, math.ceil(TILE_MIN / side))
    fit = max(1, (GRID_WIDTH + GAP) // (side * scale + GAP))
    rows = math.ceil(count / min(count, fit))
    return math.ceil(count / rows), scale


def _unit(values: np.ndarray, low: float, high: float) -> np.ndarray:
    spread = high - low
    scaled = (values - low) / spread if spread > 0 else np.zeros_like(values)
    return np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def feature_maps_picture(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """(H, W, C) maps -> a grid of C grey tiles on one scale: dark = the layer's lowest value, bright = its highest."""
    maps = np.moveaxis(np.asarray(values, np.float32), -1, 0)
    columns, scale = grid_layout(len(maps), max(maps.shape[1:]))
    return tile_grid(_unit(maps, low, high), columns, scale)


def unit_strip_picture(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """(units,) -> one bar per unit from a zero line: blue up for positive, vermillion down for negative."""
    values = np.asarray(values, np.float32).reshape(-1)
    bar = max(2, min(40, GRID_WIDTH // max(1, len(values))))
    gap = 1 if bar >= 4 else 0
    top, bottom = max(high, 0.0), min(low, 0.0)
    spread = (top - bottom) or 1.0
    zero = round(STRIP_HEIGHT * top / spread)
    picture = np.full((STRIP_HEIGHT + 1, len(values) * bar, 3), 255, np.uint8)
    colours = {1: _rgb(charts.BLUE), -1: _rgb(charts.VERMILLION)}
    for index, value in enumerate(values):
        length = round(abs(float(value)) / spread * STRIP_HEIGHT)
        left, right = index * bar, (index + 1) * bar - gap
        if value > 0:
            picture[zero - length:zero, left:right] = colours[1]
        elif value < 0:
            picture[zero + 1:zero + 1 + length, left:right] = colours[-1]
    picture[min(zero, STRIP_HEIGHT)] = (120, 120, 120)
    return picture


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def diverging_tiles(images: np.ndarray) -> np.ndarray:
    """Signed weights -> RGB tiles on one symmetric scale: red positive, blue negative, white zero."""
    from matplotlib import colormaps

    images = np.asarray(images, np.float32)
    limit = float(np.abs(images).max(initial=0.0)) or 1.0
    rgb = colormaps["RdBu_r"]((images / limit + 1) / 2)[..., :3]
    return np.round(rgb * 255).astype(np.uint8)


def weights_picture(images: np.ndarray) -> np.ndarray:
    """(n, h, w) weights -> a grid of diverging-coloured tiles on grey, so near-white tiles keep their edges."""
    tiles = diverging_tiles(images)
    columns, scale = grid_layout(len(tiles), max(tiles.shape[1:3]))
    return tile_grid(tiles, columns, scale, background=110)


# --- sections --------------------------------------------------------------------------------------

def layer_caption(layer: LayerActivation) -> str:
    shape = " x ".join(str(d) for d in layer.output_shape)
    return f"{KIND_WORDS.get(layer.kind, layer.kind)} · shape {shape} · values {layer.low:.2f} to {layer.high:.2f}"


def layer_row_ui(layer: LayerActivation, output_names: list[str] | None = None) -> None:
    """One layer in one row: its name and numbers on the left, its picture on the right."""
    about, picture = st.columns([1, 3], vertical_alignment="center")
    with about:
        st.markdown(f"##### {plain(layer.name)}")
        st.caption(layer_caption(layer))
    values = np.asarray(layer.values)
    with picture:
        if output_names is not None and values.ndim == 1 and len(values) == len(output_names):
            st.markdown(probability_bars_html(values, output_names, int(values.argmax())), unsafe_allow_html=True)
        elif values.ndim == 3:
            st.image(feature_maps_picture(values, layer.low, layer.high), output_format="PNG",
                     caption=f"{values.shape[-1]} maps of {values.shape[0]} x {values.shape[1]}: "
                             f"dark = {layer.low:.2f}, bright = {layer.high:.2f}")
        elif values.ndim == 1:
            st.image(unit_strip_picture(values, layer.low, layer.high), output_format="PNG",
                     caption=f"{len(values)} units: blue above the line = positive, vermillion below = negative")
        else:
            st.caption("No picture for a layer of this shape.")


def folded_layers_ui(layers: list[LayerActivation]) -> None:
    """Flatten and dropout, collapsed: at prediction time they change nothing a viewer could see."""
    if not layers:
        return
    names = ", ".join(plain(layer.name) for layer in layers)
    with st.expander(f"Folded away: {names}"):
        for layer in layers:
            shape = " x ".join(str(d) for d in layer.output_shape)
            what = ("lays the maps out as one long row of numbers" if layer.kind == "flatten"
                    else "does nothing once training is over (it only drops units while learning)")
            st.markdown(f"**{plain(layer.name)}** ({layer.kind}, shape {shape}) {what}.")


def first_layer_ui(weights: FirstLayerWeights) -> None:
    shown = weights.images[:MAX_WEIGHT_PICTURES]
    what = ("kernel" if weights.kind == "conv" else "unit's weights from every input pixel")
    count = (f"all {len(shown)}" if len(shown) == len(weights.images)
             else f"the first {len(shown)} of {len(weights.images)}")
    st.image(weights_picture(shown), output_format="PNG",
             caption=f"{plain(weights.layer_name)}: {count}, one {what} each. "
                     f"Red = positive weight (up to {weights.high:.2f}), blue = negative (down to {weights.low:.2f}).")


def class_templates_ui(templates: np.ndarray, class_names: list[str]) -> None:
    """The ten pictures a linear model compares the input with: one per class."""
    tiles = diverging_tiles(templates)
    for column, tile, name in zip(st.columns(len(tiles)), tiles, class_names):
        column.image(np.repeat(np.repeat(tile, 4, axis=0), 4, axis=1), caption=name, output_format="PNG")


def neighbours_ui(images: np.ndarray, labels: list[str], distances: np.ndarray) -> None:
    """The closest training images, with their labels, in one row."""
    for column, image, label, distance in zip(st.columns(len(images)), images, labels, distances):
        column.image(enlarge(np.asarray(image, np.uint8), 4), caption=f"{label} ({distance:.2f})",
                     output_format="PNG")


def star_path(points: int = 5, inner: float = 0.45) -> str:
    """An SVG path of a star in the unit square, for a Vega-Lite point shape."""
    corners = []
    for i in range(points * 2):
        radius = 1.0 if i % 2 == 0 else inner
        angle = math.pi / 2 + i * math.pi / points
        corners.append(f"{radius * math.cos(angle):.3f},{-radius * math.sin(angle):.3f}")
    return "M" + " L".join(corners) + " Z"


def embedding_map_chart(coordinates: np.ndarray, labels: np.ndarray, class_names: list[str], here: np.ndarray,
                        here_label: str):
    """The test set's embeddings in 2-D, coloured and labelled by class, with the input as a big star."""
    import altair as alt

    frame = pd.DataFrame({"x": coordinates[:, 0], "y": coordinates[:, 1],
                          "class": np.asarray(class_names, dtype=object)[np.asarray(labels, int)]})
    colour = alt.Color("class:N", title="class", sort=list(class_names),
                       legend=alt.Legend(symbolSize=260, symbolOpacity=1, labelFontSize=17, titleFontSize=17),
                       scale=alt.Scale(domain=list(class_names), range=CLASS_COLOURS[:len(class_names)]))
    points = alt.Chart(frame).mark_circle(size=18, opacity=0.6).encode(
        x=alt.X("x:Q", title="first direction (PCA)", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("y:Q", title="second direction (PCA)", axis=alt.Axis(labels=False, ticks=False)),
        color=colour, tooltip=["class"])
    centres = frame.groupby("class", sort=False)[["x", "y"]].median().reset_index()
    names = alt.Chart(centres).mark_text(fontSize=26, fontWeight="bold", stroke="white", strokeWidth=4,
                                         strokeOpacity=0.9).encode(x="x:Q", y="y:Q", text="class:N")
    names_fill = alt.Chart(centres).mark_text(fontSize=26, fontWeight="bold").encode(
        x="x:Q", y="y:Q", text="class:N", color=colour)
    star_frame = pd.DataFrame({"x": [float(here[0])], "y": [float(here[1])], "what": [here_label]})
    star = alt.Chart(star_frame).mark_point(shape=star_path(), size=2200, filled=True, fill="white",
                                            stroke="black", strokeWidth=3, opacity=1).encode(
        x="x:Q", y="y:Q", tooltip=["what"])
    label = {"dy": -40, "align": "center", "fontSize": 22, "fontWeight": "bold"}  # above the star, off the clusters
    star_text = alt.Chart(star_frame).mark_text(**label, stroke="white", strokeWidth=5).encode(
        x="x:Q", y="y:Q", text="what")
    star_text_fill = alt.Chart(star_frame).mark_text(**label).encode(x="x:Q", y="y:Q", text="what")
    layered = alt.layer(points, names, names_fill, star, star_text, star_text_fill).properties(height=560)
    return charts.style(layered)

"""Dataset page: what a dataset looks like (ten examples of every class) and how many of each there are.

MNIST's digits, or Fashion-MNIST's clothes: the nets that ace digits do worse on clothes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from core.data import datasets
from pages.parts import charts, resources
from pages.parts.images import enlarge

PER_DIGIT = 10
SCALE = 3          # each 28x28 digit becomes 84x84 screen pixels
GAP = 4            # pixels between tiles
LABEL_WIDTH = 70   # left margin for the row labels (digits)
NAME_WIDTH = 190   # left margin for class names (Fashion-MNIST)
PICKER_KEY = "dataset_choice"


@st.cache_data(show_spinner=False, max_entries=32)
def sample_grid(name: str, seed: int, per_class: int = PER_DIGIT) -> np.ndarray:
    """One composite image: a row per class, `per_class` random training examples each, labelled on the left."""
    data = resources.dataset(name)
    names = data.spec.class_names
    rng = np.random.default_rng(seed)
    tile = 28 * SCALE
    margin = LABEL_WIDTH if data.spec.is_digits else NAME_WIDTH
    height = len(names) * tile + (len(names) + 1) * GAP
    width = margin + per_class * (tile + GAP) + GAP
    canvas = np.full((height, width), 255, dtype=np.uint8)
    for label in range(len(names)):
        picks = rng.choice(np.flatnonzero(data.y_train == label), per_class, replace=False)
        y = GAP + label * (tile + GAP)
        for column, index in enumerate(picks):
            x = margin + GAP + column * (tile + GAP)
            canvas[y:y + tile, x:x + tile] = enlarge(data.x_train[index], SCALE)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(tile * (0.7 if data.spec.is_digits else 0.3)))
    for label, text in enumerate(names):
        y = GAP + label * (tile + GAP) + tile // 2
        draw.text((margin // 2, y), text, fill=0, font=font, anchor="mm")
    return np.asarray(image)


def class_counts(name: str) -> pd.DataFrame:
    data = resources.dataset(name)
    n = data.spec.num_classes
    return pd.DataFrame({"class": list(data.spec.class_names),
                         "train": np.bincount(data.y_train, minlength=n),
                         "test": np.bincount(data.y_test, minlength=n)})


def counts_chart(counts: pd.DataFrame, item: str):
    import altair as alt

    long = counts.melt("class", var_name="set", value_name="images")
    angle = 0 if counts["class"].str.len().max() <= 2 else -40
    return charts.style(alt.Chart(long).mark_bar().encode(
        x=alt.X("class:N", title=item, sort=list(counts["class"]), axis=alt.Axis(labelAngle=angle)),
        xOffset=alt.XOffset("set:N", sort=["train", "test"]),
        y=alt.Y("images:Q", title="images"),
        color=alt.Color("set:N", title=None, sort=["train", "test"], legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["train", "test"], range=[charts.BLUE, charts.ORANGE])),
        tooltip=["class", "set", "images"],
    ).properties(title=f"Images per {item}", height=360))


def balance_note(counts: pd.DataFrame, item: str) -> str:
    """Whether the classes are balanced, from the counts themselves."""
    most, least = counts.train.idxmax(), counts.train.idxmin()
    if counts.train[most] == counts.train[least]:
        return f"Perfectly balanced: {counts.train[most]:,} training images of every {item}."
    return (f"Not perfectly balanced: there are more {counts['class'][most]} ({counts.train[most]:,}) than "
            f"{counts['class'][least]} ({counts.train[least]:,}) in the training set.")


def main() -> None:
    choice = st.segmented_control("Dataset", list(datasets.DATASETS), default=datasets.DEFAULT_DATASET,
                                  required=True, key=PICKER_KEY, format_func=lambda n: datasets.get(n).title)
    spec = datasets.get(choice)
    st.title(f":material/grid_view: The {spec.title} dataset")
    st.caption(f"70,000 pictures of a {spec.item}, each 28×28 grey pixels with its label: "
               f"60,000 to learn from and 10,000 kept apart to test on. {spec.license}.")
    samples, counts_col = st.columns([3, 2], gap="large")
    with samples:
        st.subheader(f"Ten training examples of every {spec.item}")
        seed = st.session_state.setdefault("dataset_seed", 0)
        if st.button("🔀 Show other examples", key="dataset_shuffle"):
            seed = st.session_state["dataset_seed"] = seed + 1
        st.image(sample_grid(spec.name, seed),
                 caption=f"Each row is one {spec.item}, chosen at random from the training set.")
    with counts_col:
        st.subheader("How many of each")
        counts = class_counts(spec.name)
        st.altair_chart(counts_chart(counts, spec.item), width="stretch")
        table = pd.concat([counts, pd.DataFrame([{"class": "all", "train": counts.train.sum(),
                                                  "test": counts.test.sum()}])])
        st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,
                     column_config={"train": st.column_config.NumberColumn(format="%d"),
                                    "test": st.column_config.NumberColumn(format="%d")})
        st.caption(balance_note(counts, spec.item))


if __name__ == "__main__":
    main()

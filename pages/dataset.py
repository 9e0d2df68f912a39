"""Dataset page: what MNIST looks like (ten examples of every digit) and how many of each there are."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from pages import charts, resources
from pages.images import enlarge

PER_DIGIT = 10
SCALE = 3          # each 28x28 digit becomes 84x84 screen pixels
GAP = 4            # pixels between tiles
LABEL_WIDTH = 70   # left margin for the row labels


@st.cache_data(show_spinner=False, max_entries=32)
def sample_grid(seed: int, per_digit: int = PER_DIGIT) -> np.ndarray:
    """One composite image: a row per digit 0-9, `per_digit` random training examples each, labelled on the left."""
    mnist = resources.dataset()
    rng = np.random.default_rng(seed)
    tile = 28 * SCALE
    height = 10 * tile + 11 * GAP
    width = LABEL_WIDTH + per_digit * (tile + GAP) + GAP
    canvas = np.full((height, width), 255, dtype=np.uint8)
    for digit in range(10):
        picks = rng.choice(np.flatnonzero(mnist.y_train == digit), per_digit, replace=False)
        y = GAP + digit * (tile + GAP)
        for column, index in enumerate(picks):
            x = LABEL_WIDTH + GAP + column * (tile + GAP)
            canvas[y:y + tile, x:x + tile] = enlarge(mnist.x_train[index], SCALE)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(tile * 0.7))
    for digit in range(10):
        y = GAP + digit * (tile + GAP) + tile // 2
        draw.text((LABEL_WIDTH // 2, y), str(digit), fill=0, font=font, anchor="mm")
    return np.asarray(image)


def class_counts() -> pd.DataFrame:
    mnist = resources.dataset()
    return pd.DataFrame({"digit": range(10),
                         "train": np.bincount(mnist.y_train, minlength=10),
                         "test": np.bincount(mnist.y_test, minlength=10)})


def counts_chart(counts: pd.DataFrame):
    import altair as alt

    long = counts.melt("digit", var_name="set", value_name="images")
    return charts.style(alt.Chart(long).mark_bar().encode(
        x=alt.X("digit:O", title="digit", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("set:N", sort=["train", "test"]),
        y=alt.Y("images:Q", title="images"),
        color=alt.Color("set:N", title=None, sort=["train", "test"], legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["train", "test"], range=[charts.BLUE, charts.ORANGE])),
        tooltip=["digit", "set", "images"],
    ).properties(title="Images per digit", height=360))


def main() -> None:
    st.title(":material/grid_view: The MNIST dataset")
    st.caption("70,000 handwritten digits, each 28×28 grey pixels with its label: "
               "60,000 to learn from and 10,000 kept apart to test on.")
    samples, counts_col = st.columns([3, 2], gap="large")
    with samples:
        st.subheader("Ten training examples of every digit")
        seed = st.session_state.setdefault("dataset_seed", 0)
        if st.button("🔀 Show other examples", key="dataset_shuffle"):
            seed = st.session_state["dataset_seed"] = seed + 1
        st.image(sample_grid(seed), caption="Each row is one digit, chosen at random from the training set.")
    with counts_col:
        st.subheader("How many of each")
        counts = class_counts()
        st.altair_chart(counts_chart(counts), width="stretch")
        table = pd.concat([counts.astype({"digit": str}),
                           pd.DataFrame([{"digit": "all", "train": counts.train.sum(), "test": counts.test.sum()}])])
        st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,
                     column_config={"train": st.column_config.NumberColumn(format="%d"),
                                    "test": st.column_config.NumberColumn(format="%d")})
        st.caption("Not perfectly balanced: there are more 1s (6,742) than 5s (5,421) in the training set.")


if __name__ == "__main__":
    main()

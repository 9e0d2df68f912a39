"""Digit Studio: a thin router over the pages in pages/."""
import streamlit as st

st.set_page_config(page_title="Digit Studio", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/mistakes.py", title="Mistakes", icon=":material/search:"),
    st.Page("pages/dataset.py", title="Dataset", icon=":material/grid_view:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
]

st.navigation(PAGES).run()

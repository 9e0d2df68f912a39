"""Digit Studio: a thin router over the pages in pages/."""
import streamlit as st

st.set_page_config(page_title="Digit Studio", page_icon="✍️", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/draw.py", title="Draw", icon="✍️"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/mistakes.py", title="Mistakes", icon="🔍"),
    st.Page("pages/dataset.py", title="Dataset", icon="🗂️"),
    st.Page("pages/models.py", title="Models", icon="📦"),
]

st.navigation(PAGES).run()

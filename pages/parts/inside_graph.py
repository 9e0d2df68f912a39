"""Inside the network: its graph. Each model's layers in order as a diagram (output shape, parameters, activation
in large type, for a projector), with a PNG to download for slides and the same figures as a table."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import explain
from pages.parts.formatting import plain
from pages.parts.inside_models import Opened


@st.cache_data(show_spinner=False, max_entries=16)
def _picture(_model, name: str, version: float) -> bytes:
    return explain.architecture_picture(_model, title=name)


def graph_ui(models: list[Opened]) -> None:
    """One diagram per model, one above the other (each needs the page's width to be read from afar)."""
    st.subheader("The network's graph")
    for opened in models:
        rows = explain.model_layers(opened.model)
        total = sum(row.parameters for row in rows)
        st.markdown(f"#### {plain(opened.name)}: {len(rows)} layers, {total:,} parameters")
        picture = _picture(opened.model, opened.name, opened.version)
        st.image(picture, output_format="PNG",
                 caption=f"{opened.name} ({opened.arch}): the input at the top left, then each layer in the order "
                         "it runs, with the shape of what it passes on")
        st.download_button("Download as PNG for your slides", data=picture, file_name=f"{opened.name}-graph.png",
                           mime="image/png", key=f"inside_graph_png_{opened.name}", icon=":material/image:",
                           on_click="ignore")
        with st.expander(f"The same as a table ({opened.name})"):
            st.dataframe(pd.DataFrame([{"layer": r.name, "type": r.type, "output shape": r.shape_text,
                                        "parameters": r.parameters, "activation": r.activation or "—"}
                                       for r in rows]), hide_index=True, width="stretch")

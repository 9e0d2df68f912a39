"""Inside the network's further views, one at a time on request (each computes more than the page above):
what the network imagines, how to fool it, a projector of the test set, the model's graph."""
from __future__ import annotations

import streamlit as st

from pages.parts.inside_attack import fool_ui
from pages.parts.inside_graph import graph_ui
from pages.parts.inside_imagine import imagine_ui
from pages.parts.inside_input import Subject
from pages.parts.inside_models import Opened
from pages.parts.inside_projector import projector_ui

MORE_KEY = "inside_more"
IMAGINE, FOOL, PROJECTOR, GRAPH = (":material/auto_awesome: What it imagines", ":material/theater_comedy: Fool it",
                                   ":material/scatter_plot: Projector", ":material/account_tree: Its graph")


def more_ui(models: list[Opened], opened: Opened, subject: Subject) -> None:
    """A row of choices; the chosen view below it (none until one is picked)."""
    st.subheader("More ways in")
    st.caption("What each class and each channel looks like to the network, how little it takes to fool it, "
               "where every test image sits as the network sees it, and the network's layers as a diagram.")
    choice = st.segmented_control("Show", [IMAGINE, FOOL, PROJECTOR, GRAPH], key=MORE_KEY)
    if choice == IMAGINE:
        imagine_ui(models, subject)
    elif choice == FOOL:
        fool_ui(models, subject)
    elif choice == PROJECTOR:
        projector_ui(opened, subject)
    elif choice == GRAPH:
        graph_ui(models)

"""Digit Studio: a thin router. PAGES is the one page table: st.navigation runs it, Home lists it.

Importing this module (as Home does) only defines the table; the router runs when
Streamlit executes this file as the main script.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageEntry:
    """One page: its script, its title and icon in the navigation, and a line for Home's list."""

    path: str
    title: str
    icon: str
    blurb: str = ""
    default: bool = False


PAGES = (
    PageEntry("pages/home.py", "Home", ":material/home:", default=True),
    PageEntry("pages/draw.py", "Draw", ":material/draw:",
              "Draw a digit and watch the network read it, stroke by stroke."),
    PageEntry("pages/drawings.py", "Drawings", ":material/collections:",
              "The drawings kept on Draw: relabel, export, test a model on them, fine-tune one."),
    PageEntry("pages/train.py", "Train", ":material/model_training:",
              "Pick an architecture and settings, then watch it learn live."),
    PageEntry("pages/mistakes.py", "Mistakes", ":material/search:",
              "The test digits a model gets wrong, and what it confuses."),
    PageEntry("pages/inside.py", "Inside the network", ":material/neurology:",
              "Look inside a network: its layers, what it looks at, what it thinks is alike."),
    PageEntry("pages/dataset.py", "Dataset", ":material/grid_view:",
              "Browse the 70,000 handwritten MNIST digits it learns from."),
    PageEntry("pages/models.py", "Models", ":material/inventory_2:",
              "Compare saved models, choose one, download or delete it."),
    PageEntry("pages/leaderboard.py", "Leaderboard", ":material/leaderboard:",
              "Every run on this server: who, which network, how well; curves side by side."),
    PageEntry("pages/compare.py", "Compare", ":material/compare_arrows:",
              "A sweep's runs, or models you choose: what the results depend on and what mattered."),
    PageEntry("pages/lessons.py", "Lessons", ":material/school:",
              "Workshop lessons, step by step, with links for the room."),
)


def main() -> None:
    from pages.parts import presenter, visitor  # the name, presenter view and lesson banner around every page

    presenting = visitor.presenting()
    st.set_page_config(page_title="Digit Studio", page_icon="✍️", layout="wide",
                       initial_sidebar_state="collapsed" if presenting else "auto")
    page = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in PAGES],
                         position="top" if presenting else "sidebar")
    presenter.frame_ui(page.url_path or "home")
    page.run()


if __name__ == "__main__":
    main()

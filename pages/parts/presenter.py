"""What app.py's router adds around every page: the visitor's name and presenter view, the lesson banner,
and the presenter style (large type and high contrast for a projector, no sidebar).

The style is fixed CSS with no user text in it. It sets sizes in px on the page's own elements, not
the root font size: a larger root font size moves streamlit-drawable-canvas's drawing layer away
from where the pointer is (strokes were lost in the browser test).
"""
from __future__ import annotations

import streamlit as st

from pages.parts import lesson_view, visitor

# Pages that show the lesson banner themselves (below their title, where they use the step).
OWN_BANNER = ("train", "lessons")

PRESENTER_MARK = "/* Digit Studio: presenter view */"
PRESENTER_CSS = f"""
<style>
{PRESENTER_MARK}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"] {{
  display: none !important; }}
[data-testid="stMainBlockContainer"] {{ padding: 4.5rem 2rem 2rem 2rem; max-width: 100%; }}
[data-testid="stAppViewContainer"], [data-testid="stMain"], [data-testid="stHeader"] {{ background: #ffffff; }}
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p, [data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stText"], [data-testid="stMain"] [data-testid="stCode"] code {{
  font-size: 24px !important; line-height: 1.45; color: #000000; }}
[data-testid="stMain"] [data-testid="stWidgetLabel"] p, [data-testid="stMain"] label p {{
  font-size: 21px !important; color: #000000 !important; font-weight: 600; }}
[data-testid="stMain"] [data-testid="stCaptionContainer"], [data-testid="stMain"] [data-testid="stCaptionContainer"] p,
[data-testid="stMain"] [data-testid="stImageCaption"] {{ font-size: 19px !important; color: #1a1a1a !important; }}
[data-testid="stMain"] h1 {{ font-size: 50px !important; font-weight: 800 !important; color: #000000; }}
[data-testid="stMain"] h2 {{ font-size: 38px !important; font-weight: 800 !important; color: #000000; }}
[data-testid="stMain"] h3 {{ font-size: 31px !important; font-weight: 800 !important; color: #000000; }}
[data-testid="stMain"] [data-testid="stMetricValue"], [data-testid="stMain"] [data-testid="stMetricValue"] div,
[data-testid="stMain"] [data-testid="stMetricValue"] p {{
  font-size: 56px !important; font-weight: 800; color: #000000; line-height: 1.15; }}
[data-testid="stMain"] [data-testid="stMetricLabel"] p {{ font-size: 21px !important; color: #000000; }}
[data-testid="stMain"] button p, [data-testid="stMain"] button div {{ font-size: 21px !important; }}
[data-testid="stMain"] button {{ min-height: 52px; }}
[data-testid="stMain"] [data-testid="stBaseButton-secondary"] {{ border: 2px solid #000000 !important; color: #000000 !important; }}
[data-testid="stMain"] input, [data-testid="stMain"] [data-baseweb="select"] div {{
  font-size: 21px !important; color: #000000 !important; }}
[data-testid="stMain"] [data-baseweb="input"], [data-testid="stMain"] [data-baseweb="select"] > div {{
  border: 2px solid #000000 !important; }}
[data-testid="stMain"] [data-testid="stProgress"] p {{ font-size: 21px !important; color: #000000; }}
[data-testid="stMain"] [data-testid="stProgress"] [role="progressbar"] > div {{ height: 14px !important; }}
[data-testid="stMain"] [data-testid="stTickBarMin"], [data-testid="stMain"] [data-testid="stTickBarMax"],
[data-testid="stMain"] [data-testid="stSliderThumbValue"] {{ font-size: 19px !important; color: #000000 !important; }}
[data-testid="stMain"] [data-testid="stExpander"] summary p {{ font-size: 22px !important; font-weight: 700; }}
[data-testid="stMain"] [data-testid="stAlertContainer"] {{ border: 2px solid #000000; }}
[data-testid="stHeader"] {{ border-bottom: 2px solid #000000; height: 4rem; }}
[data-testid="stMain"] [data-testid="stTable"] td, [data-testid="stMain"] [data-testid="stTable"] th {{
  font-size: 26px !important; color: #000000 !important; padding: 0.35rem 0.8rem !important; }}
[data-testid="stMain"] [data-baseweb="tag"] {{ height: auto !important; }}
[data-testid="stMain"] [data-baseweb="tag"] span {{ font-size: 20px !important; }}
.st-key-join_qr img {{ max-width: min(100%, 56vh) !important; height: auto !important; }}
[data-testid="stMain"] .st-key-join_address [data-testid="stCode"] code {{ font-size: 46px !important; font-weight: 700; }}
@media (max-height: 800px) {{
  [data-testid="stMainBlockContainer"] {{ padding-top: 4.2rem; }}
  [data-testid="stMain"] h1 {{ font-size: 40px !important; padding: 0.25rem 0 0.5rem 0 !important; }}
}}
[data-testid="stHeader"] a span, [data-testid="stHeader"] a p {{ font-size: 20px !important; color: #000000 !important;
  font-weight: 700 !important; }}
</style>
"""


def frame_ui(stem: str) -> None:
    """Run by the router before the page: keep name and presenter mode in the URL, the presenter style,
    the sidebar's name box and presenter switch, and the lesson banner (for pages that do not draw it).
    `stem` names the page (its url path: "home", "draw", "train", ...)."""
    visitor.sync_url()
    if visitor.presenting():
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)   # fixed CSS, no user text
    with st.sidebar:
        visitor.name_ui(key="sidebar_name", compact=True)
        visitor.presenter_toggle(key="sidebar_presenter")
    if stem not in OWN_BANNER:
        at = lesson_view.current()
        if at is not None:
            lesson_view.banner_ui(at, page=stem)


def chart_height(normal: int) -> int:
    """Charts grow in presenter view, to fill a projected screen."""
    return int(normal * 1.6) if visitor.presenting() else normal

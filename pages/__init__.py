"""The app's pages (UI only); app.py routes to them with st.navigation.

Streamlit treats a folder named `pages/` beside the main script as its old multipage
mode until `st.navigation` runs once. If a server's very first request is a deep link
(`/train`), the page would run without app.py and every module here would be listed
as a page, for everyone. Leave that mode at once and rerun through app.py's router.
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.rerun()

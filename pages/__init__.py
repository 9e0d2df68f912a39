"""The app's pages (UI only); app.py routes to them with st.navigation.

Why this file does something: Streamlit treats a folder named `pages/` beside the main
script as its legacy multipage mode (`PagesManager.uses_pages_directory`, decided once per
process from the folder's existence) until some session runs `st.navigation`. If a fresh
server's very first request is a deep link (`/train`), Streamlit runs that page without
app.py, and lists every module here as a page, for everyone, until someone opens `/`.

Streamlit 1.67 has no supported way out: no config option (client.showSidebarNavigation
only hides the menu), no argument to `streamlit run`, and st.navigation, the documented
switch, only runs from the router this request skipped. So, in this one place: leave that
mode and rerun, which goes through app.py. Checked by the browser test
tests/e2e/test_train_mistakes_browser.py::test_deep_link_as_first_request_uses_the_router.
Drop this (and the test's reason) if the project ever renames the folder.
"""
import streamlit as st

try:
    from streamlit.runtime.pages_manager import PagesManager
except ImportError:  # a Streamlit without it has no legacy mode to leave
    PagesManager = None

if PagesManager is not None and getattr(PagesManager, "uses_pages_directory", None):
    PagesManager.uses_pages_directory = False
    st.rerun()

"""CAM Inspector: Streamlit entry point. Run with ``streamlit run app.py``.

The pages live in ``pages/`` and are registered explicitly with ``st.navigation`` (Streamlit does
not auto-scan ``pages/`` when ``st.navigation`` is used). Shared Streamlit glue is the ``app_ui`` package;
all computation is in the UI-free ``cam_core`` package.
"""

from __future__ import annotations

import logging

import streamlit as st

import app_ui as ui

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="CAM Inspector", page_icon=ui.tab_icon(), layout="wide")   # drawn here: offline
ui.init_state()

pages = [st.Page(path, title=title, icon=icon, default=path == ui.HOME_PAGE)
         for path, title, icon in ui.available_pages()]
# The menu is drawn with page links (ui.draw_menu) rather than by st.navigation: .streamlit/config.toml hides
# Streamlit's own sidebar navigation (showSidebarNavigation = false), because on a fresh server the first
# visitor who opened /video directly got a menu of the raw pages/ file names.
navigation = st.navigation(pages, position="hidden")
ui.draw_menu(pages)
navigation.run()   # each page draws its heading with ui.page_title, which starts the background load

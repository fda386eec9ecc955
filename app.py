"""CAM Inspector: Streamlit entry point. Run with ``streamlit run app.py``.

``streamlit run`` reads this file twice over. At server start it imports it as a module and finds ``app``, an
``st.App`` whose start-up hook has the default network loaded in the background even before anyone asks for a
page (:func:`app_ui.warmup.start_warm_up`). Then it runs it as the script of
every page view (``__name__ == "__main__"``), which draws the menu and the page.

The pages live in ``pages/`` and are registered explicitly with ``st.navigation`` (Streamlit does
not auto-scan ``pages/`` when ``st.navigation`` is used). Shared Streamlit glue is the ``app_ui`` package;
all computation is in the UI-free ``cam_core`` package.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st

import app_ui as ui

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def draw_page() -> None:
    """One page view: the menu and the page the URL names."""
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


@asynccontextmanager
async def warm_at_start(_app: object) -> AsyncIterator[None]:
    """The server's start-up hook: the default network starts loading in the background (:mod:`app_ui.warmup`)."""
    ui.start_warm_up()
    yield


if __name__ == "__main__":
    draw_page()
else:
    app = st.App("app.py", lifespan=warm_at_start)

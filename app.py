"""CAM Inspector: Streamlit entry point. Run with ``streamlit run app.py``.

The pages live in ``pages/`` and are registered explicitly with ``st.navigation`` (Streamlit does
not auto-scan ``pages/`` when ``st.navigation`` is used). Shared helpers are in ``app_ui.py``;
all computation is in the UI-free ``cam_core`` package.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

import app_ui as ui

ROOT = Path(__file__).resolve().parent

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="CAM Inspector", page_icon=":material/biotech:", layout="wide")
ui.init_state()

pages = [
    st.Page("pages/explain.py", title="Explain", icon=":material/image_search:", default=True),
    st.Page("pages/compare.py", title="Compare networks", icon=":material/compare:"),
]
if (ROOT / "pages" / "video.py").exists():
    pages.append(st.Page("pages/video.py", title="Video", icon=":material/movie:"))
pages += [
    st.Page("pages/models.py", title="Models", icon=":material/model_training:"),
    st.Page("pages/report.py", title="Report", icon=":material/description:"),
]

st.navigation(pages).run()

"""Session state and navigation: the ``cfg_*`` settings every page shares, the page menu, the tab icon.

Session state keeps the user's settings (``cfg_*`` keys, carried across pages); the pages' own results are
kept by :mod:`app_ui.batch`, :mod:`app_ui.compare` and :mod:`app_ui.video_jobs`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from cam_core.options import Method, VideoSettings, ViewSettings

KEPT_OVERLAY = "kept_overlay"      # (opacity, colormap) as last set by a widget (see widgets.overlay_controls)
# Settings shared by every page; widgets use these keys and read their defaults from here.
DEFAULTS: dict[str, Any] = {
    "cfg_method": Method.CAM.value,
    "cfg_backend": "auto",
    "cfg_norm": ViewSettings.mode.value,
    "cfg_opacity": ViewSettings.opacity,
    "cfg_colormap": ViewSettings.colormap.value,
    "cfg_raw_grid": False,
    "cfg_samples": [],
    "cfg_target": "predicted",
    "cfg_report_title": "CAM Inspector report",
    "cfg_video_layout": VideoSettings.layout.value,
    "cfg_video_every": VideoSettings.every,
    "cfg_video_max_side": 640,
    "cfg_video_parts": True,
}

APP_PAGES: tuple[tuple[str, str, str], ...] = (      # (file, title, icon), in menu order
    ("pages/explain.py", "Explain", ":material/image_search:"),
    ("pages/compare.py", "Compare networks", ":material/compare:"),
    ("pages/video.py", "Video", ":material/movie:"),
    ("pages/models.py", "Models", ":material/model_training:"),
    ("pages/report.py", "Report", ":material/description:"),
    ("pages/batch.py", "Batch results", ":material/table_view:"),
)
HOME_PAGE = "pages/explain.py"
APP_ROOT = Path(__file__).resolve().parents[1]

_menu = threading.local()          # per script run: has app.py drawn the menu for the page now running?


@st.cache_resource(show_spinner=False)
def tab_icon() -> Image.Image:
    """The browser-tab icon, drawn here (a material icon name would be fetched from an external font host)."""
    from cam_core.explain.render import colorize

    yy, xx = np.mgrid[:32, :32]
    heat = np.exp(-((xx - 20) ** 2 + (yy - 12) ** 2) / 60.0).astype(np.float32)
    return Image.fromarray(colorize(heat, "jet"), "RGB")


def available_pages() -> list[tuple[str, str, str]]:
    """The entries of :data:`APP_PAGES` whose file exists (the Video page is optional)."""
    return [entry for entry in APP_PAGES if (APP_ROOT / entry[0]).exists()]


def draw_menu(pages: Sequence[Any] | None = None) -> None:
    """The page menu at the top of the sidebar: ``pages`` (app.py's ``st.Page`` objects), or, when a page
    runs on its own, links to the same files (Streamlit runs a page file directly when a fresh server's
    first visitor opens its URL before app.py has ever run)."""
    _menu.drawn = pages is not None
    if pages is None and _main_script() != APP_ROOT / "app.py":
        return                     # a page run as its own app (`streamlit run pages/x.py`): nothing to link to
    with st.sidebar.container(key="app_menu"):
        if pages is not None:
            for page in pages:
                st.page_link(page)
        else:
            for path, title, icon in available_pages():
                st.page_link("app.py" if path == HOME_PAGE else path, label=title, icon=icon)


def _main_script() -> Path | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return Path(ctx.main_script_path).resolve() if ctx is not None else None


def page_menu() -> None:
    """Called by every page: draws the menu unless app.py already did in this run."""
    if not getattr(_menu, "drawn", False):
        draw_menu()
    _menu.drawn = False


def init_state() -> None:
    """Set defaults and keep widget values alive across page switches.

    Streamlit forgets a widget's value when a run does not draw that widget (e.g. on another page).
    Re-assigning the ``cfg_*`` keys at the start of every run turns them into plain session values
    that survive, and the widgets (created with ``key=`` and no ``value=``) pick them up again.
    """
    state = st.session_state
    for key, value in DEFAULTS.items():
        if key not in state:
            state[key] = list(value) if isinstance(value, list) else value
    for name in list(state.keys()):
        if isinstance(name, str) and name.startswith("cfg_"):
            state[name] = state[name]
    kept = state.get(KEPT_OVERLAY)
    if kept is not None:
        state["cfg_opacity"], state["cfg_colormap"] = kept
    from app_ui.workspace import sync_workspace

    sync_workspace()      # a reload (a new session with the same ?ws= key) gets the session's results back


def kept_choice(key: str, options: Sequence[str]) -> Any:
    """Restore a select box's choice (``key``) from a copy outside the widget keys, and return the callback that
    keeps that copy: Streamlit drops a widget's value when a run does not draw it (another page) or when its
    labels change (they carry the verdict, which changes with the method). Falls back to the first option."""
    state = st.session_state
    copy = f"kept_{key}"
    if state.get(copy) in options:
        state[key] = state[copy]
    elif state.get(key) not in options:
        state[key] = options[0]
    state[copy] = state[key]

    def keep() -> None:
        state[copy] = state[key]

    return keep

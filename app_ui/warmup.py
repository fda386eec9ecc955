"""The default network, loaded in the background from the first page load, so the first heatmap follows soon
after the page is drawn.

Pages draw their heading and controls from the model files' cards alone (no network library is imported for
that), so a cold server shows its first page at once. Every page draws its heading with :func:`page_title`,
which then calls :func:`warm_up`: the first one starts a daemon thread (one per server process). Starting it
after the heading matters on a small machine: the thread's imports hold the interpreter for seconds, and a
heading that had to wait for them reached the browser about a second later (measured). The thread imports PyTorch and onnxruntime, then loads the
explainer of the model the pickers open with (CAM on the default engine), together with its colour scale,
into the caches every session shares (:func:`app_ui.models.get_explainer`, ``st.cache_resource``). A run
that needs the same explainer meanwhile waits for that cache entry rather than loading a second copy. A
failure is only logged: the page that needs the network reports it as usual.

Nothing starts outside a Streamlit server: scripts and in-process app tests (``AppTest``, which runs with a
stand-in runtime) load what they use themselves.
"""

from __future__ import annotations

import logging
import threading
import time

import streamlit as st
from streamlit import runtime

log = logging.getLogger("cam_inspector.app")

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _serving() -> bool:
    """Whether this process is a Streamlit server (AppTest installs a mock in place of the runtime)."""
    return runtime.exists() and type(runtime.Runtime.instance()) is runtime.Runtime


def page_title(text: str) -> None:
    """A page's heading (``st.title``), then :func:`warm_up`."""
    st.title(text)
    warm_up()


def warm_up() -> threading.Thread | None:
    """Start loading the default network in the background (once per process); the thread, or None outside a
    server."""
    global _thread
    if not _serving():
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=load_default_network, name="cam-warm-up", daemon=True)
            _thread.start()
    return _thread


def load_default_network() -> str | None:
    """Load the explainer and colour scale of the model the pickers open with; its name, or None when there is
    no model or it cannot be loaded (logged)."""
    from app_ui.models import CAM, get_explainer, model_names
    from app_ui.picture import model_scale_of

    names = model_names()
    if not names:
        return None
    started = time.perf_counter()
    try:
        get_explainer(names[0], CAM)
        model_scale_of(names[0])
    except Exception as exc:  # noqa: BLE001 - the page that needs the network shows the error itself
        log.warning("background load of %s failed: %s", names[0], exc)
        return None
    log.info("%s loaded in the background in %.1f s", names[0], time.perf_counter() - started)
    return names[0]

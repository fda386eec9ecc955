"""The default network, loaded in the background soon after the server starts, so the first heatmap follows the
first upload at once.

Pages draw their heading and controls from the model files' cards alone (no network library is imported for
that), so a cold server shows its first page at once.

The load starts at the first page view, after its heading (:func:`page_title` calls :func:`warm_up`), or
:data:`IDLE_START_S` after the server started when nobody has asked for a page by then: ``streamlit run app.py``
calls :func:`start_warm_up` from the server's start-up hook (``app.py``). One daemon thread per server process
imports PyTorch and onnxruntime, then loads the explainer of the model the pickers open with (CAM on the default
engine), together with its colour scale, into the caches every session shares
(:func:`app_ui.models.get_explainer`, ``st.cache_resource``). A run that needs the same explainer meanwhile waits
for that cache entry rather than loading a second copy. A failure is only logged: the page that needs the network
reports it as usual.

Why not at once at server start: on a small machine the imports hold the interpreter for seconds, and a first
page view served meanwhile suffers. Measured on the 2-core CPU with a visitor arriving the moment the server
answered (median of 5 fresh servers): loading at once gave the heading after 1.99 s and the first heatmap 2.02 s
after an upload made at the heading, against 1.57 s and 3.22 s when the load follows the heading. A server that
has been up a few seconds before its first visitor has the network loaded: the first heatmap then comes 1.46 s
after an upload made at the heading (visitor 10 s after the server answered; ``benchmarks/bench_app.py
--visit-delay 10``).

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

IDLE_START_S = 3.0
"""Seconds after the server starts at which it loads the default network if no page view asked for it sooner."""
_lock = threading.Lock()
_now = threading.Event()
_thread: threading.Thread | None = None


def _serving() -> bool:
    """Whether this process is a Streamlit server (AppTest installs a mock in place of the runtime)."""
    return runtime.exists() and type(runtime.Runtime.instance()) is runtime.Runtime


def page_title(text: str) -> None:
    """A page's heading (``st.title``), then :func:`warm_up`."""
    st.title(text)
    warm_up()


def warm_up() -> threading.Thread | None:
    """Load the default network in the background now (once per process); the thread, or None outside a server."""
    return start_warm_up() if _serving() else None


def start_warm_up(delay: float = 0.0) -> threading.Thread:
    """Start the background load (once per process: later calls return the same thread). With ``delay``, it
    waits that long first, unless a page view (:func:`warm_up`) asks for it sooner."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_load_when_asked, args=(delay,), name="cam-warm-up", daemon=True)
            _thread.start()
        if delay <= 0:
            _now.set()
        return _thread


def _load_when_asked(delay: float) -> None:
    _now.wait(timeout=delay)
    load_default_network()


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

"""The default network, loaded in the background from the moment the server starts, so the first heatmap follows
the first upload at once.

Pages draw their heading and controls from the model files' cards alone (no network library is imported for
that), so a cold server shows its first page at once.

``streamlit run app.py`` calls :func:`start_warm_up` from the server's start-up hook (``app.py``); a page's
heading (:func:`page_title`) calls it too, which changes nothing once it runs. One daemon thread per server
process imports PyTorch and onnxruntime, then loads the explainer of the model the pickers open with (CAM on the
default engine), together with its colour scale, into the caches every session shares
(:func:`app_ui.models.get_explainer`, ``st.cache_resource``). A run that needs the same explainer meanwhile waits
for that cache entry rather than loading a second copy. A failure is only logged: the page that needs the network
reports it as usual.

The imports (2.0–2.4 s of PyTorch alone on the 2-core CPU) run in a thread of their own at the lowest CPU
priority (:data:`IMPORT_NICENESS`), so a page served meanwhile keeps the cores; the load itself, which creates
the engine's worker threads (they inherit their creator's priority), runs at the server's own priority.
Measured with ``benchmarks/bench_app.py --cold-only --cold-runs 5 --visit-delay D`` on the idle 2-core CPU
(browser on the same machine; median of 5 fresh servers; heading after the page was opened / first heatmap drawn
after the heading, the file dropped the moment the uploader is drawn; all checked on every animation frame):

=====================  ==========================================
first visitor after     heading / first heatmap
the server answered
=====================  ==========================================
0 s                     1.39–1.42 s / 1.12–1.19 s (two runs of 5)
1.5 s                   0.97 s / 0.77 s
3 s                     0.98 s / 0.75 s
10 s                    0.93 s / 0.79 s
=====================  ==========================================

Starting the load at once at full priority, or the whole load at the lowest priority (the engine's threads
would then keep it), were slower at 0 s (measured with the older timing, Playwright's own waits, which read
up to 0.9 s late). Every arrangement shares one interpreter: about 2.6 s of loading,
PyTorch's import nearly all of it, against about 1.3 s of page.

Nothing starts outside a Streamlit server: scripts and in-process app tests (``AppTest``, which runs with a
stand-in runtime) load what they use themselves.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import suppress

import streamlit as st
from PIL import Image
from streamlit import runtime

log = logging.getLogger("cam_inspector.app")

IMPORT_NICENESS = 19
"""The CPU niceness of the thread that imports the network libraries (19: the lowest priority on Linux)."""
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
    """Load the default network in the background now (once per process); the thread, or None outside a server."""
    return start_warm_up() if _serving() else None


def start_warm_up() -> threading.Thread:
    """Start the background load (once per process: later calls return the same thread)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm_up, name="cam-warm-up", daemon=True)
            _thread.start()
        return _thread


def _warm_up() -> None:
    importer = threading.Thread(target=import_network_libraries, name="cam-warm-up-imports", daemon=True)
    importer.start()
    importer.join()
    load_default_network()


def import_network_libraries() -> None:
    """Import PyTorch, onnxruntime and the modules that load a network at the lowest CPU priority (this thread's
    only); a failure is left to the load that follows, which reports it."""
    with suppress(AttributeError, OSError):   # os.setpriority is Unix-only; a refusal only costs speed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IMPORT_NICENESS)
    with suppress(ImportError):
        import torch  # noqa: F401

        import cam_core.checkpoints.bundle  # noqa: F401
        import cam_core.explain.factory  # noqa: F401
        import cam_core.interop.onnx_engine  # noqa: F401


def load_default_network() -> str | None:
    """Load the explainer and colour scale of the model the pickers open with, and explain one grey image with it
    (the engine's first run allocates its memory: 0.09–0.13 s against 0.04–0.06 s for the next on the 2-core CPU);
    its name, or None when there is no model or it cannot be loaded (logged)."""
    from app_ui.models import CAM, get_explainer, model_names
    from app_ui.picture import model_scale_of

    names = model_names()
    if not names:
        return None
    started = time.perf_counter()
    try:
        explainer = get_explainer(names[0], CAM)
        model_scale_of(names[0])
        explainer.explain_one(Image.new("RGB", explainer.bundle.input_size[::-1], (128, 128, 128)))
    except Exception as exc:  # noqa: BLE001 - the page that needs the network shows the error itself
        log.warning("background load of %s failed: %s", names[0], exc)
        return None
    log.info("%s loaded in the background in %.1f s", names[0], time.perf_counter() - started)
    return names[0]

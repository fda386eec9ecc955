"""Process-wide caches shared by every session, bounded by bytes.

Decoded images, their screen-size copies, explanations, decoded masks and mask scores are kept in LRU
caches keyed by content hash (and model file version, method, targets), so moving a slider never decodes
again nor re-runs the network; only the overlays are redrawn. The same immutable PIL images are shared by
every session that uploaded the same bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from PIL import Image


class LRU:
    """A thread-safe LRU shared by all sessions, bounded by the total size of what it holds."""

    def __init__(self, max_bytes: int, size_of: Callable[[Any], int]) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            self._data.move_to_end(key)
            return entry[0]

    def put(self, key: Any, value: Any) -> None:
        size = int(self.size_of(value))
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._data) > 1:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped


def image_bytes(image: Image.Image) -> int:
    return image.size[0] * image.size[1] * len(image.getbands())


@st.cache_resource
def stores() -> dict[str, LRU]:
    """Process-wide caches: decoded uploads, screen-size copies, explanations (byte budgets)."""
    return {
        "decoded": LRU(768 * 1024**2, lambda item: image_bytes(item.image)),
        "display": LRU(384 * 1024**2, image_bytes),
        "explained": LRU(256 * 1024**2, lambda e: e.maps.nbytes + e.probabilities.nbytes + 512),
        "masks": LRU(256 * 1024**2, lambda m: m.nbytes + 256),
        "scores": LRU(4 * 1024**2, lambda _: 1024),
    }


@st.cache_resource
def scratch_root(kind: str) -> Path:
    """One scratch folder per server process and ``kind`` (``train``, ``sets``, ``video``), removed when the
    process exits (:func:`cam_core.scratch.make_scratch_root`)."""
    from cam_core.scratch import make_scratch_root

    return make_scratch_root(kind)


def cached(store: str, key: Any, make: Callable[[], Any]) -> Any:
    """``stores()[store][key]``, made with ``make()`` (and kept) when missing."""
    cache = stores()[store]
    value = cache.get(key)
    if value is None:
        value = make()
        cache.put(key, value)
    return value

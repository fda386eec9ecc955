"""A session's work kept on the server under a key in the URL, so that a browser reload brings it back.

The first run of a session without a known key gets a new one, ``?ws=<key>``, from :func:`secrets.token_urlsafe`
(:data:`KEY_BYTES` random bytes: one user's key cannot be guessed from another's). The results listed in
:data:`KEPT_KEYS` (the last Explain batch, the video result or job, the training result or job, Compare's
scores) are copied into the key's workspace at the start and the end of every run; a new session
that opens the same URL gets them back. A key the server does not know (a typo, a restart, an expired one) is
replaced by a fresh one: a workspace is never made from a key the browser chose. Workspaces untouched for
:data:`WORKSPACE_MAX_AGE_S` (as long as the scratch folders their files live in) are forgotten, and at most
:data:`MAX_WORKSPACES` are kept (the oldest go first).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

WORKSPACE_PARAM = "ws"
KEY_BYTES = 18                      # 144 random bits
WORKSPACE_MAX_AGE_S = 24 * 3600     # as the video and upload scratch files
MAX_WORKSPACES = 256
KEPT_KEYS = ("last_batch", "video_run", "video_job", "models_train_result", "models_train_job", "compare_scores")
_KEY = "workspace_key"              # session: this session's key, once synced


@dataclass
class Workspace:
    values: dict[str, Any] = field(default_factory=dict)
    touched: float = field(default_factory=time.time)


class WorkspaceStore:
    """Every workspace of this server process, by key (thread-safe: sessions run in their own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spaces: dict[str, Workspace] = {}

    def get(self, key: str | None) -> Workspace | None:
        with self._lock:
            self._expire()
            space = self._spaces.get(key) if key else None
            if space is not None:
                space.touched = time.time()
            return space

    def create(self) -> tuple[str, Workspace]:
        key = secrets.token_urlsafe(KEY_BYTES)
        with self._lock:
            self._expire()
            while len(self._spaces) >= MAX_WORKSPACES:
                del self._spaces[min(self._spaces, key=lambda k: self._spaces[k].touched)]
            space = self._spaces[key] = Workspace()
        return key, space

    def _expire(self) -> None:
        limit = time.time() - WORKSPACE_MAX_AGE_S
        for key in [k for k, space in self._spaces.items() if space.touched < limit]:
            del self._spaces[key]


@st.cache_resource(show_spinner=False)
def workspace_store() -> WorkspaceStore:
    return WorkspaceStore()


def _session_workspace() -> Workspace:
    """This session's workspace: the one its URL names when the server knows it, else a new one (and its key
    written into the URL)."""
    state = st.session_state
    store = workspace_store()
    key: str | None = state.get(_KEY) or st.query_params.get(WORKSPACE_PARAM)
    space = store.get(key)
    if key is None or space is None:
        key, space = store.create()
    state[_KEY] = key
    if st.query_params.get(WORKSPACE_PARAM) != key:
        st.query_params[WORKSPACE_PARAM] = key
    return space


def sync_workspace() -> None:
    """Called at the start and at the end of every run. A new session (the first call, after a reload) gets the
    results it lacks back from its workspace; after that the workspace mirrors the session: what it keeps, and
    what it dropped (a Clear button)."""
    fresh = _KEY not in st.session_state
    space = _session_workspace()
    state = st.session_state
    for name in KEPT_KEYS:
        if fresh and name not in state and name in space.values:
            state[name] = space.values[name]
        elif name in state:
            space.values[name] = state[name]
        else:
            space.values.pop(name, None)

"""User-facing errors: a page body never shows a traceback, a bad file gives one clear line."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from cam_core import CamInspectorError

log = logging.getLogger("cam_inspector.app")

UNEXPECTED_MESSAGE = ("Unexpected error: something went wrong on our side (details logged). Try again, or "
                      "try another image or model; if it persists, report it with the server log.")


def run_guarded(body: Callable[[], None]) -> None:
    """Run a page body; user errors become ``st.error`` lines, anything else a logged generic message.

    Streamlit's own control flow (rerun, stop) derives from ``BaseException`` and passes through.
    """
    try:
        body()
    except CamInspectorError as exc:
        show_error(exc)
    except Exception:  # noqa: BLE001 - the user must never see a traceback page
        log.exception("unexpected error on a CAM Inspector page")
        st.error(UNEXPECTED_MESSAGE)
    finally:
        from app_ui.workspace import sync_workspace

        sync_workspace()     # what the page kept (or dropped) is what a reload gets back


def show_error(exc: BaseException, prefix: str | None = None) -> None:
    """``st.error`` with the message of a :class:`CamInspectorError` (its text says what to do)."""
    if isinstance(exc, CamInspectorError):
        st.error(f"{prefix}: {exc}" if prefix else str(exc))
    else:
        log.error("unexpected %s: %s", type(exc).__name__, exc, exc_info=exc)
        st.error(f"{prefix + ': ' if prefix else ''}unexpected error (details logged).")


def error_line(name: str, exc: BaseException) -> str:
    """``"<name>: <message>"``, without repeating the name when the message already quotes it."""
    message = str(exc)
    return message if name and name in message else f"{name}: {message}"

"""Errors that carry a message meant for the user (CLI stderr line, ``st.error`` in the app)."""

from __future__ import annotations


class CamInspectorError(Exception):
    """Base class: the message says what went wrong and what to do. Never shown with a traceback."""


class InputError(CamInspectorError):
    """A user-supplied file (image, video, ZIP, name) cannot be used."""


class ModelError(CamInspectorError):
    """A model or checkpoint cannot be loaded or does not fit the request."""


class UnsupportedArchitectureError(ModelError):
    """The network does not end in conv -> global average pool -> one linear layer, so CAM cannot run."""

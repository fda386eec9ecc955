"""Which reader a model file needs, told by its suffix (no onnx import: safe for any process to use)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ONNX_SUFFIX", "is_onnx_file"]

ONNX_SUFFIX = ".onnx"


def is_onnx_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an ONNX graph (by its suffix, as everywhere in the product)."""
    return Path(path).suffix.lower() == ONNX_SUFFIX

"""Exported ONNX graphs of our PyTorch models, kept in a cache folder so each model file is exported once.

The file name is ``<model name>-<key>.onnx`` with ``key`` the first 24 hex digits of

    sha256(file sha256 | input size(s) | resize | opset | torch | onnx | onnxruntime versions | FORMAT)

so a changed model file, input size or library version gets a fresh export, never a stale graph. An export
is written atomically (:func:`cam_core.files.atomic_write`, through :func:`~cam_core.interop.export_onnx`,
which checks it against PyTorch before writing), so a half-written graph is never picked up; two processes
exporting at once both write a complete file and the last rename wins.

The folder is ``$CAM_INSPECTOR_ONNX_CACHE`` when set, else ``$XDG_CACHE_HOME/cam-inspector/onnx`` (default
``~/.cache/cam-inspector/onnx``). A ``resize: aspect`` model is exported once with dynamic height and width
and checked at every size the aspect rule can give (:func:`~cam_core.interop.onnx_export.check_sizes`).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import onnx
import onnxruntime
import torch

from cam_core.checkpoints import ModelBundle
from cam_core.errors import ModelError
from cam_core.files import sha256_of
from cam_core.interop.onnx_export import DEFAULT_OPSET, check_sizes, export_onnx
from cam_core.interop.onnx_model import read_onnx

__all__ = ["CACHE_ENV", "FORMAT", "cache_dir", "cache_key", "cached_graph"]

CACHE_ENV = "CAM_INSPECTOR_ONNX_CACHE"
FORMAT = 1   # bump when the export itself changes (a new graph for the same file and versions)


def cache_dir() -> Path:
    """The cache folder (created when missing): ``$CAM_INSPECTOR_ONNX_CACHE``, else the user's cache dir."""
    override = os.environ.get(CACHE_ENV)
    if override:
        folder = Path(override)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base) / "cam-inspector" / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cache_key(bundle: ModelBundle, file_hash: str, opset: int = DEFAULT_OPSET) -> str:
    """The 24-hex-digit key of ``bundle``'s export (see the module docstring)."""
    sizes = ",".join(f"{h}x{w}" for h, w in check_sizes(bundle))
    parts = [file_hash, sizes, bundle.card.resize, str(opset), torch.__version__, onnx.__version__,
             onnxruntime.__version__, str(FORMAT)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "model"


def cached_graph(bundle: ModelBundle, folder: Path | None = None) -> tuple[onnx.ModelProto, bool]:
    """``bundle``'s ONNX graph and whether it was exported now (False: read from the cache).

    Raises :class:`ModelError` when the bundle has no model file to key the cache by, or when the export
    fails or does not reproduce PyTorch (nothing is written then)."""
    source = Path(bundle.source) if bundle.source else None
    if source is None or not source.is_file():
        raise ModelError(f"{bundle.name} has no model file to key the ONNX cache by")
    folder = folder or cache_dir()
    path = folder / f"{_safe_stem(bundle.name)}-{cache_key(bundle, sha256_of(source))}.onnx"
    if path.is_file():
        try:
            return read_onnx(path), False
        except ModelError:   # damaged (e.g. the disk filled up before an old, non-atomic tool's write): redo
            path.unlink(missing_ok=True)
    export_onnx(bundle, path)
    return read_onnx(path), True

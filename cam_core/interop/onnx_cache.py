"""Exported ONNX graphs of our PyTorch models, kept in a cache folder so each model file is exported once.

The file name is ``<model name>-<key>.onnx`` with ``key`` the first 24 hex digits of

    sha256(file sha256 | input size(s) | resize | opset | torch | onnx | onnxruntime versions | FORMAT)

so a changed model file, input size or library version gets a fresh export, never a stale graph. An export
is written atomically (:func:`cam_core.files.atomic_write`, through :func:`~cam_core.interop.export_onnx`,
which checks it against PyTorch before writing), so a half-written graph is never picked up; two processes
exporting at once both write a complete file and the last rename wins.

The folder is ``$CAM_INSPECTOR_ONNX_CACHE`` when set, else ``$XDG_CACHE_HOME/cam-inspector/onnx`` (default
``~/.cache/cam-inspector/onnx``). A ``resize: aspect`` model is exported once with dynamic height and width
and checked at every size the aspect rule can give (:func:`~cam_core.interop.onnx_targets.check_sizes`).

The engine opens an export through :func:`engine_runtime`. The first time, it reads the graph's CAM head and
image input (:class:`~cam_core.interop.onnx_cam.RuntimeSpec`) and adds the pooled features as an output; it keeps
both beside the export (``<stem>.cam1.onnx``, the graph as onnxruntime runs it, and ``<stem>.cam1.npz``, the spec),
so every later process opens the engine with onnxruntime alone: importing onnx costs about a second. A damaged
or unreadable pair is prepared again from the export. :func:`engine_files` names the three files kept beside an
export: that pair and ``<stem>.cam1.verified.json``, the record of the engine's check against PyTorch.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime
import torch

from cam_core.errors import ModelError
from cam_core.files import atomic_write, sha256_of
from cam_core.interop.onnx_cam import OnnxCamRuntime, RuntimeSpec
from cam_core.interop.onnx_targets import DEFAULT_OPSET, check_sizes

if TYPE_CHECKING:
    import onnx

    from cam_core.checkpoints import ModelBundle

__all__ = ["CACHE_ENV", "FORMAT", "EngineFiles", "cache_dir", "cache_key", "cached_graph", "engine_files",
           "engine_runtime"]

CACHE_ENV = "CAM_INSPECTOR_ONNX_CACHE"
FORMAT = 1   # bump when the export itself changes (a new graph for the same file and versions)
RUNTIME_FORMAT = 1   # bump when what is kept beside an export for the engine changes (its files' suffix)


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
    parts = [file_hash, sizes, bundle.card.resize, str(opset), torch.__version__, importlib.metadata.version("onnx"),
             onnxruntime.__version__, str(FORMAT)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "model"


def export_onnx(bundle: ModelBundle, path: Path, **options: Any) -> Any:
    """:func:`cam_core.interop.onnx_export.export_onnx`, imported when a graph is first exported (it needs onnx
    and the exporter)."""
    from cam_core.interop.onnx_export import export_onnx as export

    return export(bundle, path, **options)


def _graph_path(bundle: ModelBundle, folder: Path | None) -> Path:
    source = Path(bundle.source) if bundle.source else None
    if source is None or not source.is_file():
        raise ModelError(f"{bundle.name} has no model file to key the ONNX cache by")
    return (folder or cache_dir()) / f"{_safe_stem(bundle.name)}-{cache_key(bundle, sha256_of(source))}.onnx"


@dataclass(frozen=True)
class EngineFiles:
    """What the engine keeps beside an export: the graph as onnxruntime runs it, its spec, and the record of its
    check against PyTorch (:mod:`cam_core.interop.onnx_engine`)."""

    graph: Path
    spec: Path
    verified: Path


def engine_files(bundle: ModelBundle, folder: Path | None = None) -> EngineFiles:
    """The :class:`EngineFiles` of ``bundle``'s export (they may not exist yet)."""
    path = _graph_path(bundle, folder)
    stem = f"{path.stem}.cam{RUNTIME_FORMAT}"
    return EngineFiles(path.with_name(f"{stem}.onnx"), path.with_name(f"{stem}.npz"),
                       path.with_name(f"{stem}.verified.json"))


def cached_graph(bundle: ModelBundle, folder: Path | None = None) -> tuple[onnx.ModelProto, bool]:
    """``bundle``'s ONNX graph and whether it was exported now (False: read from the cache).

    Raises :class:`ModelError` when the bundle has no model file to key the cache by, or when the export
    fails or does not reproduce PyTorch (nothing is written then)."""
    from cam_core.interop.onnx_model import read_onnx

    path = _graph_path(bundle, folder)
    if path.is_file():
        try:
            return read_onnx(path), False
        except ModelError:   # damaged (e.g. the disk filled up before an old, non-atomic tool's write): redo
            path.unlink(missing_ok=True)
    export_onnx(bundle, path)
    return read_onnx(path), True


def engine_runtime(bundle: ModelBundle, folder: Path | None = None, label: str = "ONNX engine",
                   files: EngineFiles | None = None) -> OnnxCamRuntime:
    """The onnxruntime CAM runtime of ``bundle``'s export, opened from the pair kept beside it when there is one
    (see the module docstring), else prepared from the export (exported first when needed) and kept.
    :class:`ModelError` as :func:`cached_graph`."""
    files = files or engine_files(bundle, folder)   # given by a caller that already hashed the model file
    graph_file, spec_file = files.graph, files.spec
    if graph_file.is_file() and spec_file.is_file():
        try:
            with np.load(spec_file, allow_pickle=False) as arrays:
                spec = RuntimeSpec.from_arrays(arrays)
            return OnnxCamRuntime.prepared(graph_file.read_bytes(), spec, label)
        except (ModelError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):   # damaged: prepare again
            graph_file.unlink(missing_ok=True)
            spec_file.unlink(missing_ok=True)
    model, _ = cached_graph(bundle, folder)
    spec = RuntimeSpec.of(model)
    graph = spec.graph_bytes(model)
    runtime = OnnxCamRuntime.prepared(graph, spec, label)
    with atomic_write(spec_file) as handle:
        np.savez(handle, **spec.arrays())  # type: ignore[arg-type]  # the stub types **arrays as allow_pickle
    with atomic_write(graph_file) as handle:
        handle.write(graph)
    return runtime

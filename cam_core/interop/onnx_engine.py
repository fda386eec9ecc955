"""ONNX Runtime as the CPU engine for the CAM of our PyTorch models, checked against PyTorch before use.

:func:`engine_extractor` takes a PyTorch :class:`~cam_core.checkpoints.ModelBundle`, gets its graph from the
cache (:func:`~cam_core.interop.onnx_cache.engine_runtime`: exported once per model file, later opened
without importing onnx), opens an onnxruntime session and, before the first call, runs a probe batch through
both engines at every input size the model is ever run at (one for ``square``, every aspect-rule size for
``aspect``: the graph has dynamic height and width). It is used only when, at each size,

    max|M_onnx − M_torch| ≤ VERIFY_RTOL · max|M_torch|      and the same for the logits (``+ 1`` below)

and raises :class:`ModelError` otherwise (the caller falls back to PyTorch with the reason). A passed check is
recorded beside the graph (:attr:`~cam_core.interop.onnx_cache.EngineFiles.verified`: the graph's SHA-256, the
tolerance and the probe), so a later process opening the very same graph with the same tolerance skips the probe
(measured for Lite0 at 320 px: 0.17 s on the idle 2-core CPU, 1.4 s under load); any change to the graph, the model file, the input sizes or the
library versions (all in the cache key) means a new check. The returned
:class:`~cam_core.interop.onnx_cam.OnnxCAM` checks the CAM identity ``mean(M_c) + b_c = z_c`` on every call.
A verified runtime is kept per model object, so CAM and flip-averaged CAM of one model share one session
(``InferenceSession.run`` is thread-safe).
"""

from __future__ import annotations

import json
import threading
import weakref
from pathlib import Path

import torch
from torch import nn

from cam_core.checkpoints import ModelBundle
from cam_core.engine.methods import make_extractor
from cam_core.errors import ModelError
from cam_core.files import atomic_write, sha256_of
from cam_core.interop.onnx_cache import EngineFiles, engine_files, engine_runtime
from cam_core.interop.onnx_cam import OnnxCAM, OnnxCamRuntime
from cam_core.interop.onnx_targets import check_sizes
from cam_core.memory import release_free_memory

__all__ = ["VERIFY_RTOL", "engine_extractor", "verify_runtime"]

VERIFY_RTOL = 1e-5
PROBE_SEED = 20240
RECORD_FORMAT = 1

_runtimes: weakref.WeakKeyDictionary[nn.Module, OnnxCamRuntime] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _relative(have: torch.Tensor, want: torch.Tensor, floor: float = 0.0) -> float:
    return float((have - want).abs().max()) / max(float(want.abs().max()) + floor, 1e-12)


def verify_runtime(bundle: ModelBundle, runtime: OnnxCamRuntime) -> float:
    """Worst relative map difference, onnxruntime vs PyTorch CAM, over a probe batch at every input size;
    :class:`ModelError` when maps or logits differ by more than :data:`VERIFY_RTOL`."""
    generator = torch.Generator().manual_seed(PROBE_SEED)
    worst = 0.0
    with make_extractor("cam", bundle.model) as cam:
        for height, width in check_sizes(bundle):
            probe = torch.randn(2, 3, height, width, generator=generator)
            want = cam(probe)
            logits, maps = runtime.explain(probe)
            if maps.shape != want.maps.shape:
                raise ModelError(f"the ONNX graph gives {tuple(maps.shape[-2:])} maps at {height}×{width}, "
                                 f"PyTorch {tuple(want.maps.shape[-2:])}")
            map_error = _relative(maps, want.maps)
            logit_error = _relative(logits, want.logits, floor=1.0)
            if not (map_error <= VERIFY_RTOL and logit_error <= VERIFY_RTOL):
                raise ModelError(f"onnxruntime differs from PyTorch at {height}×{width}: maps by {map_error:.2g}, "
                                 f"logits by {logit_error:.2g} relative (limit {VERIFY_RTOL:g})")
            worst = max(worst, map_error)
    return worst


def _check_once(bundle: ModelBundle, runtime: OnnxCamRuntime, files: EngineFiles) -> None:
    """:func:`verify_runtime` unless this very graph passed the same check before (its record says so)."""
    check = {"format": RECORD_FORMAT, "graph_sha256": sha256_of(files.graph), "rtol": VERIFY_RTOL,
             "probe_seed": PROBE_SEED}
    try:
        record = json.loads(files.verified.read_text(encoding="utf-8"))
        if isinstance(record, dict) and all(record.get(key) == value for key, value in check.items()):
            return
    except (OSError, ValueError):   # no record yet, or an unreadable one: check
        pass
    worst = verify_runtime(bundle, runtime)
    release_free_memory()   # the PyTorch probe's activations (cam_core.memory)
    try:
        with atomic_write(files.verified, "w") as handle:
            json.dump({**check, "worst_map_error": worst}, handle)
    except OSError:   # a read-only cache: the next process checks again
        pass


def engine_extractor(bundle: ModelBundle, folder: Path | None = None) -> OnnxCAM:
    """A verified onnxruntime CAM extractor for the PyTorch model of ``bundle`` (CPU only), or ModelError."""
    if bundle.device.type != "cpu":
        raise ModelError("the ONNX engine runs on the CPU; this model is on " + bundle.device.type)
    with _lock:
        runtime = _runtimes.get(bundle.model)
        if runtime is None:
            files = engine_files(bundle, folder)
            runtime = engine_runtime(bundle, folder, label=f"{bundle.name} (ONNX engine)", files=files)
            _check_once(bundle, runtime, files)
            _runtimes[bundle.model] = runtime
    return OnnxCAM(runtime)

"""The one way consumers (CLI, app, Compare, video, evaluate, report) build an :class:`Explainer`.

:func:`make_explainer` picks the engine (:class:`~cam_core.engine.backend.Backend`): for CAM and
flip-averaged CAM of a PyTorch model on the CPU, onnxruntime when it is installed and its graph reproduces
PyTorch (:func:`cam_core.interop.onnx_engine.engine_extractor`); PyTorch otherwise, with a note that says
why (logged, and shown on every caption through :attr:`Explainer.backend`). Grad-CAM, a chosen layer and
CUDA always run on PyTorch; an ``.onnx`` model file always runs on onnxruntime.
"""

from __future__ import annotations

import logging
import os

from cam_core.checkpoints import ModelBundle
from cam_core.engine.backend import BACKEND_ENV, Backend, BackendChoice, onnxruntime_available
from cam_core.errors import CamInspectorError, InputError
from cam_core.explain.pipeline import Explainer, Extractor

__all__ = ["default_backend", "make_explainer", "parse_backend"]

log = logging.getLogger(__name__)


def parse_backend(value: str | Backend | None) -> Backend:
    """``value`` as a :class:`Backend` (None: ``$CAM_INSPECTOR_BACKEND``, else ``auto``); InputError when unknown."""
    if value is None:
        value = os.environ.get(BACKEND_ENV) or Backend.AUTO
    try:
        return Backend(str(value).lower())
    except ValueError:
        raise InputError(f"unknown backend {value!r}; choose {', '.join(b.value for b in Backend)}") from None


def default_backend() -> Backend:
    return parse_backend(None)


def _torch_reason(bundle: ModelBundle, method: str, layer: str | None) -> str | None:
    """Why this explainer must run on PyTorch whatever was asked, or None."""
    if method.lower().replace("-", "").replace("_", "") != "cam":
        return "gradient methods run on PyTorch"
    if bundle.device.type != "cpu":
        return f"{bundle.device.type.upper()} runs on PyTorch"
    if layer is not None:
        return "a chosen layer runs on PyTorch"
    if not onnxruntime_available():
        return "onnxruntime is not installed"
    return None


def _engine(bundle: ModelBundle, method: str, layer: str | None, backend: Backend
            ) -> tuple[BackendChoice, Extractor | None]:
    if getattr(type(bundle.model), "cam_extractor", None) is not None:   # an .onnx file: its own extractor
        note = "an ONNX model file runs on onnxruntime" if backend == Backend.TORCH else ""
        return BackendChoice("onnx", note), None
    if backend == Backend.TORCH:
        return BackendChoice("torch"), None
    reason = _torch_reason(bundle, method, layer)
    if reason is not None:
        return BackendChoice("torch", reason if backend == Backend.ONNX else ""), None
    from cam_core.interop.onnx_engine import engine_extractor

    try:
        return BackendChoice("onnx"), engine_extractor(bundle)
    except (CamInspectorError, OSError, RuntimeError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        note = f"ONNX engine not used: {text}"
        log.warning("%s: %s; running PyTorch", bundle.name, note)
        return BackendChoice("torch", note), None


def make_explainer(bundle: ModelBundle, method: str = "cam", *, backend: str | Backend | None = None,
                   layer: str | None = None, batch_size: int = 16, flip_average: bool = False) -> Explainer:
    """An :class:`Explainer` for ``bundle`` and ``method`` on the engine ``backend`` picks (see the module
    docstring); ``explainer.backend`` says which one runs and, after a fallback, why."""
    choice, extractor = _engine(bundle, method, layer, parse_backend(backend))
    if choice.note:
        log.info("%s, %s: %s", bundle.name, method, choice.label)
    return Explainer(bundle, method, layer, batch_size=batch_size, flip_average=flip_average,
                     extractor=extractor, backend=choice)

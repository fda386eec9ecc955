"""Bring your own model: ONNX graphs explained with CAM (and PyTorch state dicts of the known architectures).

Submodules are imported on first use (PEP 562 ``__getattr__``), so importing one of them, e.g. the
child-process loader, never pulls in onnx/onnxruntime, and ``cam_core.checkpoints`` can hand ``.onnx`` files
here without an import cycle (``cam_core.models`` reads the suffix rule from ``formats``). Add a name to ``_LAZY`` (and to the ``TYPE_CHECKING`` block) to export it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cam_core.interop.formats import ONNX_SUFFIX, is_onnx_file
    from cam_core.interop.onnx_cam import (
        GRADCAM_REFUSAL,
        OnnxCAM,
        OnnxCamRuntime,
        OnnxModule,
        is_onnx_model,
        onnx_extractor,
    )
    from cam_core.interop.onnx_export import DEFAULT_OPSET, OnnxExport, export_onnx
    from cam_core.interop.onnx_graph import CamHead, find_cam_head
    from cam_core.interop.onnx_model import load_onnx, read_onnx, read_onnx_card
    from cam_core.interop.statedict import ImportResult, import_weights, parse_classes
    from cam_core.interop.statedict_detect import ArchFit, fit_architecture
    from cam_core.interop.statedict_read import LoadLimits, WeightsFile, read_weights, sniff_format

_LAZY: dict[str, str] = {
    **dict.fromkeys(("GRADCAM_REFUSAL", "OnnxCAM", "OnnxCamRuntime", "OnnxModule", "is_onnx_model",
                     "onnx_extractor"), "cam_core.interop.onnx_cam"),
    **dict.fromkeys(("DEFAULT_OPSET", "OnnxExport", "export_onnx"), "cam_core.interop.onnx_export"),
    **dict.fromkeys(("CamHead", "find_cam_head"), "cam_core.interop.onnx_graph"),
    **dict.fromkeys(("ONNX_SUFFIX", "is_onnx_file"), "cam_core.interop.formats"),
    **dict.fromkeys(("load_onnx", "read_onnx", "read_onnx_card"), "cam_core.interop.onnx_model"),
    **dict.fromkeys(("ImportResult", "import_weights", "parse_classes"), "cam_core.interop.statedict"),
    **dict.fromkeys(("ArchFit", "fit_architecture"), "cam_core.interop.statedict_detect"),
    **dict.fromkeys(("LoadLimits", "WeightsFile", "read_weights", "sniff_format"), "cam_core.interop.statedict_read"),
}

__all__ = [
    "CamHead", "DEFAULT_OPSET", "GRADCAM_REFUSAL", "ONNX_SUFFIX", "OnnxCAM", "OnnxCamRuntime", "OnnxExport",
    "OnnxModule", "export_onnx", "find_cam_head", "is_onnx_file", "is_onnx_model", "load_onnx", "onnx_extractor", "read_onnx",
    "read_onnx_card",
    # PyTorch state dicts (statedict*.py)
    "ArchFit", "ImportResult", "LoadLimits", "WeightsFile", "fit_architecture", "import_weights", "parse_classes",
    "read_weights", "sniff_format",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The option groups that several commands share: the model options (:func:`add_model_args`) and the view options
(:func:`add_view_args`). :mod:`cam_core.cli` and the batch commands (:mod:`cam_core.batch.cli_commands`) both
use them, so this module imports neither."""

from __future__ import annotations

import argparse

from cam_core.checkpoints import DEFAULT_MODEL
from cam_core.options import Colormap, Device, Method, ViewSettings, choices

__all__ = ["add_model_args", "add_view_args"]


def add_model_args(p: argparse.ArgumentParser, method: bool = True) -> None:
    """``--model`` and ``--device``; with ``method``, also ``--method``, ``--flip-average`` and ``--backend``."""
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"shipped/user model name, .safetensors or .onnx path, or torchvision:ARCH "
                        f"(default {DEFAULT_MODEL}; ONNX models: CAM only)")
    p.add_argument("--device", default=Device.AUTO.value, choices=choices(Device))
    if method:
        p.add_argument("--method", default=Method.CAM.value, choices=choices(Method))
        p.add_argument("--flip-average", action="store_true",
                       help="CAM only: average maps and logits with the mirrored image (2 passes)")
        p.add_argument("--backend", default=None, choices=["auto", "onnx", "torch"],
                       help="CPU engine for CAM: auto (default, or $CAM_INSPECTOR_BACKEND) = onnxruntime when "
                            "installed and checked against PyTorch, else PyTorch; Grad-CAM and CUDA: PyTorch")


def add_view_args(p: argparse.ArgumentParser) -> None:
    """``--opacity`` and ``--colormap`` (their ranges are checked by :class:`~cam_core.options.ViewSettings`)."""
    p.add_argument("--opacity", type=float, default=ViewSettings.opacity, help="0 (image only) to 1 (map only)")
    p.add_argument("--colormap", default=ViewSettings.colormap.value, choices=choices(Colormap))

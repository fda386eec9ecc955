"""Any model a user names, whatever its format: the front door above :mod:`cam_core.checkpoints` (our
safetensors files with their card) and :mod:`cam_core.interop` (ONNX graphs, explained with CAM).

A model is named in one of three ways (:func:`load_model`): a shipped or user model's name, a path to a
``.safetensors`` or ``.onnx`` file, or ``torchvision:ARCH`` (ImageNet weights from the local torch cache
only). Names and folders are :mod:`cam_core.checkpoints.registry`'s; this module only opens the files,
choosing the reader by the file's suffix. ``onnx``/``onnxruntime`` are imported only for an ONNX file, and
PyTorch only when a network is opened (reading a card needs neither).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cam_core.checkpoints.card import ModelCard
from cam_core.checkpoints.header import read_card
from cam_core.checkpoints.registry import TORCHVISION_PREFIX, list_models, resolve_model_path
from cam_core.interop.formats import ONNX_SUFFIX, is_onnx_file

if TYPE_CHECKING:
    from cam_core.checkpoints.bundle import ModelBundle

__all__ = ["ONNX_SUFFIX", "is_onnx_file", "load_model", "open_card", "open_model", "open_model_card"]


def open_card(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated model card of a model file: a safetensors header, or an ONNX file's metadata (or the
    minimal card of a foreign graph, with its assumptions in ``notes``)."""
    if is_onnx_file(path):
        from cam_core.interop import read_onnx_card

        return read_onnx_card(Path(path))
    return read_card(Path(path))


def open_model_card(path: str | os.PathLike[str]) -> ModelCard:
    """:func:`open_card`, typed."""
    return ModelCard.from_dict(open_card(path))


def open_model(path: str | os.PathLike[str], device: str = "auto", name: str | None = None) -> ModelBundle:
    """Load a model file: ours (weights checked against the card's architecture) or an ONNX graph (its CAM
    head found and checked; CPU only)."""
    if is_onnx_file(path):
        from cam_core.interop import load_onnx

        return load_onnx(Path(path), device, name=name)
    from cam_core.checkpoints.bundle import load_checkpoint

    return load_checkpoint(Path(path), device, name=name)


def load_model(spec: str | os.PathLike[str], device: str = "auto") -> ModelBundle:
    """Load a model by shipped/user name, by path (``.safetensors`` or ``.onnx``), or as ``torchvision:ARCH``."""
    spec = os.fspath(spec)
    if spec.startswith(TORCHVISION_PREFIX):
        from cam_core.checkpoints.bundle import load_torchvision

        return load_torchvision(spec.split(":", 1)[1], device)
    named = list_models()
    if spec in named:
        return open_model(named[spec], device, name=spec)
    path = resolve_model_path(spec)
    return open_model(path, device, name=path.stem)

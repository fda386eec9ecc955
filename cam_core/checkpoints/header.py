"""A model file's card, read from its safetensors header alone: no weights and no network library are loaded,
so the app can list models and draw its controls before PyTorch is imported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from cam_core.checkpoints.card import CARD_KEY, ModelCard, validate_card
from cam_core.engine.names import KNOWN_ARCHITECTURES
from cam_core.errors import ModelError

__all__ = ["MAX_CHECKPOINT_BYTES", "read_card", "read_model_card"]

MAX_CHECKPOINT_BYTES = 600 * 1024**2


def read_card(path: str | Path) -> dict[str, Any]:
    """The model card of a safetensors file, validated; reads only the header (any format:
    :func:`cam_core.models.open_card`)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        raise ModelError(f"{path.name} is an ONNX graph, not a safetensors checkpoint (cam_core.models.open_model "
                         "reads both)")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.suffix.lower() in {".pt", ".pth", ".ckpt", ".pkl", ".bin"}:
        raise ModelError(f"{path.name}: only .safetensors checkpoints are accepted (pickle-based files can run "
                         "code when loaded). Re-export the weights with safetensors.")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise ModelError(f"{path.name} is larger than {MAX_CHECKPOINT_BYTES // 1024**2} MB; refusing to load it")
    try:
        with safe_open(str(path), framework="numpy") as handle:   # the metadata only: no tensor is read
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a readable safetensors file ({exc})") from None
    if CARD_KEY not in metadata:
        raise ModelError(f"{path.name} has no CAM Inspector model card in its metadata (architecture, classes, "
                         "input size); it was not written by `python -m cam_core train`")
    try:
        card = json.loads(metadata[CARD_KEY])
    except json.JSONDecodeError:
        raise ModelError(f"{path.name}: its model card is not valid JSON") from None
    validate_card(card, path.name, KNOWN_ARCHITECTURES)
    return card


def read_model_card(path: str | Path) -> ModelCard:
    """:func:`read_card`, typed."""
    return ModelCard.from_dict(read_card(path))

"""ONNX files as models of the product: read safely, give them a model card, load them as a ModelBundle.

Reading an ONNX file parses a protobuf and never runs code from it; files whose weights live in external
files are refused (they could name any path on the server). The card travels inside the file when we wrote
it (:func:`~cam_core.interop.onnx_export.export_onnx` stores it as ``metadata_props["cam_inspector"]``);
a graph from elsewhere gets a minimal card with its assumptions written in ``card["notes"]``: classes
``ok, ng`` for two outputs (output 1, ``ng``, is the defect class) or for one (a single logit, ``P(ng) = σ(z)``,
``head_type: single-logit``), else ``class0 … class{C−1}``, ImageNet
mean/std, and the graph's own input size (224×224 when it is not fixed); that card passes the same checks as
ours (sides of 16 to 2048 px), so a graph that declares a huge input is refused before anything is allocated. ``card["origin"]`` says where the
model came from: the file, ``format: onnx``, the architecture when known, and the head that CAM reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import onnx.numpy_helper
import torch
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from cam_core.checkpoints import (
    CARD_KEY,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MAX_CHECKPOINT_BYTES,
    ModelBundle,
    ModelCard,
    validate_card,
)
from cam_core.domain import DOMAIN_PREFIX, DomainModel, split_domain
from cam_core.engine.heads import SINGLE_LOGIT
from cam_core.errors import ModelError
from cam_core.interop.onnx_cam import OnnxCamRuntime, OnnxModule, _image_input
from cam_core.interop.onnx_graph import CamHead, find_cam_head

__all__ = ["default_classes", "load_onnx", "read_onnx", "read_onnx_card"]

DEFAULT_INPUT_SIZE = 224


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file (size-limited, no external data, nothing run) or raise a one-line ModelError."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise ModelError(f"{path.name} is larger than {MAX_CHECKPOINT_BYTES // 1024**2} MB; refusing to load it")
    try:
        model = onnx.load_model_from_string(path.read_bytes())
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"{path.name} is not a readable ONNX file ({str(exc)[:120] or type(exc).__name__})") from None
    if not model.graph.node:
        raise ModelError(f"{path.name} is not a readable ONNX file (its graph has no nodes)")
    if any(external_data_helper.uses_external_data(t) for t in model.graph.initializer):
        raise ModelError(f"{path.name} keeps its weights in separate files (ONNX external data), which are not "
                         "accepted: save the model as one .onnx file")
    return model


def default_classes(count: int) -> tuple[list[str], str]:
    """Class names for a graph that does not carry them, and the card note that says so."""
    if count == 1:
        return ["ok", "ng"], ("class names are not in the file: its single logit z is read as P(ng) = sigmoid(z), "
                              "ng the defect class (logits -z/2, +z/2)")
    if count == 2:
        return ["ok", "ng"], "class names are not in the file: output 0 is taken as ok, output 1 as ng (the defect class)"
    return [f"class{i}" for i in range(count)], (f"class names are not in the file: class0 … class{count - 1}; "
                                                  "no defect class")


def _stored_card(model: onnx.ModelProto, label: str) -> dict[str, Any] | None:
    props = {p.key: p.value for p in model.metadata_props}
    if CARD_KEY not in props:
        return None
    try:
        card = json.loads(props[CARD_KEY])
    except json.JSONDecodeError:
        raise ModelError(f"{label}: its model card (metadata '{CARD_KEY}') is not valid JSON") from None
    if not isinstance(card, dict):
        raise ModelError(f"{label}: its model card must be a JSON object")
    return card


def _check_card(card: dict[str, Any], head: CamHead, label: str) -> None:
    classes = card.get("classes")
    count = 2 if head.single_logit else head.num_classes
    if not (isinstance(classes, list) and len(classes) == count):
        raise ModelError(f"{label}: its model card's classes do not match the graph's {head.num_classes} outputs")
    validate_card(card, label)   # names, input size, mean/std, resize: as for our safetensors files


def _minimal_card(model: onnx.ModelProto, head: CamHead) -> dict[str, Any]:
    _, dims, _ = _image_input(model)
    classes, class_note = default_classes(head.num_classes)
    notes = [class_note, "normalisation is not in the file: ImageNet mean/std assumed"]
    height, width = dims[2], dims[3]
    if height is None or width is None:
        height = height or DEFAULT_INPUT_SIZE
        width = width or DEFAULT_INPUT_SIZE
        notes.append(f"the graph's input size is not fixed: {height}×{width} assumed")
    return {"arch": "onnx", "classes": classes, "input_size": [int(height), int(width)], "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD), "resize": "square", "defect_class": "ng" if classes == ["ok", "ng"] else None,
            "notes": notes}


def _check_foreign_card(card: dict[str, Any], label: str) -> None:
    """A card made from a foreign graph passes the same checks as ours (:func:`validate_card`), so a declared
    input size outside the cards' bounds is refused here, before any session exists or any input is made."""
    try:
        validate_card(card, label)
    except ModelError as exc:
        height, width = card["input_size"]
        raise ModelError(f"{exc} (the graph declares a {height}×{width} input); re-export it with a smaller fixed "
                         "input size") from None


def _head_type(head: CamHead) -> str:
    return SINGLE_LOGIT if head.single_logit else head.kind


def _origin(path: Path, model: onnx.ModelProto, head: CamHead, arch: str | None) -> dict[str, Any]:
    producer = f"{model.producer_name} {model.producer_version}".strip()
    origin: dict[str, Any] = {"format": "onnx", "file": path.name, "architecture": arch or "not recorded in the file",
                              "head": head.head, "head_type": _head_type(head), "feature_tensor": head.features}
    if producer:
        origin["producer"] = producer
    if head.probabilities_output:
        origin["output"] = f"{head.output} probabilities; CAM reads the logits before the {head.output}"
    return origin


def card_of(path: Path, model: onnx.ModelProto, head: CamHead) -> dict[str, Any]:
    """The model card of a parsed ONNX file: ours from its metadata, else a minimal one with notes."""
    stored = _stored_card(model, path.name)
    if stored is not None:
        _check_card(stored, head, path.name)
        card = dict(stored)
        arch = card.get("arch") if isinstance(card.get("arch"), str) else None
    else:
        card, arch = _minimal_card(model, head), None
        _check_foreign_card(card, path.name)
        card["training"] = {"source": f"ONNX file {path.name}; not trained here"}
    card.setdefault("head_type", _head_type(head))
    card["origin"] = _origin(path, model, head, arch)
    return card


def read_onnx_card(path: str | Path) -> dict[str, Any]:
    """The model card of an ONNX file (the graph is checked for a CAM head; nothing is run)."""
    path = Path(path)
    model = read_onnx(path)
    return card_of(path, model, _head_or_refuse(model, path.name))


def _head_or_refuse(model: onnx.ModelProto, label: str) -> CamHead:
    try:
        return find_cam_head(model)
    except ModelError as exc:
        raise ModelError(f"{label}: CAM cannot explain this ONNX graph: {exc}") from None


def load_onnx(path: str | Path, device: str = "auto", name: str | None = None) -> ModelBundle:
    """An ONNX file as a :class:`ModelBundle` whose ``model`` is an :class:`OnnxModule` (CPU, onnxruntime)."""
    path = Path(path)
    if device == "cuda":
        raise ModelError(f"{path.name}: ONNX models run on the CPU here (onnxruntime); use --device cpu or auto")
    model = read_onnx(path)
    head = _head_or_refuse(model, path.name)
    card = card_of(path, model, head)
    runtime = OnnxCamRuntime(model, label=path.name, head=head)
    typed = ModelCard.from_dict(card)
    return ModelBundle(name=name or path.stem, model=OnnxModule(runtime), card=typed, source=str(path),
                       domain=_domain_of(model, typed, path.name))


def _domain_of(model: onnx.ModelProto, card: ModelCard, label: str) -> DomainModel | None:
    """The domain check an exported model of ours carries (card ``domain`` + initializer ``domain.reference``)."""
    tensors = {init.name: torch.from_numpy(onnx.numpy_helper.to_array(init).copy())
               for init in model.graph.initializer if init.name.startswith(DOMAIN_PREFIX)}
    _, domain = split_domain(tensors, card.domain, label) if tensors else ({}, None)
    return domain

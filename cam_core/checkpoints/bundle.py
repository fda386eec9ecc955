"""Model files: safetensors weights with the model card in their metadata. Loading never unpickles.

:func:`save_checkpoint` writes ``<name>.safetensors`` (card as JSON under the metadata key
:data:`~cam_core.checkpoints.card.CARD_KEY`) and a copy of the card as ``<name>.json`` for people to read;
:func:`load_checkpoint` reads one back into a :class:`ModelBundle` (the weights checked against the card's
architecture); :func:`load_torchvision` loads torchvision's ImageNet classifiers from the local cache only.
Names and folders live in :mod:`cam_core.checkpoints.registry` (opening any model file: :mod:`cam_core.models`),
the card in :mod:`cam_core.checkpoints.card`, the defect-class rule in :mod:`cam_core.checkpoints.classes`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from cam_core.checkpoints.card import (
    CARD_KEY,
    FORMAT_VERSION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESIZE_MODES,
    DataKind,
    ModelCard,
)
from cam_core.checkpoints.header import MAX_CHECKPOINT_BYTES, read_card, read_model_card
from cam_core.domain import DomainModel, split_domain
from cam_core.engine.architectures import build_model
from cam_core.engine.imagenet import read_state_dict, torchvision_cache_file
from cam_core.errors import ModelError
from cam_core.files import atomic_path, atomic_write

__all__ = [
    "ASPECT_STEP", "MAX_ASPECT", "MAX_CHECKPOINT_BYTES", "SIZE_MULTIPLE", "ModelBundle", "fitted_input_size",
    "load_checkpoint", "load_torchvision", "pick_device", "read_card", "read_model_card", "save_checkpoint",
]

IMAGENET_TEXT = "ImageNet-1k photographs (1000 everyday object classes, no OK/NG parts)"
ASPECT_STEP = 2.0 ** 0.25        # aspect ratios are rounded to powers of this (≈ 1.19), so sizes repeat
MAX_ASPECT = 3.0                 # wider or taller images are squashed to 3:1
SIZE_MULTIPLE = 32               # every network here has stride 32 at most


def fitted_input_size(width: int, height: int, base: tuple[int, int], resize: str = "square") -> tuple[int, int]:
    """Network input ``(height, width)`` for a ``width × height`` image.

    ``square``: always ``base``. ``aspect``: about the same pixel count as ``base`` at the image's own aspect
    ratio ``a = W/H``, clamped to ``[1/3, 3]`` and rounded to ``ASPECT_STEP^k`` (so images of similar shape
    share a size and can be batched): ``h = 32·round(√(H_b·W_b/a)/32)``, ``w = 32·round(√(H_b·W_b·a)/32)``,
    each at least 32 px.
    """
    if resize == "square":
        return base
    if resize != "aspect":
        raise ValueError(f"unknown resize mode {resize!r}; known: {', '.join(RESIZE_MODES)}")
    aspect = min(max(width / max(1, height), 1.0 / MAX_ASPECT), MAX_ASPECT)
    aspect = ASPECT_STEP ** round(np.log(aspect) / np.log(ASPECT_STEP))
    area = base[0] * base[1]

    def snap(value: float) -> int:
        return max(SIZE_MULTIPLE, SIZE_MULTIPLE * round(value / SIZE_MULTIPLE))

    return snap(np.sqrt(area / aspect)), snap(np.sqrt(area * aspect))


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


@dataclass
class ModelBundle:
    """A ready-to-run network and its card: every fact about the model (classes, input size, normalisation, defect
    class, what it was trained on, ranges) is the card's (:class:`~cam_core.checkpoints.card.ModelCard`), read
    once when the file is opened."""

    name: str
    model: nn.Module
    card: ModelCard
    source: str = ""
    domain: DomainModel | None = None               # the domain check (card ``domain`` + its tensors), if any

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def arch(self) -> str:
        """The architecture as shown (:attr:`ModelCard.arch_label`)."""
        return self.card.arch_label

    @property
    def classes(self) -> tuple[str, ...]:
        return self.card.classes

    @property
    def input_size(self) -> tuple[int, int]:
        """``(height, width)`` of the network input (``square``; ``aspect`` sizes: :meth:`input_size_for`)."""
        return (int(self.card.input_size[0]), int(self.card.input_size[1]))

    @property
    def trained_on(self) -> str:
        """What the model was trained on, in words (:attr:`ModelCard.trained_on_text`), for every verdict shown."""
        return self.card.trained_on_text

    def input_size_for(self, image: Image.Image | np.ndarray) -> tuple[int, int]:
        """The ``(height, width)`` this image is resized to (:func:`fitted_input_size`)."""
        width, height = image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])
        return fitted_input_size(width, height, self.input_size, self.card.resize)

    def preprocess(self, images: Sequence[Image.Image | np.ndarray],
                   size: tuple[int, int] | None = None) -> torch.Tensor:
        """Resize (bilinear) to ``size`` (default: the input size) and normalise: RGB images → N×3×H×W floats.

        With ``resize == "aspect"`` images of different shapes get different sizes: group them by
        :meth:`input_size_for` and call this once per size (as :class:`~cam_core.explain.pipeline.Explainer` does).
        """
        height, width = size or self.input_size
        mean = torch.tensor(self.card.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.card.std).view(1, 3, 1, 1)
        arrays = []
        for image in images:
            pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
            if pil.mode != "RGB":
                pil = pil.convert("RGB")
            if pil.size != (width, height):
                pil = pil.resize((width, height), Image.Resampling.BILINEAR)
            arrays.append(np.asarray(pil, dtype=np.uint8))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
        return (batch - mean) / std


def _prepare(model: nn.Module, device: torch.device) -> nn.Module:
    model = model.to(device).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    # channels_last: 1.7–2.7× faster CPU inference measured on this project's machines.
    return model.to(memory_format=torch.channels_last)


def save_checkpoint(model: nn.Module, path: str | Path, card: dict[str, Any], *, half: bool = True,
                    domain: DomainModel | None = None) -> Path:
    """Write ``model`` as safetensors (fp16 floats when ``half``) with ``card`` in the metadata, and the
    ``domain`` reference (its card field and tensors) when given.

    Written to a temporary name and moved into place, so an interrupted save never leaves a
    file that looks complete. Also writes ``<stem>.json`` with the card.
    """
    path = Path(path)
    for key in ("arch", "classes", "input_size"):
        if key not in card:
            raise ValueError(f"model card needs {key!r}")
    card = {"format_version": FORMAT_VERSION, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), **card}
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        tensors[name] = tensor
    if domain is not None:
        card = {**card, "domain": domain.reference.to_dict()}
        tensors.update(domain.tensors())
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={CARD_KEY: json.dumps(card)})
    with atomic_write(path.with_suffix(".json"), "w") as fh:
        fh.write(json.dumps(card, indent=2) + "\n")
    return path


def load_checkpoint(path: str | Path, device: str = "auto", name: str | None = None) -> ModelBundle:
    """Load a CAM Inspector safetensors file; its weights are checked against the card's architecture (any
    format: :func:`cam_core.models.open_model`)."""
    path = Path(path)
    card = read_card(path)
    typed = ModelCard.from_dict(card)
    model = build_model(typed.arch, len(typed.classes), head_relu=typed.head_relu, map_stride=typed.map_stride)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name}: cannot read its weights ({exc})") from None
    state, domain = split_domain(state, typed.domain, path.name)
    expected = model.state_dict()
    problems = [k for k in expected if k not in state][:3]
    problems += [f"{k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape][:3]
    unexpected = [k for k in state if k not in expected][:3]
    if problems or unexpected:
        detail = "; ".join([*(f"missing {p}" if " " not in p else p for p in problems),
                            *(f"unexpected {u}" for u in unexpected)])
        raise ModelError(f"{path.name}: weights do not fit a {card['arch']} with {len(card['classes'])} classes "
                         f"({detail})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return ModelBundle(name=name or path.stem, model=_prepare(model, pick_device(device)), card=typed,
                       source=str(path), domain=domain)


def load_torchvision(arch: str, device: str = "auto") -> ModelBundle:
    """torchvision's ImageNet classifier for ``arch``, from the local cache only (never downloads)."""
    import torchvision

    cache_file, weights = torchvision_cache_file(arch)
    if not cache_file.is_file():
        raise ModelError(
            f"ImageNet weights for {arch} are not in the local torch cache ({cache_file}). This product never "
            f"downloads at run time: copy {cache_file.name} there from a machine with internet access, or use a "
            "shipped model.")
    state = read_state_dict(cache_file)
    model = getattr(torchvision.models, arch)(weights=None, **({"aux_logits": False, "init_weights": False}
                                                            if arch in {"googlenet", "inception_v3"} else {}))
    state = {k: v for k, v in state.items() if not k.startswith("aux")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{cache_file.name} does not match torchvision's {arch}: {str(exc)[:200]}") from None
    if arch == "googlenet":
        model.transform_input = True  # as torchvision does when it loads these weights itself
    categories = tuple(weights.meta["categories"])
    height = width = int(weights.transforms().crop_size[0])
    card = {"arch": arch, "classes": list(categories), "input_size": [height, width], "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD), "trained_on": IMAGENET_TEXT, "data_kind": DataKind.UNKNOWN.value,
            "training": {"source": f"torchvision {weights} (ImageNet-1k)"}}
    return ModelBundle(name=f"torchvision:{arch}", model=_prepare(model, pick_device(device)),
                       card=ModelCard.from_dict(card), source=str(cache_file))

"""Class activation map methods: one base class, small subclasses by family.

- Activation family: :class:`CAM` (Zhou et al., CVPR 2016). No gradients, one forward pass gives
  the maps of every class: ``CAM_c = Σ_k w_ck · A_k``.
- Gradient family: :class:`GradCAM` (Selvaraju et al., 2017) and :class:`GradCAMPlusPlus`
  (Chattopadhyay et al., 2018), for any network with a conv layer.

Usage::

    with CAM(model) as cam:
        out = cam(batch)          # out.logits N×C, out.maps N×C×h×w (raw, feature resolution)

Every extractor may be shared between threads: captures are per thread, and nothing is
written to the model (gradients are taken with ``torch.autograd.grad``, never ``.backward()``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.engine.architectures import HeadSpec, head_activation, last_conv_layer, resolve_head
from cam_core.engine.hooks import ActivationCapture, linear_weight_product, resolve_module
from cam_core.errors import ModelError

__all__ = ["CAMResult", "BaseCAM", "CAM", "GradCAM", "GradCAMPlusPlus", "METHODS", "make_extractor"]

# Gradient methods need one backward pass per class; above this many classes they explain
# only each image's predicted class unless targets are given.
MAX_CLASSES_FOR_ALL_MAPS = 16


@dataclass(frozen=True)
class CAMResult:
    """Output of one explained batch.

    ``maps[n, j]`` is the raw map of class ``class_indices[n, j]`` at feature resolution.
    For CAM, ``class_indices[n] = 0..C-1`` and ``logits = maps.mean((2, 3)) + bias``.
    """

    logits: Tensor          # N×C
    maps: Tensor            # N×K×h×w, float32
    class_indices: Tensor   # N×K, long
    method: str
    layer: str
    bias: Tensor | None = None  # C, CAM only

    @property
    def probabilities(self) -> Tensor:
        """Softmax over classes (N×C)."""
        return torch.softmax(self.logits.float(), dim=1)

    @property
    def map_size(self) -> tuple[int, int]:
        return int(self.maps.shape[-2]), int(self.maps.shape[-1])


class BaseCAM(ABC):
    """Shared plumbing: layer resolution, one hook, input placement, hook removal on exit."""

    name: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, model: nn.Module, target_layer: str) -> None:
        self.model = model
        self.target_layer = target_layer
        self._capture: ActivationCapture | None = None

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the hook; the extractor can no longer be called."""
        if self._capture is not None:
            self._capture.close()
            self._capture = None

    def __enter__(self) -> BaseCAM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- call ------------------------------------------------------------------------------
    def __call__(self, batch: Tensor, targets: Sequence[int] | None = None) -> CAMResult:
        """Explain ``batch`` (N×3×H×W, already normalised). ``targets``: class indices to map."""
        if self._capture is None:
            raise ModelError(f"this {self.label} extractor was closed; create a new one")
        if batch.ndim != 4:
            raise ValueError(f"expected an N×3×H×W batch, got shape {tuple(batch.shape)}")
        return self._explain(self._place(batch), targets)

    def _place(self, batch: Tensor) -> Tensor:
        param = next(self.model.parameters(), None)
        if param is None:
            return batch
        batch = batch.to(device=param.device, dtype=param.dtype)
        if param.ndim == 4 and param.is_contiguous(memory_format=torch.channels_last):
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch

    @abstractmethod
    def _explain(self, batch: Tensor, targets: Sequence[int] | None) -> CAMResult:
        """Run the model once and build the maps."""


class CAM(BaseCAM):
    """Class activation mapping: ``CAM_c(x, y) = Σ_k w_ck · A_k(x, y)``, all classes, no gradients.

    ``feature_layer`` / ``classifier`` default to the family's known layers (see
    :mod:`cam_core.engine.architectures`). Every call checks the CAM identity
    ``mean(map_c) + b_c = logit_c``; layers that don't satisfy it raise :class:`ModelError`.
    """

    name = "cam"
    label = "CAM"

    def __init__(self, model: nn.Module, feature_layer: str | None = None,
                 classifier: str | None = None) -> None:
        self.head: HeadSpec = resolve_head(model, feature_layer, classifier)
        head_module = resolve_module(model, self.head.classifier)
        if self.head.kind == "conv1x1":
            # The head's own per-location output *is* the map: hook it, no extra compute.
            hooked = head_activation(model, self.head.classifier) or head_module
            layer = self.head.classifier
            transform = None
        else:
            hooked = resolve_module(model, self.head.feature_layer)
            layer = self.head.feature_layer
            transform = F.relu if self.head.feature_relu else None
        super().__init__(model, layer)
        self._weight: Tensor = head_module.weight.detach().flatten(1)  # C×K
        bias = getattr(head_module, "bias", None)
        self._bias: Tensor = (bias.detach().clone() if bias is not None and self.head.kind == "linear"
                              else torch.zeros(self._weight.shape[0], device=self._weight.device))
        self._capture = ActivationCapture(hooked, transform=transform)

    def _explain(self, batch: Tensor, targets: Sequence[int] | None) -> CAMResult:
        capture = self._capture
        assert capture is not None
        with torch.inference_mode():
            capture.start()
            try:
                logits = self.model(batch)
            finally:
                captured = capture.stop()
            captured = capture.require(captured)
            if not isinstance(logits, Tensor):
                logits = logits[0]  # e.g. GoogLeNet/Inception namedtuples in training mode
            if self.head.kind == "conv1x1":
                maps = captured
            elif captured.ndim != 4 or captured.shape[1] != self._weight.shape[1]:
                raise ModelError(
                    f"layer {self.head.feature_layer!r} gives {tuple(captured.shape[1:])} features but classifier "
                    f"{self.head.classifier!r} takes {self._weight.shape[1]} channels: not this network's CAM layers")
            else:
                maps = linear_weight_product(captured, self._weight)
            maps = maps.float().contiguous()
            self._check_identity(maps, logits.float())
            n, c = logits.shape
            indices = torch.arange(c, device=maps.device).expand(n, c)
        return CAMResult(logits=logits.float(), maps=maps, class_indices=indices, method=self.name,
                         layer=self.target_layer, bias=self._bias.float())

    def _check_identity(self, maps: Tensor, logits: Tensor) -> None:
        if maps.shape[:2] != logits.shape:
            raise ModelError(
                f"the maps have {maps.shape[1]} classes but the network outputs {logits.shape[1]}: "
                f"{self.head.feature_layer!r}/{self.head.classifier!r} are not this network's CAM layers")
        rebuilt = maps.mean(dim=(2, 3)) + self._bias.to(maps.device)
        error = (rebuilt - logits).abs().max().item()
        if error > 1e-3 * (1.0 + logits.abs().max().item()):
            raise ModelError(
                f"CAM identity fails (mean(map) + bias differs from the logit by {error:.3g}): layers "
                f"{self.head.feature_layer!r} → {self.head.classifier!r} are not conv → global average pool → "
                "linear. Use Grad-CAM for this network.")


class GradCAM(BaseCAM):
    """Grad-CAM: ``α_k^c = mean_{x,y} ∂y_c/∂A_k``, ``map_c = ReLU(Σ_k α_k^c A_k)``."""

    name = "gradcam"
    label = "Grad-CAM"

    def __init__(self, model: nn.Module, target_layer: str | None = None) -> None:
        if target_layer is None:
            try:
                target_layer = resolve_head(model).feature_layer
            except ModelError:
                target_layer = last_conv_layer(model)
        super().__init__(model, target_layer)
        self._capture = ActivationCapture(resolve_module(model, target_layer), make_leaf=True)

    @staticmethod
    def channel_weights(activations: Tensor, gradients: Tensor) -> Tensor:
        """``α_k = mean_{x,y} g_k`` (N×K×1×1)."""
        return gradients.mean(dim=(2, 3), keepdim=True)

    def _explain(self, batch: Tensor, targets: Sequence[int] | None) -> CAMResult:
        capture = self._capture
        assert capture is not None
        grad_mode = torch.is_grad_enabled()
        try:
            with torch.inference_mode(False):
                torch.set_grad_enabled(False)  # the hook switches it on from the target layer onwards
                capture.start()
                try:
                    logits = self.model(batch)
                finally:
                    activations = capture.stop()
                activations = capture.require(activations)
                if not isinstance(logits, Tensor):
                    logits = logits[0]
                if not logits.requires_grad:
                    raise ModelError(f"layer {self.target_layer!r} does not lead to the network's output")
                index = self._target_indices(logits.detach(), targets)
                maps = []
                for j in range(index.shape[1]):
                    score = logits.gather(1, index[:, j:j + 1]).sum()
                    (grads,) = torch.autograd.grad(score, activations, retain_graph=j + 1 < index.shape[1])
                    weights = self.channel_weights(activations.detach(), grads)
                    maps.append(F.relu((weights * activations.detach()).sum(dim=1)))
        finally:
            torch.set_grad_enabled(grad_mode)
        return CAMResult(logits=logits.detach().float(), maps=torch.stack(maps, dim=1).float().contiguous(),
                         class_indices=index, method=self.name, layer=self.target_layer)

    @staticmethod
    def _target_indices(logits: Tensor, targets: Sequence[int] | None) -> Tensor:
        n, c = logits.shape
        if targets is not None:
            bad = [t for t in targets if not 0 <= int(t) < c]
            if bad:
                raise ModelError(f"target class {bad[0]} out of range for a {c}-class model")
            return torch.as_tensor(list(targets), device=logits.device, dtype=torch.long).expand(n, -1)
        if c <= MAX_CLASSES_FOR_ALL_MAPS:
            return torch.arange(c, device=logits.device).expand(n, c)
        return logits.argmax(dim=1, keepdim=True)


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++: ``α_k = Σ_{x,y} a_k(x,y)·ReLU(g_k(x,y))`` with
    ``a = g² / (2g² + Σ_{x,y} A_k · g³)`` (the exponential-score closed form)."""

    name = "gradcam++"
    label = "Grad-CAM++"

    @staticmethod
    def channel_weights(activations: Tensor, gradients: Tensor) -> Tensor:
        g2 = gradients.pow(2)
        g3 = gradients.pow(3)
        denominator = 2 * g2 + activations.sum(dim=(2, 3), keepdim=True) * g3
        alpha = g2 / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        return (alpha * F.relu(gradients)).sum(dim=(2, 3), keepdim=True)


METHODS: dict[str, type[BaseCAM]] = {cls.name: cls for cls in (CAM, GradCAM, GradCAMPlusPlus)}


def make_extractor(method: str, model: nn.Module, layer: str | None = None,
                   classifier: str | None = None) -> BaseCAM:
    """Build the extractor called ``method`` ('cam', 'gradcam', 'gradcam++')."""
    key = method.lower().replace("-", "").replace("_", "")
    key = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++"}.get(key, key)
    if key not in METHODS:
        raise ModelError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if key == "cam":
        return CAM(model, feature_layer=layer, classifier=classifier)
    return METHODS[key](model, target_layer=layer)

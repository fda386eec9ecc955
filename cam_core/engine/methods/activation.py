"""The activation family: :class:`CAM` (Zhou et al., CVPR 2016), no gradients, every class in one pass.

``CAM_c(x, y) = Σ_k w_ck · A_k(x, y)``; with global average pooling and a linear head,
``mean_{x,y} CAM_c + b_c = logit_c`` (the CAM identity, checked on every call).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.engine.architectures import HeadSpec, head_activation, resolve_head
from cam_core.engine.hooks import ActivationCapture, linear_weight_product, resolve_module
from cam_core.engine.identity import identity_gap
from cam_core.engine.methods.base import BaseCAM, CAMResult
from cam_core.errors import ModelError

__all__ = ["CAM"]


class CAM(BaseCAM):
    """Class activation mapping: ``CAM_c(x, y) = Σ_k w_ck · A_k(x, y)``, all classes, no gradients.

    ``feature_layer`` / ``classifier`` default to the family's known layers (see
    :mod:`cam_core.engine.architectures`). Every call checks the CAM identity
    ``mean(map_c) + b_c = logit_c``; layers that don't satisfy it raise :class:`ModelError`.
    """

    name = "cam"
    label = "CAM"

    def __init__(self, model: nn.Module, feature_layer: str | None = None,
                 classifier: str | None = None, domain: bool = True) -> None:
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
        super().__init__(model, layer, domain)
        weight = getattr(head_module, "weight", None)
        if not isinstance(weight, Tensor):
            raise ModelError(f"classifier {self.head.classifier!r} has no weight tensor: not a CAM head")
        self._weight: Tensor = weight.detach().flatten(1)  # C×K
        bias = getattr(head_module, "bias", None)
        self._bias: Tensor = (bias.detach().clone() if bias is not None and self.head.kind == "linear"
                              else torch.zeros(self._weight.shape[0], device=self._weight.device))
        self._capture = ActivationCapture(hooked, transform=transform)

    def _explain(self, batch: Tensor, targets: Sequence[int] | None) -> CAMResult:
        with torch.inference_mode():
            logits, captured, stages = self._forward(batch)
            if self.head.kind == "conv1x1":
                maps = captured
            elif captured.ndim != 4 or captured.shape[1] != self._weight.shape[1]:
                raise ModelError(
                    f"layer {self.head.feature_layer!r} gives {tuple(captured.shape[1:])} features but classifier "
                    f"{self.head.classifier!r} takes {self._weight.shape[1]} channels: not this network's CAM layers")
            else:
                maps = linear_weight_product(captured, self._weight)
            maps = maps.float().contiguous()
            features, features_layer = self._domain_features(stages, captured if self.head.kind != "conv1x1" else None)
            self._check_identity(maps, logits.float())
            n, c = logits.shape
            indices = torch.arange(c, device=maps.device).expand(n, c)
        return CAMResult(logits=logits.float(), maps=maps, class_indices=indices, method=self.name,
                         layer=self.target_layer, bias=self._bias.float(), features=features,
                         features_layer=features_layer)

    def _check_identity(self, maps: Tensor, logits: Tensor) -> None:
        if maps.shape[:2] != logits.shape:
            raise ModelError(
                f"the maps have {maps.shape[1]} classes but the network outputs {logits.shape[1]}: "
                f"{self.head.feature_layer!r}/{self.head.classifier!r} are not this network's CAM layers")
        error, tolerance = identity_gap(maps, self._bias, logits)
        if not error <= tolerance:
            raise ModelError(
                f"CAM identity fails (mean(map) + bias differs from the logit by {error:.3g}): layers "
                f"{self.head.feature_layer!r} → {self.head.classifier!r} are not conv → global average pool → "
                "linear. Use Grad-CAM for this network.")

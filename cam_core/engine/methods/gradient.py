"""The gradient family: :class:`GradCAM` (Selvaraju et al., 2017) and :class:`GradCAMPlusPlus`
(Chattopadhyay et al., 2018), for any network with a conv layer.

Both take ``∂y_c/∂A`` with :func:`torch.autograd.grad` from the hooked layer onwards (never ``.backward()``,
no ``.grad`` on shared parameters) and differ only in :meth:`GradCAM.channel_weights`:
``map_c = ReLU(Σ_k α_k^c A_k)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.engine.architectures import last_conv_layer, resolve_head
from cam_core.engine.hooks import ActivationCapture, resolve_module
from cam_core.engine.methods.base import BaseCAM, CAMResult
from cam_core.errors import ModelError

__all__ = ["MAX_CLASSES_FOR_ALL_MAPS", "GradCAM", "GradCAMPlusPlus"]

# Gradient methods need one backward pass per class; above this many classes they explain
# only each image's predicted class unless targets are given.
MAX_CLASSES_FOR_ALL_MAPS = 16


class GradCAM(BaseCAM):
    """Grad-CAM: ``α_k^c = mean_{x,y} ∂y_c/∂A_k``, ``map_c = ReLU(Σ_k α_k^c A_k)``."""

    name = "gradcam"
    label = "Grad-CAM"

    def __init__(self, model: nn.Module, target_layer: str | None = None, domain: bool = True) -> None:
        if target_layer is None:
            try:
                target_layer = resolve_head(model).feature_layer
            except ModelError:
                target_layer = last_conv_layer(model)
        super().__init__(model, target_layer, domain)
        self._capture = ActivationCapture(resolve_module(model, target_layer), make_leaf=True)

    @staticmethod
    def channel_weights(activations: Tensor, gradients: Tensor) -> Tensor:
        """``α_k = mean_{x,y} g_k`` (N×K×1×1)."""
        return gradients.mean(dim=(2, 3), keepdim=True)

    def _explain(self, batch: Tensor, targets: Sequence[int] | None) -> CAMResult:
        grad_mode = torch.is_grad_enabled()
        try:
            with torch.inference_mode(False):
                torch.set_grad_enabled(False)  # the hook switches it on from the target layer onwards
                logits, activations, stages = self._forward(batch)
                if not logits.requires_grad:
                    raise ModelError(f"layer {self.target_layer!r} does not lead to the network's output")
                index = self._target_indices(logits.detach(), targets)
                maps = []
                for j in range(index.shape[1]):
                    score = logits.gather(1, index[:, j:j + 1]).sum()
                    (grads,) = torch.autograd.grad(score, activations, retain_graph=j + 1 < index.shape[1])
                    weights = self.channel_weights(activations.detach(), grads)
                    maps.append(F.relu((weights * activations.detach()).sum(dim=1)))
                features, features_layer = self._domain_features(stages, activations)
        finally:
            torch.set_grad_enabled(grad_mode)
        return CAMResult(logits=logits.detach().float(), maps=torch.stack(maps, dim=1).float().contiguous(),
                         class_indices=index, method=self.name, layer=self.target_layer,
                         features=features, features_layer=features_layer)

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

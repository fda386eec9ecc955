"""Class activation map methods: one base class (:mod:`.base`), small subclasses by family.

- Activation family (:mod:`.activation`): :class:`CAM` (Zhou et al., CVPR 2016). No gradients, one forward pass gives
  the maps of every class: ``CAM_c = Σ_k w_ck · A_k``.
- Gradient family (:mod:`.gradient`): :class:`GradCAM` (Selvaraju et al., 2017) and :class:`GradCAMPlusPlus`
  (Chattopadhyay et al., 2018), for any network with a conv layer.

Usage::

    with CAM(model) as cam:
        out = cam(batch)          # out.logits N×C, out.maps N×C×h×w (raw, feature resolution)

Every extractor may be shared between threads: captures are per thread, and nothing is
written to the model (gradients are taken with ``torch.autograd.grad``, never ``.backward()``).
"""

from __future__ import annotations

from torch import nn

from cam_core.engine.methods.activation import CAM
from cam_core.engine.methods.base import BaseCAM, CAMResult
from cam_core.engine.methods.gradient import MAX_CLASSES_FOR_ALL_MAPS, GradCAM, GradCAMPlusPlus
from cam_core.errors import ModelError

__all__ = ["CAM", "MAX_CLASSES_FOR_ALL_MAPS", "METHODS", "BaseCAM", "CAMResult", "GradCAM", "GradCAMPlusPlus",
           "make_extractor"]

METHODS: dict[str, type[BaseCAM]] = {cls.name: cls for cls in (CAM, GradCAM, GradCAMPlusPlus)}
_GRADIENT_METHODS: dict[str, type[GradCAM]] = {cls.name: cls for cls in (GradCAM, GradCAMPlusPlus)}


def make_extractor(method: str, model: nn.Module, layer: str | None = None,
                   classifier: str | None = None, domain: bool = True) -> BaseCAM:
    """Build the extractor called ``method`` ('cam', 'gradcam', 'gradcam++'); ``domain=False`` skips the domain
    features (:mod:`cam_core.domain`)."""
    key = method.lower().replace("-", "").replace("_", "")
    key = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++"}.get(key, key)
    if key not in METHODS:
        raise ModelError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if key == "cam":
        return CAM(model, feature_layer=layer, classifier=classifier, domain=domain)
    return _GRADIENT_METHODS[key](model, target_layer=layer, domain=domain)

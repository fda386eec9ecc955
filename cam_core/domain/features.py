"""The features the domain check compares, pooled from activations of the pass that makes the maps.

For activations ``A ∈ R^{N×K×h×w}`` of one layer, the feature vector of image ``n`` is

    f_n = [ mean_{x,y} A_{n,k}(x, y) ]_k  ‖  [ std_{x,y} A_{n,k}(x, y) ]_k        (2K numbers)

how strongly each channel responds and how much it varies over the image. The layers are the stride-8 and
stride-16 stages of known networks (:mod:`cam_core.domain.stages`; their vectors concatenated), else the CAM layer.
The same function serves PyTorch (:mod:`cam_core.engine.methods`, hooks on those stages) and ONNX
(:mod:`cam_core.interop.onnx_cam`; ``export-onnx`` adds the stages as outputs named ``domain:<layer>``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["FEATURES_KIND", "pooled_features"]

FEATURES_KIND = "per-channel mean and standard deviation over positions of each layer, concatenated"


def pooled_features(activations: Tensor) -> Tensor:
    """``N×2K`` float32: per-channel spatial mean, then spatial standard deviation (0 on a 1×1 grid)."""
    a = activations.detach().float().flatten(2)
    std = a.std(dim=2, unbiased=False) if a.shape[2] > 1 else torch.zeros_like(a[..., 0])
    return torch.cat([a.mean(dim=2), std], dim=1)

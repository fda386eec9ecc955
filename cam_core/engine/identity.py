"""The CAM identity, checked on every explanation by every engine (PyTorch hooks and ONNX Runtime).

For a network that ends in conv → global average pool → linear, the map of class ``c`` is
``M_c(x, y) = Σ_k w_ck · A_k(x, y)`` and its mean plus the bias is the logit:
``mean_{x,y} M_c + b_c = z_c``. It holds when

    ``max_{n,c} |mean M_nc + b_c − z_nc| ≤ rtol · (1 + max |z|)``

with ``rtol`` = :data:`IDENTITY_RTOL` for float32 networks and :data:`IDENTITY_RTOL_HALF` for a graph whose
weights are float16 (its logits carry half-precision rounding). When it fails, the chosen layers are not
this network's CAM layers, and the maps would not explain the verdict.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["IDENTITY_RTOL", "IDENTITY_RTOL_HALF", "identity_gap"]

IDENTITY_RTOL = 1e-3
IDENTITY_RTOL_HALF = 1e-2


def identity_gap(maps: Tensor, bias: Tensor, logits: Tensor, rtol: float = IDENTITY_RTOL) -> tuple[float, float]:
    """``(error, tolerance)`` of the identity for ``maps`` N×C×h×w, ``bias`` C and ``logits`` N×C (in float64);
    it holds when ``error ≤ tolerance``."""
    if logits.numel() == 0:
        return 0.0, rtol
    maps, bias, logits = maps.detach().double(), bias.detach().to(maps.device).double(), logits.detach().double()
    error = float((maps.mean(dim=(2, 3)) + bias - logits).abs().max())
    return error, rtol * (1.0 + float(logits.abs().max()))

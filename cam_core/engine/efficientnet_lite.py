"""EfficientNet-Lite0, written for CAM: ``features`` (1280 channels after BN + ReLU6) → GAP → ``classifier.1``.

EfficientNet-Lite is EfficientNet-B0's layout made friendlier to quantised and mobile hardware
(Tan & Le 2019; the TensorFlow "lite" variants): no squeeze-excitation, ReLU6 instead of swish, and the
stem (32 channels) and head (1280) are not scaled. BatchNorm uses ``eps = 1e-3`` as TensorFlow does.

Each of the 16 inverted-residual blocks is ``expand 1×1 (ratio e) → depthwise k×k (stride s) →
project 1×1``, each conv followed by BN; the first two get ReLU6, the projection none. A block adds its
input when ``s = 1`` and the channel count is unchanged. Stages (repeats, kernel, stride, expansion,
out channels): (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40) (3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320).

Convolutions with stride 2 pad as TensorFlow's ``SAME`` does: total padding
``max((⌈i/s⌉ − 1)·s + (k − 1)·d + 1 − i, 0)`` per side pair, the extra pixel on the right/bottom. That is
what the ImageNet weights were trained with; symmetric padding costs them accuracy.

``map_stride=16`` runs the last stride-2 stage (192 channels) at stride 1 and dilates the depthwise
convs after its first block by 2, so the CAM grid is 14×14 at 224 px and every weight keeps its shape.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
DROPOUT = 0.2

# (repeats, kernel, stride, expansion, out channels) per stage, EfficientNet-B0 / Lite0.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
)
STRIDE16_STAGE = 5   # index in STAGES of the last stride-2 stage


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding (asymmetric when the stride is 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 dilation: int = 1) -> None:
        super().__init__(in_ch, out_ch, kernel, stride=stride, groups=groups, dilation=dilation, bias=False,
                         padding=0 if stride > 1 else (kernel - 1) * dilation // 2)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] == 1:
            return super().forward(x)
        return super().forward(F.pad(x, self._traced_pads(x) if torch.jit.is_tracing() else self._pads(x)))

    def _pads(self, x: Tensor) -> list[int]:
        pads: list[int] = []
        for size, k, s, d in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return pads

    def _traced_pads(self, x: Tensor) -> list[int]:
        """:meth:`_pads` as tensor arithmetic on the input's shape, for ONNX export (tracing), where Python ints
        would be frozen at the traced size; ``⌈i/s⌉ = ⌊(i + s − 1)/s⌋``. The tensors stand in for the ints."""
        shape = torch._shape_as_tensor(x)
        pads = []
        for dim, k, s, d in zip((-1, -2), self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            size = shape[dim]
            total = torch.clamp((torch.div(size + s - 1, s, rounding_mode="floor") - 1) * s + (k - 1) * d + 1 - size,
                                min=0)
            half = torch.div(total, 2, rounding_mode="floor")
            pads += [half, total - half]
        return cast(list[int], pads)


class ConvBN(nn.Module):
    """conv → BN (eps 1e-3) → ReLU6 (or nothing, for the projection)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 dilation: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = SameConv2d(in_ch, out_ch, kernel, stride, groups, dilation)
        self.bn = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.act: nn.Module = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    """``x + project(depthwise(expand(x)))`` when shapes allow, else without the skip."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expansion: int,
                 dilation: int = 1) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.expand: nn.Module = ConvBN(in_ch, hidden) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, groups=hidden, dilation=dilation)
        self.project = ConvBN(hidden, out_ch, act=False)
        self.use_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.use_skip else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 with a ``num_classes`` head; ``features`` ends in the 1280-channel ReLU6 output."""

    def __init__(self, num_classes: int = 1000, map_stride: int = 32, dropout: float = DROPOUT) -> None:
        super().__init__()
        if map_stride not in (16, 32):
            raise ValueError(f"map_stride must be 16 or 32 (got {map_stride})")
        layers: list[nn.Module] = [ConvBN(3, STEM_CHANNELS, 3, stride=2)]
        in_ch = STEM_CHANNELS
        for index, (repeats, kernel, stride, expansion, out_ch) in enumerate(STAGES):
            dilated = map_stride == 16 and index >= STRIDE16_STAGE
            for r in range(repeats):
                block_stride = stride if r == 0 and not dilated else 1
                dilation = 2 if dilated and (r > 0 or index > STRIDE16_STAGE) else 1
                layers.append(InvertedResidual(in_ch, out_ch, kernel, block_stride, expansion, dilation))
                in_ch = out_ch
        layers.append(ConvBN(in_ch, HEAD_CHANNELS))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(HEAD_CHANNELS, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def efficientnet_lite0(num_classes: int = 1000, map_stride: int = 32) -> EfficientNetLite:
    """EfficientNet-Lite0 with random weights (load ImageNet ones with :mod:`cam_core.engine.imagenet`)."""
    return EfficientNetLite(num_classes=num_classes, map_stride=map_stride)


_BN_OF = {"_expand_conv": ("expand", "_bn0"), "_depthwise_conv": ("depthwise", "_bn1"),
          "_project_conv": ("project", "_bn2")}


def translate_reference_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Key names of the reference (``efficientnet_pytorch``-style) Lite0 state dict → this module's names.

    ``_conv_stem/_bn0`` → ``features.0``; ``_blocks.i._{expand,depthwise,project}_conv`` and their
    ``_bn0/_bn1/_bn2`` → ``features.{i+1}.{expand,depthwise,project}.{conv,bn}``; ``_conv_head/_bn1`` →
    ``features.17``; ``_fc`` → ``classifier.1``. Unknown keys are kept unchanged (and then do not load).
    """
    head_index = 1 + sum(s[0] for s in STAGES)
    bn_to_part = {bn: part for part, bn in _BN_OF.values()}
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        name = key
        if parts[0] == "_conv_stem":
            name = ".".join(["features.0.conv", *parts[1:]])
        elif parts[0] == "_bn0":
            name = ".".join(["features.0.bn", *parts[1:]])
        elif parts[0] == "_conv_head":
            name = ".".join([f"features.{head_index}.conv", *parts[1:]])
        elif parts[0] == "_bn1":
            name = ".".join([f"features.{head_index}.bn", *parts[1:]])
        elif parts[0] == "_fc":
            name = ".".join(["classifier.1", *parts[1:]])
        elif parts[0] == "_blocks" and len(parts) >= 4:
            block = f"features.{int(parts[1]) + 1}"
            if parts[2] in _BN_OF:
                name = ".".join([block, _BN_OF[parts[2]][0], "conv", *parts[3:]])
            elif parts[2] in bn_to_part:
                name = ".".join([block, bn_to_part[parts[2]], "bn", *parts[3:]])
        out[name] = value
    return out

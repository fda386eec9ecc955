"""Which early stages stay at their pretrained weights while fine-tuning, and keeping them frozen.

Fine-tuning keeps the stages up to output stride 8 at their ImageNet weights (with BatchNorm running
statistics): generic edges and textures need no retraining, and the backward pass through the
high-resolution early layers is most of the CPU cost (Lite0 at 224 px, batch 16, 2 cores: 20 img/s
trained whole, 91 img/s with these frozen; docs/transfer.md).
"""

from __future__ import annotations

from torch import nn

from cam_core.options import Freeze, choices

__all__ = ["FREEZE_MODES", "FROZEN_PREFIXES", "freeze_parameters", "frozen_prefixes", "train_mode"]

FROZEN_PREFIXES: dict[str, tuple[str, ...]] = {
    "efficientnet_lite0": tuple(f"features.{i}." for i in range(6)),
    "efficientnet_b0": tuple(f"features.{i}." for i in range(4)),
    "mobilenet_v2": tuple(f"features.{i}." for i in range(7)),
    "squeezenet1_0": tuple(f"features.{i}." for i in range(7)),
    "squeezenet1_1": tuple(f"features.{i}." for i in range(6)),
    "googlenet": ("conv1.", "conv2.", "conv3."),
    "resnet18": ("conv1.", "bn1.", "layer1.", "layer2."),
    "resnet34": ("conv1.", "bn1.", "layer1.", "layer2."),
    "resnet50": ("conv1.", "bn1.", "layer1.", "layer2."),
    "densenet121": ("features.conv0.", "features.norm0.", "features.denseblock1.", "features.transition1."),
}
FREEZE_MODES: tuple[str, ...] = tuple(choices(Freeze))


def frozen_prefixes(arch: str, freeze: str, pretrained: bool) -> tuple[str, ...]:
    """Module-name prefixes kept frozen: the stages up to stride 8 when fine-tuning (from ImageNet weights or
    one of our models) with ``freeze="auto"``."""
    return FROZEN_PREFIXES.get(arch, ()) if freeze == "auto" and pretrained else ()


def freeze_parameters(model: nn.Module, prefixes: tuple[str, ...]) -> int:
    """``requires_grad=False`` on every parameter under ``prefixes``; returns how many tensors were frozen."""
    count = 0
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            count += 1
    return count


def train_mode(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """``model.train()``, with the frozen modules in eval mode (BatchNorm uses its ImageNet statistics)."""
    model.train()
    if prefixes:
        for name, module in model.named_modules():
            if f"{name}.".startswith(prefixes):
                module.eval()

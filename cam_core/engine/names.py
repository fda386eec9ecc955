"""The networks the product knows, by name, and which of them can halve their map stride.

Kept apart from :mod:`cam_core.engine.architectures` (which builds the networks) so that reading and checking a
model card needs no network library.
"""

from __future__ import annotations

__all__ = ["KNOWN_ARCHITECTURES", "MAP_STRIDE_RULE", "OWN_ARCHITECTURES", "STRIDE16_ARCHITECTURES",
           "map_stride_supported"]

# Architectures the product trains, ships and tests (torchvision builders, and our own EfficientNet-Lite0).
KNOWN_ARCHITECTURES: tuple[str, ...] = (
    "efficientnet_lite0", "squeezenet1_0", "squeezenet1_1", "googlenet", "resnet18", "resnet34", "resnet50",
    "mobilenet_v2", "efficientnet_b0", "densenet121",
)
OWN_ARCHITECTURES: tuple[str, ...] = ("efficientnet_lite0",)   # built by cam_core, not torchvision


# Architectures whose last stage can run at stride 16 instead of 32 (twice the map resolution per side).
STRIDE16_ARCHITECTURES: tuple[str, ...] = ("efficientnet_lite0", "googlenet", "resnet18", "resnet34", "resnet50")
MAP_STRIDE_RULE = f"32 for every network, 16 for {', '.join(STRIDE16_ARCHITECTURES)}"


def map_stride_supported(arch: str, map_stride: object) -> bool:
    """Whether ``arch`` can be built with ``map_stride`` (:data:`MAP_STRIDE_RULE`)."""
    return map_stride == 32 or (map_stride == 16 and arch in STRIDE16_ARCHITECTURES)

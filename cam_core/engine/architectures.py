"""Known networks: how to build them and which layers CAM reads (their names: :mod:`cam_core.engine.names`).

CAM needs a network that ends in ``conv features → global average pool → one linear map``.
For each known torchvision family the feature layer and the classifier are resolved by name,
so users never have to guess ("which layer?"). Families with several fully connected layers
(VGG, AlexNet, MobileNetV3) are refused with a pointer to Grad-CAM, which works on any conv layer.

Two head conventions:

- ``linear``: ``logit_c = W_c · GAP(A) + b_c``. The map is ``Σ_k W_ck A_k`` (bias excluded),
  so ``mean(map_c) + b_c = logit_c``. DenseNet applies a ReLU to its features before the pool;
  that ReLU is applied to ``A`` first.
- ``conv1x1`` (SqueezeNet): ``logit_c = GAP(act(conv1x1(A)))_c``. The map is the head's own
  per-location output ``act(W_c · A + b_c)``: bias included and after the ReLU when the head has
  one, so ``mean(map_c) = logit_c`` and the reported bias is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from cam_core.engine.efficientnet_lite import efficientnet_lite0
from cam_core.engine.hooks import resolve_module
from cam_core.engine.names import KNOWN_ARCHITECTURES, MAP_STRIDE_RULE, map_stride_supported
from cam_core.errors import ModelError, UnsupportedArchitectureError

HeadKind = Literal["linear", "conv1x1"]


@dataclass(frozen=True)
class HeadSpec:
    """Where CAM reads a network: ``feature_layer`` output and ``classifier`` weights."""

    feature_layer: str
    classifier: str
    kind: HeadKind = "linear"
    feature_relu: bool = False  # DenseNet: F.relu(features) before the pool


# Family name (type(model).__name__) → head. ResNet-18/34/50 share names, as do SqueezeNet 1.0/1.1.
_FAMILY_HEADS: dict[str, HeadSpec] = {
    "SqueezeNet": HeadSpec("features", "classifier.1", kind="conv1x1"),
    "GoogLeNet": HeadSpec("inception5b", "fc"),
    "Inception3": HeadSpec("Mixed_7c", "fc"),
    "ResNet": HeadSpec("layer4", "fc"),
    "MobileNetV2": HeadSpec("features", "classifier.1"),
    "EfficientNet": HeadSpec("features", "classifier.1"),
    "EfficientNetLite": HeadSpec("features", "classifier.1"),
    "DenseNet": HeadSpec("features", "classifier", feature_relu=True),
    "ShuffleNetV2": HeadSpec("conv5", "fc"),
    "MNASNet": HeadSpec("layers", "classifier.1"),
    "RegNet": HeadSpec("trunk_output", "fc"),
}

_NOT_CAM_FAMILIES: dict[str, str] = {
    "VGG": "its classifier has three fully connected layers",
    "AlexNet": "its classifier has three fully connected layers",
    "MobileNetV3": "its classifier has a hidden fully connected layer (Linear → Hardswish → Linear)",
    "ConvNeXt": "a LayerNorm sits between the pool and the classifier",
    "VisionTransformer": "it has no convolutional feature map before a pooled linear head",
    "SwinTransformer": "it has no convolutional feature map before a pooled linear head",
}

def build_model(arch: str, num_classes: int, *, weights: str | None = None,
                head_relu: bool = True, map_stride: int = 32) -> nn.Module:
    """A torchvision ``arch`` with a ``num_classes`` head, random weights (no download).

    ``head_relu=False`` drops SqueezeNet's ReLU after the final 1×1 conv: with two classes that ReLU
    can clamp both logits to zero and stall training (the map convention stays the head's output).
    ``efficientnet_lite0`` is this package's own module (:mod:`cam_core.engine.efficientnet_lite`).
    ``map_stride=16`` (Lite0, GoogLeNet, ResNet) halves the stride of the last stage, so the CAM grid is 14×14
    instead of 7×7 at 224 px. GoogLeNet drops ``maxpool4`` (the pool before ``inception5a``); ResNet
    runs ``layer4`` at stride 1 with dilation 2 in the 3×3 convs after its first block (as torchvision's
    ``replace_stride_with_dilation`` does for ResNet-50), so every
    weight keeps its shape and ImageNet weights still load.
    """
    if arch not in KNOWN_ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(KNOWN_ARCHITECTURES)}")
    if not map_stride_supported(arch, map_stride):
        raise ModelError(f"map stride {map_stride} is not available for {arch}: {MAP_STRIDE_RULE}")
    if arch == "efficientnet_lite0":
        return efficientnet_lite0(num_classes=num_classes, map_stride=map_stride)
    import torchvision  # only for its own architectures: importing it costs ~1 s and ~170 MB

    builder = getattr(torchvision.models, arch)
    kwargs: dict[str, object] = {"weights": weights, "num_classes": num_classes}
    if arch == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    model = builder(**kwargs)
    if arch.startswith("squeezenet") and not head_relu:
        model.classifier[2] = nn.Identity()
    if map_stride == 16:
        _halve_last_stride(model)
    return model


def _halve_last_stride(model: nn.Module) -> None:
    import torchvision

    if isinstance(model, torchvision.models.GoogLeNet):
        model.maxpool4 = nn.Identity()
        return
    layer4 = model.layer4  # ResNet: as torchvision's replace_stride_with_dilation (first block undilated)
    assert isinstance(layer4, nn.Sequential)
    first: Any = layer4[0]
    strided = first.conv2 if isinstance(first, torchvision.models.resnet.Bottleneck) else first.conv1
    strided.stride = first.downsample[0].stride = (1, 1)
    for block in list(layer4)[1:]:
        for conv in block.modules():
            if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
                conv.dilation, conv.padding = (2, 2), (2, 2)


def unsupported_reason(model: nn.Module) -> str | None:
    """Why CAM cannot run on this family (None when it can, or when the family is unknown)."""
    return _NOT_CAM_FAMILIES.get(type(model).__name__)


def resolve_head(model: nn.Module, feature_layer: str | None = None,
                 classifier: str | None = None) -> HeadSpec:
    """The :class:`HeadSpec` for ``model``: given names win, else the family's known layers."""
    family = type(model).__name__
    if feature_layer is None or classifier is None:
        reason = unsupported_reason(model)
        if reason is not None:
            raise UnsupportedArchitectureError(
                f"CAM needs conv → global average pool → one linear layer, and {family} does not end so: "
                f"{reason}. Use Grad-CAM or Grad-CAM++ instead (method 'gradcam'), which work on any conv layer.")
        known = _FAMILY_HEADS.get(family)
        if known is None:
            raise UnsupportedArchitectureError(
                f"don't know where CAM should read {family}: pass feature_layer= and classifier= "
                f"(a conv → GAP → linear net), or use Grad-CAM, which works on any conv layer.")
        feature_layer = feature_layer or known.feature_layer
        classifier = classifier or known.classifier
        spec = HeadSpec(feature_layer, classifier, known.kind, known.feature_relu)
    else:
        spec = HeadSpec(feature_layer, classifier, _head_kind(resolve_module(model, classifier)),
                        feature_relu=family == "DenseNet" and feature_layer == "features")
    head = resolve_module(model, spec.classifier)
    resolve_module(model, spec.feature_layer)
    if _head_kind(head) != spec.kind:
        raise UnsupportedArchitectureError(
            f"classifier {spec.classifier!r} is a {type(head).__name__}; CAM needs one nn.Linear or 1×1 nn.Conv2d. "
            "Use Grad-CAM for this network.")
    return spec


def _head_kind(module: nn.Module) -> HeadKind:
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1:
        return "conv1x1"
    raise UnsupportedArchitectureError(
        f"the classifier is a {type(module).__name__}; CAM needs one nn.Linear or a 1×1 nn.Conv2d after "
        "global average pooling. Use Grad-CAM for this network.")


def head_activation(model: nn.Module, classifier: str) -> nn.Module | None:
    """For a 1×1-conv head, the activation module right after the conv in its Sequential (SqueezeNet's ReLU)."""
    parent_name, _, child = classifier.rpartition(".")
    parent = resolve_module(model, parent_name) if parent_name else model
    if not isinstance(parent, nn.Sequential) or not child.isdigit():
        return None
    index = int(child) + 1
    if index < len(parent) and isinstance(parent[index], nn.ReLU | nn.Identity):
        return parent[index]
    return None


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last ``nn.Conv2d`` (default target layer for Grad-CAM on unknown networks)."""
    name = None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            name = module_name
    if name is None:
        raise ModelError(f"{type(model).__name__} has no Conv2d layer to explain")
    return name

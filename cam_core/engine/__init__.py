"""The engine: networks (architectures, EfficientNet-Lite), hook capture (hooks) and CAM methods (methods).

``cam_core.engine.imagenet`` (ImageNet weights for the backbones) is imported as a module, not re-exported
here: it depends on :mod:`cam_core.checkpoints`, which itself builds its networks from this package.

Names are imported on first use (:mod:`cam_core.lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from cam_core.engine.architectures import (
        HeadSpec,
        build_model,
        head_activation,
        last_conv_layer,
        resolve_head,
        unsupported_reason,
    )
    from cam_core.engine.efficientnet_lite import EfficientNetLite, efficientnet_lite0
    from cam_core.engine.heads import SINGLE_LOGIT, single_logit_as_two_class
    from cam_core.engine.hooks import (
        ActivationCapture,
        linear_weight_product,
        registered_hook_count,
        resolve_module,
    )
    from cam_core.engine.methods import (
        CAM,
        MAX_CLASSES_FOR_ALL_MAPS,
        METHODS,
        BaseCAM,
        CAMResult,
        GradCAM,
        GradCAMPlusPlus,
        make_extractor,
    )
    from cam_core.engine.names import (
        KNOWN_ARCHITECTURES,
        MAP_STRIDE_RULE,
        OWN_ARCHITECTURES,
        map_stride_supported,
    )

_HOMES: dict[str, str] = {
    **dict.fromkeys(("HeadSpec", "build_model", "head_activation", "last_conv_layer", "resolve_head",
                     "unsupported_reason"),
                    "cam_core.engine.architectures"),
    **dict.fromkeys(("KNOWN_ARCHITECTURES", "MAP_STRIDE_RULE", "OWN_ARCHITECTURES", "map_stride_supported"),
                    "cam_core.engine.names"),
    **dict.fromkeys(("EfficientNetLite", "efficientnet_lite0"), "cam_core.engine.efficientnet_lite"),
    **dict.fromkeys(("SINGLE_LOGIT", "single_logit_as_two_class"), "cam_core.engine.heads"),
    **dict.fromkeys(("ActivationCapture", "linear_weight_product", "registered_hook_count", "resolve_module"),
                    "cam_core.engine.hooks"),
    **dict.fromkeys(("CAM", "MAX_CLASSES_FOR_ALL_MAPS", "METHODS", "BaseCAM", "CAMResult", "GradCAM",
                     "GradCAMPlusPlus", "make_extractor"),
                    "cam_core.engine.methods"),
}

__all__ = [
    "CAM", "KNOWN_ARCHITECTURES", "MAP_STRIDE_RULE", "MAX_CLASSES_FOR_ALL_MAPS", "METHODS", "OWN_ARCHITECTURES",
    "SINGLE_LOGIT", "ActivationCapture", "BaseCAM", "CAMResult", "EfficientNetLite", "GradCAM", "GradCAMPlusPlus", "HeadSpec",
    "build_model", "efficientnet_lite0", "head_activation", "last_conv_layer", "linear_weight_product",
    "make_extractor", "map_stride_supported", "registered_hook_count", "resolve_head", "resolve_module",
    "single_logit_as_two_class", "unsupported_reason",
]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)

"""CAM Inspector core: class activation maps for OK/NG inspection, with no UI dependency.

    from cam_core import CAM
    with CAM(model) as cam:
        out = cam(batch)      # out.logits N×C, out.maps N×C×h×w (raw, every class, one forward pass)

The names below are imported on first use (:mod:`cam_core.lazy`): ``import cam_core`` alone loads no network
library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle, list_models, load_checkpoint, save_checkpoint
    from cam_core.engine.methods import (
        CAM,
        METHODS,
        BaseCAM,
        CAMResult,
        GradCAM,
        GradCAMPlusPlus,
        make_extractor,
    )
    from cam_core.errors import CamInspectorError, InputError, ModelError, UnsupportedArchitectureError
    from cam_core.explain.pipeline import Explainer, Explanation
    from cam_core.models import load_model

_HOMES: dict[str, str] = {
    **dict.fromkeys(("ModelBundle", "list_models", "load_checkpoint", "save_checkpoint"), "cam_core.checkpoints"),
    **dict.fromkeys(("CAM", "METHODS", "BaseCAM", "CAMResult", "GradCAM", "GradCAMPlusPlus", "make_extractor"),
                    "cam_core.engine.methods"),
    **dict.fromkeys(("CamInspectorError", "InputError", "ModelError", "UnsupportedArchitectureError"),
                    "cam_core.errors"),
    **dict.fromkeys(("Explainer", "Explanation"), "cam_core.explain.pipeline"),
    "load_model": "cam_core.models",
}

__all__ = [
    "BaseCAM", "CAM", "CAMResult", "CamInspectorError", "Explainer", "Explanation", "GradCAM", "GradCAMPlusPlus",
    "InputError", "METHODS", "ModelBundle", "ModelError", "UnsupportedArchitectureError", "list_models",
    "load_checkpoint", "load_model", "make_extractor", "save_checkpoint",
]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)

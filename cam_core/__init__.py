"""CAM Inspector core: class activation maps for OK/NG inspection, with no UI dependency.

    from cam_core import CAM
    with CAM(model) as cam:
        out = cam(batch)      # out.logits N×C, out.maps N×C×h×w (raw, every class, one forward pass)
"""

from cam_core.checkpoints import ModelBundle, list_models, load_checkpoint, save_checkpoint
from cam_core.engine.methods import CAM, METHODS, BaseCAM, CAMResult, GradCAM, GradCAMPlusPlus, make_extractor
from cam_core.errors import CamInspectorError, InputError, ModelError, UnsupportedArchitectureError
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.models import load_model

__all__ = [
    "BaseCAM", "CAM", "CAMResult", "CamInspectorError", "Explainer", "Explanation", "GradCAM", "GradCAMPlusPlus",
    "InputError", "METHODS", "ModelBundle", "ModelError", "UnsupportedArchitectureError", "list_models",
    "load_checkpoint", "load_model", "make_extractor", "save_checkpoint",
]

"""Old import path of :mod:`cam_core.evaluation` (the code lives in metrics, masks, evaluate and report now).

Import from :mod:`cam_core.evaluation` instead; this module only keeps ``cam_core.evaluation.core`` working.
"""

from cam_core.checkpoints.classes import positive_class_index
from cam_core.data.dataset import MANIFEST_FILE as MANIFEST
from cam_core.data.dataset import MASKS_FOLDER as MASKS_DIR
from cam_core.evaluation.evaluate import _class_folders, _list_files, balanced_subset, evaluate
from cam_core.evaluation.masks import binarize_mask, decode_mask, fit_mask, load_mask
from cam_core.evaluation.metrics import (
    TOLERANCE_AT_224,
    auroc,
    confusion,
    default_tolerance,
    energy_share,
    half_max_iou,
    localization_scores,
    pointing_hit,
)
from cam_core.evaluation.report import ALL_TYPES, LOCALIZATION_KEYS, EvaluationReport, format_report
from cam_core.evaluation.report import localization_summary as _summary

__all__ = [
    "ALL_TYPES", "LOCALIZATION_KEYS", "MANIFEST", "MASKS_DIR", "TOLERANCE_AT_224", "EvaluationReport", "_class_folders",
    "_list_files", "_summary", "auroc", "balanced_subset", "binarize_mask", "confusion", "decode_mask",
    "default_tolerance", "energy_share", "evaluate", "fit_mask", "format_report", "half_max_iou", "load_mask",
    "localization_scores", "pointing_hit", "positive_class_index",
]

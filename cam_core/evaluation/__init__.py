"""How good is a model, and do its maps point at the defect?

- :mod:`~cam_core.evaluation.metrics`: AUROC, confusion matrix, pointing game, energy share, half-max IoU;
- :mod:`~cam_core.evaluation.masks`: reading and fitting defect masks;
- :mod:`~cam_core.evaluation.evaluate`: :func:`evaluate` a model on a labelled folder;
- :mod:`~cam_core.evaluation.report`: the :class:`EvaluationReport` it returns, and its text;
- :mod:`~cam_core.evaluation.compare`: several networks side by side on one labelled set;
- :mod:`~cam_core.evaluation.honesty`: flags beside the figures (inverted ranking, few images, chance levels)
  and leakage from the model's training data.
"""

from cam_core.checkpoints.classes import positive_class_index
from cam_core.evaluation.compare import (
    SCORE_COLUMNS,
    LabelledFolder,
    NetworkComparison,
    compare_networks,
    labelled_folder,
    score_row,
)
from cam_core.evaluation.evaluate import balanced_subset, evaluate
from cam_core.evaluation.honesty import Flag, evaluation_flags, leakage
from cam_core.evaluation.masks import binarize_mask, decode_mask, fit_mask, load_mask
from cam_core.evaluation.metrics import (
    TOLERANCE_AT_224,
    auroc,
    confusion,
    default_tolerance,
    energy_share,
    half_max_iou,
    localization_scores,
    pointing_chance,
    pointing_hit,
)
from cam_core.evaluation.report import (
    ALL_TYPES,
    LOCALIZATION_KEYS,
    EvaluationReport,
    build_report,
    format_report,
    localization_summary,
)

__all__ = [
    "ALL_TYPES", "Flag", "LOCALIZATION_KEYS", "evaluation_flags", "leakage", "pointing_chance", "SCORE_COLUMNS", "TOLERANCE_AT_224", "EvaluationReport", "LabelledFolder",
    "NetworkComparison", "auroc", "balanced_subset", "binarize_mask", "build_report", "compare_networks",
    "confusion", "labelled_folder", "score_row", "decode_mask", "default_tolerance", "energy_share", "evaluate",
    "fit_mask", "format_report", "half_max_iou", "load_mask", "localization_scores", "localization_summary",
    "pointing_hit", "positive_class_index",
]

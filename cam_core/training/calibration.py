"""Moving the verdict threshold to the validation optimum: :func:`decision_offset` on the defect logit.

After training, the offset ``d`` of the defect logit that maximises the validation balanced accuracy is
added to the defect class's head bias (when every class has at least 10 validation images); the card
records it as ``decision_calibration``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cam_core.checkpoints import positive_class_index
from cam_core.engine.architectures import resolve_head
from cam_core.engine.hooks import resolve_module
from cam_core.errors import ModelError

__all__ = ["CALIBRATION_MIN_PER_CLASS", "DECISION_OFFSET_RANGE", "DECISION_OFFSET_STEP", "apply_decision_offset",
           "balanced_accuracy", "calibrate", "decision_offset"]

DECISION_OFFSET_RANGE = 3.0
CALIBRATION_MIN_PER_CLASS = 10    # fewer validation images of a class than this: the threshold stays at 0
DECISION_OFFSET_STEP = 0.05


def balanced_accuracy(margins: np.ndarray, is_positive: np.ndarray, offset: float = 0.0) -> float:
    """Mean of the recall of the defect class and of the rest when the verdict is ``margin + offset > 0``."""
    called = (np.asarray(margins) + offset) > 0
    truth = np.asarray(is_positive, dtype=bool)
    if truth.all() or not truth.any():
        return float("nan")
    return float((called[truth].mean() + (~called[~truth]).mean()) / 2)


def decision_offset(margins: np.ndarray, is_positive: np.ndarray) -> float:
    """The offset ``d`` of the defect logit (in ±3, steps of 0.05) that maximises the validation balanced accuracy.

    Ties go to the smallest ``|d|``, so a model that is balanced already keeps ``d = 0``. Adding ``d`` to the
    defect class's head bias moves the verdict threshold without touching any map of a linear head (maps
    exclude the bias); a 1×1-conv head's maps carry the bias, so they move by ``d`` and keep the identity.
    """
    best, best_score = 0.0, balanced_accuracy(margins, is_positive)
    if not np.isfinite(best_score):
        return 0.0
    steps = int(round(DECISION_OFFSET_RANGE / DECISION_OFFSET_STEP))
    for k in sorted(range(-steps, steps + 1), key=abs):
        d = k * DECISION_OFFSET_STEP
        score = balanced_accuracy(margins, is_positive, d)
        if score > best_score + 1e-9:
            best, best_score = d, score
    return float(best)


def apply_decision_offset(model: nn.Module, positive: int, offset: float) -> None:
    """Add ``offset`` to the defect class's classifier bias (in place)."""
    head = resolve_module(model, resolve_head(model).classifier)
    bias = getattr(head, "bias", None)
    if bias is None:
        raise ModelError("the classifier has no bias to calibrate")
    with torch.no_grad():
        bias[positive] += offset


def calibrate(model: nn.Module, classes: Sequence[str], margins: np.ndarray, is_positive: np.ndarray
              ) -> dict[str, Any]:
    """Move the verdict threshold to the validation optimum (:func:`decision_offset`); what the card records."""
    positive = positive_class_index(classes)
    n_pos = int(np.count_nonzero(is_positive))
    if min(n_pos, len(is_positive) - n_pos) < CALIBRATION_MIN_PER_CLASS:
        return {"defect_logit_offset": 0.0,
                "skipped": f"fewer than {CALIBRATION_MIN_PER_CLASS} validation images of a class: threshold kept"}
    offset = decision_offset(margins, is_positive)
    if offset:
        apply_decision_offset(model, positive, offset)
    return {"defect_logit_offset": offset,
            "balanced_accuracy_before": balanced_accuracy(margins, is_positive),
            "balanced_accuracy_after": balanced_accuracy(margins, is_positive, offset),
            "rule": f"added to the {classes[positive]} head bias; the offset in ±{DECISION_OFFSET_RANGE:g} "
                    "(steps of 0.05, smallest first) that maximises balanced accuracy on the validation images"}

"""How good is the model a run just saved? :func:`validation_judgement` (words for the card) and
:func:`training_summary` (the lines the CLI prints and the Models page shows at the end of a run).

The validation figures come with the number of images they rest on, a 95 % margin on the accuracy
(``±1.96·√(p(1−p)/n)``), whether the verdict threshold was calibrated, the flags of
:mod:`cam_core.evaluation.honesty` (fewer than 20 images of a class, inverted ranking) and the domain reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from cam_core.checkpoints.card import ModelCard
from cam_core.evaluation.honesty import MIN_PER_CLASS, auroc_flags, class_count_flags

__all__ = ["accuracy_margin", "training_summary", "validation_flags", "validation_judgement"]


def accuracy_margin(accuracy: float, n: int) -> float:
    """Half-width of the 95 % normal interval of an accuracy measured on ``n`` images: ``1.96·√(p(1−p)/n)``."""
    if n <= 0:
        return float("inf")
    p = min(max(accuracy, 0.0), 1.0)
    return 1.96 * math.sqrt(max(p * (1 - p), 0.25 / n) / n)


def validation_flags(counts: Mapping[str, int], auroc: float | None) -> list[dict[str, str]]:
    """Flags on a validation split: fewer than 20 images of a class, inverted ranking."""
    flags = class_count_flags(counts, "validation images") + auroc_flags(auroc)
    return [f.as_record() for f in flags]


def validation_judgement(counts: Mapping[str, int], accuracy: float) -> str:
    """Words for the card: whether the validation split is large enough to judge the model, and how rough it is."""
    n = sum(counts.values())
    margin = accuracy_margin(accuracy, n)
    split = ", ".join(f"{c} {k}" for c, k in counts.items())
    if min(counts.values(), default=0) < MIN_PER_CLASS:
        return (f"too small to judge the model: {n} validation images ({split}), fewer than {MIN_PER_CLASS} of a "
                f"class; the accuracy {accuracy:.3f} could be off by ±{margin:.2f}. Add images, or score it on a "
                "separate labelled set (evaluate / Compare)")
    return f"{n} validation images ({split}): accuracy {accuracy:.3f} ± {margin:.2f} (95 %)"


def training_summary(card: ModelCard) -> list[str]:
    """The end-of-run lines: validation figures and size, its judgement, calibration, flags, domain reference."""
    validation = card.validation
    auroc = validation.get("auroc")
    lines = [f"validation: accuracy {validation.get('accuracy', float('nan')):.3f}, AUROC "
             + (f"{auroc:.3f}" if isinstance(auroc, int | float) else "n/a")
             + f" on {validation.get('n_images', '?')} images"]
    if validation.get("judgement"):
        lines.append(f"judgement: {validation['judgement']}")
    calibration = card.decision_calibration
    if isinstance(calibration, Mapping):
        lines.append("threshold calibration: " + (str(calibration["skipped"]) if calibration.get("skipped") else
                     f"ran (defect logit offset {calibration.get('defect_logit_offset', 0.0):+.2f})"))
    else:
        lines.append("threshold calibration: did not run")
    lines += [f"FLAG: {flag['text']}" for flag in validation.get("flags", [])]
    domain = card.domain
    if domain is not None:
        lines.append(f"domain reference: {domain.n_reference} training images, threshold {domain.threshold:.4f}"
                     + (f" (calibrated on {domain.calibration})" if domain.calibration else ""))
    else:
        lines.append("domain reference: none (the domain of this model is unknown)")
    return lines

"""Validating an epoch (loss, accuracy, AUROC of the defect class, CAM value range) and judging the run.

The best epoch is the one with the highest validation AUROC, then the lowest validation loss
(:func:`better`). A finished run has learned something when its AUROC is at least 0.6 and its accuracy
beats always answering the largest class (:func:`learned_something`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.evaluation import auroc, confusion
from cam_core.training.augment import normalize
from cam_core.training.buckets import Bucket

__all__ = ["LEARNED_MIN_AUROC", "MAP_PERCENTILES", "ValResult", "better", "defect_margins", "learned_something",
           "validate"]

MAP_PERCENTILES = (1.0, 99.0)
LEARNED_MIN_AUROC = 0.6


@dataclass
class ValResult:
    loss: float
    acc: float
    auroc: float
    confusion: list[list[int]]
    map_range: tuple[float, float]
    evidence_top: float = 1.0
    margins: np.ndarray | None = None      # defect logit − the largest other logit, per validation image
    is_positive: np.ndarray | None = None  # whether each validation image is of the defect class


def _forward(model: nn.Module, buckets: Sequence[Bucket], batch_size: int, device: torch.device
             ) -> tuple[Tensor, Tensor, Tensor]:
    """(logits, every CAM value, every |evidence| value) over the buckets, in one pass with the CAM hook."""
    from cam_core.engine.methods import CAM

    logits_all, maps_all, evidence_all = [], [], []
    with CAM(model, domain=False) as cam:
        for bucket in buckets:
            for start in range(0, bucket.images.shape[0], batch_size):
                batch = bucket.images[start:start + batch_size].to(device).float().div_(255.0)
                out = cam(normalize(batch))
                logits_all.append(out.logits.cpu())
                maps_all.append(out.maps.cpu().flatten())
                centred = out.maps - out.maps.mean(dim=1, keepdim=True)
                evidence_all.append(centred.abs().cpu().flatten())
    return torch.cat(logits_all), torch.cat(maps_all), torch.cat(evidence_all)


def validate(model: nn.Module, buckets: Sequence[Bucket], positive: int, batch_size: int,
             device: torch.device) -> ValResult:
    """Loss, accuracy, AUROC and CAM value percentiles over the validation images (one pass, CAM hook)."""
    model.eval()
    logits, maps, evidence = _forward(model, buckets, batch_size, device)
    labels = torch.cat([b.labels for b in buckets])
    loss = float(F.cross_entropy(logits, labels))
    predicted = logits.argmax(dim=1)
    p_pos = torch.softmax(logits, dim=1)[:, positive].numpy()
    lo, hi = np.percentile(maps.numpy(), MAP_PERCENTILES)
    return ValResult(
        loss=loss, acc=float((predicted == labels).float().mean()),
        auroc=auroc(p_pos, (labels == positive).numpy()),
        confusion=confusion(predicted.numpy(), labels.numpy(), logits.shape[1]).tolist(),
        map_range=(float(lo), float(hi)),
        evidence_top=float(np.percentile(evidence.numpy(), MAP_PERCENTILES[1])),
        margins=defect_margins(logits, positive).numpy(), is_positive=(labels == positive).numpy())


def defect_margins(logits: Tensor, positive: int) -> Tensor:
    """``z_defect − max_{c ≠ defect} z_c`` per row: the verdict is the defect class exactly when this is > 0."""
    others = torch.cat([logits[:, :positive], logits[:, positive + 1:]], dim=1)
    return logits[:, positive] - others.max(dim=1).values


def better(val: ValResult, best: ValResult | None) -> bool:
    """Higher AUROC wins (NaN counts as lowest), then lower loss."""
    if best is None:
        return True

    def key(v: ValResult) -> tuple[float, float]:
        return (v.auroc if math.isfinite(v.auroc) else -math.inf, -v.loss)

    return key(val) > key(best)


def learned_something(val_acc: float, val_auroc: float, val_counts: dict[str, int]) -> str | None:
    """None when validation shows the model learned something, else the reason it did not.

    It must rank the defect class above chance (AUROC ≥ 0.6) and beat always answering the largest class.
    """
    total = max(1, sum(val_counts.values()))
    majority = max(val_counts.values(), default=0) / total
    if not math.isfinite(val_auroc) or val_auroc < LEARNED_MIN_AUROC:
        shown = f"{val_auroc:.2f}" if math.isfinite(val_auroc) else "undefined"
        return f"validation AUROC {shown} is below {LEARNED_MIN_AUROC} (chance is 0.5)"
    if val_acc <= majority + 1e-9:
        return (f"validation accuracy {val_acc:.3f} is no better than always answering the largest class "
                f"({majority:.3f})")
    return None

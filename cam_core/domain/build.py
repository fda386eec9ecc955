"""Making a domain reference from in-domain features: :func:`fit_domain` (features → reference + threshold), for
training and for the ``reference`` command (:mod:`cam_core.reference`, which explains a folder of images for them).

The threshold: the reference vectors are fitted on one part of the in-domain images, the distances of the
other part (held out: the validation split in training, a random share of the folder otherwise) are the
in-domain distances, and ``threshold = MARGIN × quantile_{QUANTILE}(held-out distances)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cam_core.domain.features import FEATURES_KIND
from cam_core.domain.reference import DomainReference
from cam_core.domain.scorer import DomainModel, calibrated_threshold, knn_distances
from cam_core.errors import InputError

__all__ = ["K_NEAREST", "MARGIN", "MAX_REFERENCE", "MIN_CALIBRATION", "QUANTILE", "fit_domain"]

K_NEAREST = 5
QUANTILE = 0.99
MARGIN = 1.1               # 10 % above the held-out quantile: a new in-domain image is rarely past it
MAX_REFERENCE = 1000       # reference vectors kept (a random subset beyond): ≤ 5 MB of float16 for 2560 features
MIN_CALIBRATION = 20       # fewer held-out images: the reference's own leave-one-out distances join them


def fit_domain(reference: Tensor, held_out: Tensor, *, layer: str, source: str, seed: int = 0,
               measured: dict[str, Any] | None = None) -> DomainModel:
    """The domain model of ``reference`` features (R×D raw) with its threshold from ``held_out`` (H×D raw).

    At most :data:`MAX_REFERENCE` reference vectors are kept (a seeded random subset). With fewer than
    :data:`MIN_CALIBRATION` held-out images, the reference's leave-one-out distances are added to theirs."""
    if reference.shape[0] < 2:
        raise InputError("a domain reference needs at least 2 in-domain images")
    if reference.shape[0] > MAX_REFERENCE:
        keep = torch.randperm(reference.shape[0], generator=torch.Generator().manual_seed(seed))[:MAX_REFERENCE]
        reference = reference[keep]
    k = min(K_NEAREST, reference.shape[0] - 1)
    record = DomainReference(layer=layer, features=FEATURES_KIND, k=k, threshold=0.0,
                             n_reference=int(reference.shape[0]), n_calibration=int(held_out.shape[0]),
                             quantile=QUANTILE, margin=MARGIN, source=source, measured=measured)
    model = DomainModel.fit(reference, record)
    distances = model.distances(held_out) if held_out.shape[0] else np.zeros(0)
    if held_out.shape[0] < MIN_CALIBRATION:
        own = knn_distances(model.vectors, model.vectors, k, exclude_self=True).numpy()
        distances = np.concatenate([distances, own])
        record = replace(record, n_calibration=int(held_out.shape[0]) + int(own.shape[0]))
    return replace(model, reference=replace(record, threshold=calibrated_threshold(distances, QUANTILE, MARGIN)))

"""Making a domain reference from in-domain features: :func:`fit_domain` (features → reference + threshold), for
training and for the ``reference`` command (:mod:`cam_core.reference`, which explains a folder of images for them).

The threshold: the reference vectors are fitted on one part of the in-domain images, the distances of the
other part (held out: the validation split in training, a random share of the folder otherwise) are the
in-domain distances, and

    threshold = MARGIN × quantile_{QUANTILE}(calibration distances)

With QUANTILE = 0.99 about 1 % of new in-domain images would lie past the quantile itself; MARGIN = 1.1 leaves
room for the quantile's own sampling error (a few hundred distances) and for float16 reference vectors.

Which distances calibrate it: when the images come in named groups (acquisition runs: training with
``--group-pattern``) and the reference holds at least two, those of whole groups to a reference without them
(:mod:`cam_core.domain.calibration`: leave-one-group-out over the reference groups, with the held-out groups
against the reference), so that the line is drawn for "an image of a new run", not "a new image of a known run";
the quantile is then taken per group and the farthest group's sets the line:
``MARGIN × max(quantile(all), max_g quantile(group g))``, groups of at least :data:`MIN_CALIBRATION` images.
Otherwise those of the held-out images against the reference (with fewer than :data:`MIN_CALIBRATION` of them,
the reference's own leave-one-out distances join). The reference vectors are always all the reference images
(up to :data:`MAX_REFERENCE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cam_core.domain.calibration import (
    farthest_group_threshold,
    group_ids,
    named_groups,
    unseen_group_distances,
)
from cam_core.domain.features import FEATURES_KIND
from cam_core.domain.reference import HELD_OUT_IMAGES, DomainReference
from cam_core.domain.scorer import DomainModel, calibrated_threshold, knn_distances, normalised
from cam_core.errors import InputError

__all__ = ["K_NEAREST", "MARGIN", "MAX_REFERENCE", "MIN_CALIBRATION", "QUANTILE", "fit_domain"]

K_NEAREST = 5
QUANTILE = 0.99
MARGIN = 1.1               # 10 % above the held-out quantile: a new in-domain image is rarely past it
MAX_REFERENCE = 1000       # reference vectors kept (a random subset beyond): ≤ 5 MB of float16 for 2560 features
MIN_CALIBRATION = 20       # fewer held-out images: the reference's own leave-one-out distances join them


def fit_domain(reference: Tensor, held_out: Tensor, *, layer: str, source: str, seed: int = 0,
               measured: dict[str, Any] | None = None, reference_groups: Sequence[str | None] | None = None,
               held_out_groups: Sequence[str | None] | None = None) -> DomainModel:
    """The domain model of ``reference`` features (R×D raw) with its threshold from ``held_out`` (H×D raw).

    At most :data:`MAX_REFERENCE` reference vectors are kept (a seeded random subset). ``reference_groups`` and
    ``held_out_groups`` (one name or ``None`` per row): with two or more named groups among the kept reference
    rows, the threshold is calibrated on whole held-out groups (module docstring); else on the held-out images,
    and with fewer than :data:`MIN_CALIBRATION` of them the reference's leave-one-out distances join theirs."""
    if reference.shape[0] < 2:
        raise InputError("a domain reference needs at least 2 in-domain images")
    ref_groups = list(reference_groups) if reference_groups is not None else [None] * reference.shape[0]
    held_groups = list(held_out_groups) if held_out_groups is not None else [None] * held_out.shape[0]
    if len(ref_groups) != reference.shape[0] or len(held_groups) != held_out.shape[0]:
        raise ValueError("one group per reference and held-out row is needed")
    if reference.shape[0] > MAX_REFERENCE:
        keep = torch.randperm(reference.shape[0], generator=torch.Generator().manual_seed(seed))[:MAX_REFERENCE]
        reference = reference[keep]
        ref_groups = [ref_groups[i] for i in keep.tolist()]
    k = min(K_NEAREST, reference.shape[0] - 1)
    record = DomainReference(layer=layer, features=FEATURES_KIND, k=k, threshold=0.0,
                             n_reference=int(reference.shape[0]), n_calibration=0,
                             quantile=QUANTILE, margin=MARGIN, source=source, measured=measured)
    model = DomainModel.fit(reference, record)
    if len(named_groups(ref_groups)) >= 2:
        distances, threshold, calibration = _group_calibration(model, held_out, ref_groups, held_groups)
    else:
        distances, calibration = _image_distances(model, held_out)
        threshold = calibrated_threshold(distances, QUANTILE, MARGIN)
    record = replace(record, n_calibration=int(distances.shape[0]), calibration=calibration, threshold=threshold)
    return replace(model, reference=record)


def _image_distances(model: DomainModel, held_out: Tensor) -> tuple[np.ndarray, str]:
    """The held-out images' distances (and the reference's leave-one-out ones when they are too few)."""
    distances = model.distances(held_out) if held_out.shape[0] else np.zeros(0)
    if held_out.shape[0] >= MIN_CALIBRATION:
        return distances, HELD_OUT_IMAGES
    own = knn_distances(model.vectors, model.vectors, model.reference.k, exclude_self=True).numpy()
    return np.concatenate([distances, own]), f"{HELD_OUT_IMAGES} and the reference's leave-one-out distances"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _group_calibration(model: DomainModel, held_out: Tensor, ref_groups: Sequence[str | None],
                       held_groups: Sequence[str | None]) -> tuple[np.ndarray, float, str]:
    """(leave-one-group-out distances of the reference rows with the held-out rows' distances to the reference
    rows of other groups, the farthest group's threshold, the words for the card)."""
    ref_ids, held_ids = group_ids(ref_groups, held_groups)
    k = model.reference.k
    own = unseen_group_distances(model.vectors, ref_ids, model.vectors, ref_ids, k)
    held = unseen_group_distances(normalised(held_out), held_ids, model.vectors, ref_ids, k)
    distances = np.concatenate([own, held])
    threshold, n_large = farthest_group_threshold(distances, np.concatenate([ref_ids, held_ids]), QUANTILE, MARGIN,
                                                  MIN_CALIBRATION)
    words = f"held-out groups (leave-one-group-out over {_count(len(named_groups(ref_groups)), 'reference group')}"
    if held.shape[0]:
        words += f", and {held.shape[0]} held-out images of {_count(len(named_groups(held_groups)), 'group')}"
    words += (f"; the farthest of {_count(n_large, 'group')} of ≥ {MIN_CALIBRATION} images)" if n_large else
              f"; pooled, no group of ≥ {MIN_CALIBRATION} images)")
    return distances, threshold, words

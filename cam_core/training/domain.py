"""The domain reference a training run writes (:func:`training_domain`): the training images' features,
with the threshold calibrated on the validation images, or with split groups (``--group-pattern``) on whole
held-out groups: leave-one-group-out over the training groups and the validation groups
(:func:`cam_core.domain.build.fit_domain`).

Features come from the trained model in eval mode, through the same CAM extractor that explains images later,
on the images as :meth:`ModelBundle.preprocess` feeds them: the validation images as stored, the training images
decoded again at the network input size (:func:`record_features`, in chunks). Their stored 1.15× working copies,
downsampled, moved each image's features by a median cosine distance of 0.005 from how it is seen when explained,
and every explained image looked that much farther from the reference than the calibration had measured.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.domain import DomainModel
from cam_core.domain.build import fit_domain
from cam_core.progress import ignore_progress
from cam_core.training.augment import normalize
from cam_core.training.buckets import Bucket, bucketize
from cam_core.training.config import TrainConfig
from cam_core.training.data import ImageRecord
from cam_core.training.tensors import decode_images, network_size

__all__ = ["CHUNK", "bucket_features", "record_features", "training_domain"]

CHUNK = 256        # training images decoded at a time for their features (memory stays one chunk)


def bucket_features(model: nn.Module, buckets: Sequence[Bucket], batch_size: int, device: torch.device
                    ) -> tuple[Tensor, str, list[str | None]]:
    """``(N×D domain features, CAM layer, each row's group)`` of every image in ``buckets``, each at its bucket's
    input size (groups ``None`` where a bucket has none)."""
    from cam_core.engine.methods import CAM

    rows: list[Tensor] = []
    groups: list[str | None] = []
    layer = ""
    model.eval()
    with CAM(model) as cam:
        for bucket in buckets:
            for start in range(0, bucket.images.shape[0], batch_size):
                batch = bucket.images[start:start + batch_size].to(device).float().div_(255.0)
                if tuple(batch.shape[-2:]) != tuple(bucket.out_size):
                    batch = F.interpolate(batch, size=bucket.out_size, mode="bilinear", antialias=True,
                                          align_corners=False).clamp_(0.0, 1.0)
                out = cam(normalize(batch))
                if out.features is not None:
                    rows.append(out.features.cpu())
                    groups += (list(bucket.groups[start:start + batch_size]) if bucket.groups is not None
                               else [None] * batch.shape[0])
                layer = out.features_layer or ""
    return (torch.cat(rows) if rows else torch.zeros(0, 0)), layer, groups


def record_features(model: nn.Module, records: Sequence[ImageRecord], config: TrainConfig, batch_size: int,
                    device: torch.device) -> tuple[Tensor, str, list[str | None]]:
    """:func:`bucket_features` of ``records`` decoded at their network input size, :data:`CHUNK` at a time
    (unreadable files left out, as in training)."""
    size_for = network_size(config)
    parts: list[Tensor] = []
    groups: list[str | None] = []
    layer = ""
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        arrays, kept = decode_images(chunk, size_for, config.num_workers, ignore_progress, "reference")
        if not arrays:
            continue
        buckets = bucketize(arrays, [chunk[i].label for i in kept], [a.shape[:2] for a in arrays],
                            groups=[chunk[i].group for i in kept])
        features, layer, chunk_groups = bucket_features(model, buckets, batch_size, device)
        if features.numel():
            parts.append(features)
            groups += chunk_groups
    return (torch.cat(parts) if parts else torch.zeros(0, 0)), layer, groups


def training_domain(model: nn.Module, train: Sequence[ImageRecord], val: Sequence[Bucket], config: TrainConfig,
                    batch_size: int, device: torch.device, source: str) -> DomainModel | None:
    """The run's domain model (None when the head gives no features, e.g. a 1×1-conv head): ``train`` (the
    training side's records) as the reference, ``val`` (buckets) held out. With split groups the threshold is
    calibrated on whole held-out groups (:func:`~cam_core.domain.build.fit_domain`)."""
    reference, layer, reference_groups = record_features(model, train, config, batch_size, device)
    held_out, _, held_out_groups = bucket_features(model, val, batch_size, device)
    if reference.shape[0] < 2 or reference.shape[1] == 0:
        return None
    return fit_domain(reference, held_out, layer=layer, source=source, seed=config.seed,
                      reference_groups=reference_groups, held_out_groups=held_out_groups)

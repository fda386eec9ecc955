"""Images of one network input size, stacked in memory (:class:`Bucket`), and the batches an epoch cuts from them.

Every batch comes from one bucket, so a batch never mixes input sizes (``resize="aspect"`` gives several).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Bucket", "batches", "bucketize", "steps_per_epoch"]


@dataclass
class Bucket:
    """Images that share one stored size (and so one network input size ``out_size``)."""

    out_size: tuple[int, int]
    images: Tensor                   # N×3×h×w uint8
    labels: Tensor                   # N
    masks: Tensor | None = None      # N×1×h×w uint8 0/255
    teacher_logits: Tensor | None = None   # N×C, a teacher's logits (distillation)
    teacher_maps: Tensor | None = None     # N×1×h'×w', a teacher's defect-evidence map (distillation)
    groups: tuple[str | None, ...] | None = None   # each image's split group (acquisition run), when grouped


def bucketize(arrays: list[np.ndarray], labels: list[int], out_sizes: list[tuple[int, int]],
              masks: list[np.ndarray] | None = None, groups: Sequence[str | None] | None = None) -> list[Bucket]:
    """Stack the images of each network input size (in order of first appearance), with their groups."""
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(out_sizes):
        by_size.setdefault(size, []).append(i)
    buckets = []
    for size, members in by_size.items():
        images = torch.from_numpy(np.stack([arrays[i] for i in members])).permute(0, 3, 1, 2).contiguous()
        bucket_masks = None if masks is None else torch.from_numpy(np.stack([masks[i] for i in members]))[:, None]
        buckets.append(Bucket(size, images, torch.tensor([labels[i] for i in members], dtype=torch.long),
                              bucket_masks,
                              groups=None if groups is None else tuple(groups[i] for i in members)))
    return buckets


def batches(buckets: Sequence[Bucket], batch_size: int, generator: torch.Generator) -> list[tuple[int, Tensor]]:
    """One epoch of ``(bucket, row indices)`` batches: each bucket shuffled and cut into ``batch_size`` pieces
    (a last piece of 1 image is dropped when the bucket has more, as BatchNorm cannot train on it); with
    several buckets the batch order is shuffled too."""
    out = []
    for b, bucket in enumerate(buckets):
        n = bucket.labels.numel()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            if n - start == 1 and n > 1:
                break
            out.append((b, order[start:start + batch_size]))
    if len(buckets) > 1:
        out = [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]
    return out


def steps_per_epoch(buckets: Sequence[Bucket], batch_size: int) -> int:
    """The number of batches :func:`batches` cuts."""
    n = [b.labels.numel() for b in buckets]
    return sum(math.ceil(k / batch_size) - (1 if k > 1 and k % batch_size == 1 else 0) for k in n)

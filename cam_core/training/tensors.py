"""Reading the data set into memory: decoded, resized uint8 tensors in buckets of one input size.

Every image is decoded once (:func:`cam_core.data.imaging.load_image`, so grayscale becomes RGB) and kept
in memory as uint8 at 1.15× its network input size (training) or at exactly that size (validation,
resized as :meth:`ModelBundle.preprocess` does at inference time). The input size is ``image_size²`` with
``resize="square"``, or :func:`~cam_core.checkpoints.bundle.fitted_input_size` with ``resize="aspect"``:
about ``image_size²`` pixels at the image's own aspect ratio. Images of one input size form a bucket, and
each batch comes from one bucket (:mod:`cam_core.training.buckets`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from cam_core.checkpoints import fitted_input_size
from cam_core.errors import InputError
from cam_core.progress import ProgressCallback
from cam_core.training.augment import WORKING_SCALE
from cam_core.training.buckets import Bucket, bucketize
from cam_core.training.config import TrainConfig
from cam_core.training.data import DatasetIndex, ImageRecord
from cam_core.training.events import loading_event, note

__all__ = ["LoadedData", "decode_images", "decode_mask", "load_data", "network_size"]

SizeFor = Callable[[int, int], tuple[int, int]]      # (width, height) of an image → (height, width) to store


def decode_images(records: Sequence[ImageRecord], size_for: SizeFor, workers: int, emit: ProgressCallback,
                  what: str) -> tuple[list[np.ndarray], list[int]]:
    """Decode each image and resize it (bilinear) to ``size_for(W, H)`` → (H×W×3 uint8 arrays, kept indices)."""
    from cam_core.data.imaging import load_image

    def one(i: int) -> np.ndarray | None:
        try:
            image = load_image(records[i].path).image
        except InputError as exc:
            emit(note(f"skipped {records[i].path.name}: {exc}"))
            return None
        height, width = size_for(*image.size)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    arrays: list[np.ndarray] = []
    kept: list[int] = []
    step = max(1, len(records) // 20)
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
    results = pool.map(one, range(len(records))) if pool is not None else map(one, range(len(records)))
    try:
        for i, array in enumerate(results):
            if array is not None:
                arrays.append(array)
                kept.append(i)
            if (i + 1) % step == 0 or i + 1 == len(records):
                emit(loading_event(what, i + 1, len(records)))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return arrays, kept


def decode_mask(record: ImageRecord, shape: tuple[int, int], emit: ProgressCallback) -> np.ndarray:
    """The defect mask of ``record`` at ``shape = (H, W)`` as uint8 0/255 (zeros without a readable mask)."""
    out = np.zeros(shape, dtype=np.uint8)
    if record.mask is None:
        return out
    try:
        with Image.open(record.mask) as opened:
            mask = opened.convert("L").resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
            out[...] = (np.asarray(mask) >= 128).astype(np.uint8) * 255
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        emit(note(f"ignored the mask of {record.path.name}: {exc}"))
    return out


def _groups(index: DatasetIndex, kept: list[int]) -> list[str | None] | None:
    """The split groups of the kept records (``None`` when no record of ``index`` has one)."""
    if all(r.group is None for r in index.records):
        return None
    return [index.records[i].group for i in kept]


@dataclass
class LoadedData:
    """Both sides of the split in memory."""

    train: list[Bucket]
    val: list[Bucket]
    train_labels: Tensor
    val_labels: Tensor
    masked_train_images: int         # training images with a non-empty mask (0 when masks are not used)
    skipped: int                     # unreadable images left out


def network_size(config: TrainConfig) -> SizeFor:
    """``(width, height) → (height, width)`` of the network input, as :meth:`ModelBundle.preprocess` sizes it."""
    base = (config.image_size, config.image_size)

    def net_size(width: int, height: int) -> tuple[int, int]:
        return fitted_input_size(width, height, base, config.resize)

    return net_size


def load_data(train_index: DatasetIndex, val_index: DatasetIndex, config: TrainConfig,
              emit: ProgressCallback) -> LoadedData:
    """Decode both sides at their stored sizes; :class:`InputError` when a side lacks a class afterwards."""
    out_size: dict[tuple[int, int], tuple[int, int]] = {}     # stored train size → network input size
    net_size = network_size(config)

    def work_size(width: int, height: int) -> tuple[int, int]:
        size = net_size(width, height)
        work = (round(size[0] * WORKING_SCALE), round(size[1] * WORKING_SCALE))
        out_size[work] = size
        return work

    train_arrays, kept_train = decode_images(train_index.records, work_size, config.num_workers, emit, "train")
    val_arrays, kept_val = decode_images(val_index.records, net_size, config.num_workers, emit, "val")
    train_labels = [train_index.records[i].label for i in kept_train]
    train_masks = ([decode_mask(train_index.records[i], a.shape[:2], emit) for i, a in zip(kept_train, train_arrays)]
                   if config.mask_loss_weight > 0 else None)
    masked = 0 if train_masks is None else sum(int(m.any()) for m in train_masks)
    train = bucketize(train_arrays, train_labels, [out_size[a.shape[:2]] for a in train_arrays],
                      train_masks if masked else None, _groups(train_index, kept_train))
    val = bucketize(val_arrays, [val_index.records[i].label for i in kept_val], [a.shape[:2] for a in val_arrays],
                    groups=_groups(val_index, kept_val))
    loaded = LoadedData(train=train, val=val, train_labels=torch.tensor(train_labels, dtype=torch.long),
                        val_labels=torch.cat([b.labels for b in val]) if val else torch.zeros(0, dtype=torch.long),
                        masked_train_images=masked,
                        skipped=len(train_index) + len(val_index) - len(kept_train) - len(kept_val))
    n_classes = len(train_index.classes)
    for name, labels in (("training", loaded.train_labels[loaded.train_labels >= 0]),
                         ("validation", loaded.val_labels)):
        if labels.numel() == 0 or torch.bincount(labels, minlength=n_classes).min() == 0:
            raise InputError(f"after skipping unreadable files the {name} set lacks a class")
    return loaded

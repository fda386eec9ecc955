"""Train an OK/NG classifier on class folders and save it as a CAM Inspector checkpoint.

    from cam_core.training.core import TrainConfig, train_model
    result = train_model("data/parts", "user_models/parts.safetensors", TrainConfig(arch="squeezenet1_1"))

Data: one subfolder per class (``ok/``, ``ng/``; a ``masks/`` folder is not a class). Every image is
decoded once (:func:`cam_core.data.imaging.load_image`, so grayscale becomes RGB) and kept in memory as
uint8 at 1.15× its network input size (training) or at exactly that size (validation, resized as
:meth:`ModelBundle.preprocess` does at inference time). The input size is ``image_size²`` with
``resize="square"``, or :func:`~cam_core.checkpoints.bundle.fitted_input_size` with ``resize="aspect"``: about
``image_size²`` pixels at the image's own aspect ratio. Images of one input size form a bucket, and
each batch comes from one bucket.

Augmentation runs per batch with torch ops on the training device, as one affine resampling
(``grid_sample``, reflection padding) per image plus a photometric jitter:

- horizontal and vertical flips (p = ½ each), rotation uniform in ±10°;
- random resized crop: area 80–100 % of the working copy, aspect ratio 0.9–1.1 of its own, anywhere inside;
- brightness ×U(0.8, 1.2), contrast ×U(0.8, 1.2) around the image mean;
- ImageNet mean/std normalisation.

Optimisation: AdamW (weight decay 1e-4) with per-architecture default rates (:data:`DEFAULT_LR`);
the classifier head starts at zero (:func:`_zero_head`); its bias trains at 100× that rate, its
weights at 10× (100× for SqueezeNet) (:func:`_param_groups`);
every rate is warmed up linearly over ``min(1 epoch, max(1, ⌈5 % of all steps⌉))`` steps, then
cosine-decayed to 0; gradients are clipped to norm 2. Class imbalance: class-weighted cross-entropy,
``w_c = N / (C · N_c)`` (every image seen once per epoch). SqueezeNet is built without the ReLU after
its final 1×1 conv (``head_relu=False``, recorded in the card): with two classes that ReLU can clamp
both logits to 0 and training collapses to chance.

Defect masks, when the data has them (``masks/<stem>.png``), add a pointing loss on the maps
(:class:`PointingLoss`, weight ``mask_loss_weight``, default 1): the defect-class map must peak inside
the mask, stay quiet elsewhere and show no peak on OK images. The masks follow the same augmentation.

Each epoch is validated (loss, accuracy, AUROC of the defect class); the best epoch — highest val
AUROC, then lowest val loss — is saved atomically, so an interruption (Ctrl+C or ``should_stop()``)
always leaves the best model so far. The card records how the model was made and a map value
range (1st–99th percentile of all CAM values over the validation images) for fixed colour scales.
"""

from __future__ import annotations

import math
import platform
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import Tensor, nn

from cam_core.checkpoints.bundle import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESIZE_MODES,
    fitted_input_size,
    pick_device,
    save_checkpoint,
)
from cam_core.engine.architectures import (
    KNOWN_ARCHITECTURES,
    MAP_STRIDE_RULE,
    build_model,
    map_stride_supported,
    resolve_head,
)
from cam_core.engine.hooks import ActivationCapture, linear_weight_product, resolve_module
from cam_core.engine.imagenet import imagenet_state, load_backbone
from cam_core.errors import CamInspectorError, InputError, ModelError
from cam_core.evaluation.core import auroc, confusion, positive_class_index
from cam_core.synth.parts import DATA_DESCRIPTION

__all__ = [
    "DEFAULT_LR", "DatasetIndex", "EpochStats", "ImageRecord", "PointingLoss", "TrainConfig", "TrainResult",
    "augment_batch", "augment_with_masks", "auto_epochs",
    "default_lr", "frozen_prefixes", "group_by_pattern", "scan_dataset", "split_dataset", "train_model",
]

Progress = Callable[[dict[str, Any]], None]

MASKS_DIR = "masks"
WORKING_SCALE = 1.15            # training images are kept at 1.15× their network input size
ROTATION_DEG = 10.0
CROP_AREA = (0.8, 1.0)
CROP_ASPECT = (0.9, 1.1)
BRIGHTNESS = 0.2
CONTRAST = 0.2
GRAD_CLIP_NORM = 2.0
HEAD_LR_MULT = 10.0
# SqueezeNet's head (a 1×1 conv on sparse, un-normalised ReLU features) needs 100× to grow in time; on the
# BatchNorm'd 1024-feature GoogLeNet 100× made every logit jump by tens per step (train loss 11 after an epoch).
HEAD_LR_MULT_BY_ARCH = {"squeezenet1_0": 100.0, "squeezenet1_1": 100.0}
HEAD_BIAS_LR_MULT = 100.0
WARMUP_FRACTION = 0.05
# Default length of a run, in optimiser steps: every from-scratch run measured here was still improving
# at ~1000 steps (docs/localization.md: magnetic tiles went from AUROC 0.70 at 320 steps to 0.85 at 960).
AUTO_STEPS = 1500
AUTO_EPOCHS_RANGE = (10, 100)
# From ImageNet weights far fewer steps suffice (docs/transfer.md: Lite0 on synthetic parts and magnetic tiles).
AUTO_STEPS_PRETRAINED = 600
AUTO_EPOCHS_RANGE_PRETRAINED = (4, 40)
# Fine-tuning keeps the stages up to output stride 8 at their ImageNet weights (with BatchNorm running
# statistics): generic edges and textures need no retraining, and the backward pass through the
# high-resolution early layers is most of the CPU cost (Lite0 at 224 px, batch 16, 2 cores: 20 img/s
# trained whole, 91 img/s with these frozen; docs/transfer.md).
FROZEN_PREFIXES: dict[str, tuple[str, ...]] = {
    "efficientnet_lite0": tuple(f"features.{i}." for i in range(6)),
    "efficientnet_b0": tuple(f"features.{i}." for i in range(4)),
    "mobilenet_v2": tuple(f"features.{i}." for i in range(7)),
    "squeezenet1_0": tuple(f"features.{i}." for i in range(7)),
    "squeezenet1_1": tuple(f"features.{i}." for i in range(6)),
    "googlenet": ("conv1.", "conv2.", "conv3."),
    "resnet18": ("conv1.", "bn1.", "layer1.", "layer2."),
    "resnet34": ("conv1.", "bn1.", "layer1.", "layer2."),
    "resnet50": ("conv1.", "bn1.", "layer1.", "layer2."),
    "densenet121": ("features.conv0.", "features.norm0.", "features.denseblock1.", "features.transition1."),
}
FREEZE_MODES = ("auto", "none")
MAP_PERCENTILES = (1.0, 99.0)

# (fine-tuning ImageNet weights, from scratch); the head trains faster (HEAD_LR_MULT, HEAD_BIAS_LR_MULT).
# SqueezeNet from scratch at 5e-4 with a zero head, warm-up, clipping and no head ReLU learns an easy
# task (bright blob on noise) in 40 steps on every seed tried. On subtle defects (synthetic parts, magnetic
# tiles) from scratch the classification signal through the global average pool is weak: without masks
# short CPU runs stayed at chance; with the pointing loss (masks) they learn (see README, "Shipped models").
DEFAULT_LR: dict[str, tuple[float, float]] = {
    "squeezenet1_0": (3e-4, 5e-4),
    "squeezenet1_1": (3e-4, 5e-4),
    "googlenet": (3e-4, 1e-3),
    "resnet18": (3e-4, 1e-3),
    "resnet34": (3e-4, 1e-3),
    "resnet50": (2e-4, 1e-3),
    "mobilenet_v2": (5e-4, 1e-3),
    "efficientnet_b0": (5e-4, 1e-3),
    "densenet121": (2e-4, 1e-3),
    "efficientnet_lite0": (1e-3, 2e-3),
}

AUGMENTATION = [
    "random horizontal flip (p=0.5)",
    "random vertical flip (p=0.5)",
    f"random rotation ±{ROTATION_DEG:g}° (reflection padding)",
    f"random resized crop: area {CROP_AREA[0]:.0%}–{CROP_AREA[1]:.0%}, aspect {CROP_ASPECT[0]}–{CROP_ASPECT[1]}, "
    f"from a copy at {WORKING_SCALE}× the network input size",
    f"brightness ×U({1 - BRIGHTNESS:g}, {1 + BRIGHTNESS:g})",
    f"contrast ×U({1 - CONTRAST:g}, {1 + CONTRAST:g})",
    "ImageNet mean/std normalisation",
]


# --------------------------------------------------------------------------- configuration and results
@dataclass
class TrainConfig:
    """How to train. ``lr=None`` picks :func:`default_lr` for the architecture and weights used.

    ``pretrained``: ``"auto"`` uses torchvision's ImageNet weights from the local torch cache, else
    downloads them when the internet is reachable, else trains from scratch (and says so);
    ``"imagenet"`` insists on them (:class:`ModelError` when unavailable); ``"none"`` trains from scratch.
    ``group_pattern``: a regex; images whose file names share its first match (e.g. ``r"exp\\d+"``
    for acquisition runs) stay on the same side of the train/val split.
    ``mask_loss_weight``: weight λ of the pointing loss on NG images that have a defect mask
    (``masks/<stem>.png``): ``L = CE + λ · mean_i(−log Σ_{cells ∈ mask_i} softmax(M_i))`` where ``M_i`` is the
    defect-class map at the network's own grid and a cell counts as "in the mask" when the augmented
    mask covers any of it. Images without masks only get the cross-entropy; 0 turns the loss off.
    ``epochs=None`` picks :func:`auto_epochs` from the number of batches per epoch.
    ``resize``: ``"square"`` squashes every image to ``image_size²``; ``"aspect"`` keeps each image's
    aspect ratio at about ``image_size²`` pixels (:func:`~cam_core.checkpoints.bundle.fitted_input_size`).
    ``map_stride``: 16 runs the last stage of Lite0/GoogLeNet/ResNet at half stride (a 14×14 map at 224 px).
    Both are recorded in the card, and explaining follows them.
    ``freeze``: ``"auto"`` keeps the stages up to output stride 8 (:data:`FROZEN_PREFIXES`) at their ImageNet
    weights, BatchNorm statistics included, whenever ImageNet weights were loaded; ``"none"`` trains all.
    ``init_from``: continue from a model of this product (a name or ``.safetensors`` path) of the same
    architecture, classes and map stride: every tensor, head included, is loaded; ``freeze`` applies as for
    ImageNet weights (its early stages have learned their filters already).
    ``calibrate``: after training, move the verdict threshold to where the validation balanced accuracy is
    highest (:func:`decision_offset`, recorded in the card); ``False`` keeps the plain argmax.
    ``require_learning``: a finished run whose validation shows it learned nothing
    (:func:`learned_something`) is not saved; ``False`` saves it anyway, marked ``validation.learned: false``.
    """

    arch: str
    epochs: int | None = None
    image_size: int = 224
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 1e-4
    val_fraction: float = 0.2
    seed: int = 0
    pretrained: str = "auto"
    device: str = "auto"
    num_workers: int = 0
    mask_loss_weight: float = 1.0
    group_pattern: str | None = None
    resize: str = "square"
    map_stride: int = 32
    freeze: str = "auto"
    data_description: str | None = None
    require_learning: bool = True
    init_from: str | None = None
    calibrate: bool = True

    def validate(self) -> None:
        """Raise :class:`InputError` / :class:`ModelError` for values that cannot work."""
        if self.arch not in KNOWN_ARCHITECTURES:
            raise ModelError(f"unknown architecture {self.arch!r}; known: {', '.join(KNOWN_ARCHITECTURES)}")
        checks = [
            (self.epochs is None or self.epochs >= 1, f"epochs must be at least 1 (got {self.epochs})"),
            (32 <= self.image_size <= 1024, f"image size must be 32–1024 px (got {self.image_size})"),
            (self.batch_size >= 1, f"batch size must be at least 1 (got {self.batch_size})"),
            (self.lr is None or 0 < self.lr < 1, f"learning rate must be in (0, 1) (got {self.lr})"),
            (self.weight_decay >= 0, f"weight decay must be ≥ 0 (got {self.weight_decay})"),
            (0 < self.val_fraction < 1, f"validation fraction must be in (0, 1) (got {self.val_fraction})"),
            (self.pretrained in ("auto", "imagenet", "none"),
             f"pretrained must be auto, imagenet or none (got {self.pretrained!r})"),
            (self.num_workers >= 0, f"num_workers must be ≥ 0 (got {self.num_workers})"),
            (math.isfinite(self.mask_loss_weight) and self.mask_loss_weight >= 0,
             f"mask loss weight must be ≥ 0 (got {self.mask_loss_weight})"),
            (self.resize in RESIZE_MODES, f"resize must be one of {', '.join(RESIZE_MODES)} (got {self.resize!r})"),
            (self.freeze in FREEZE_MODES, f"freeze must be one of {', '.join(FREEZE_MODES)} (got {self.freeze!r})"),
            (map_stride_supported(self.arch, self.map_stride),
             f"map stride {self.map_stride} is not available for {self.arch}: {MAP_STRIDE_RULE}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch. ``images_per_s`` counts training images over training time only."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_auroc: float
    seconds: float
    images_per_s: float


@dataclass
class TrainResult:
    """``path`` is ``None`` when nothing was saved: training stopped before the first epoch finished, or
    validation showed that the model learned nothing (``rejected`` then says why)."""

    path: Path | None
    card: dict[str, Any]
    history: list[EpochStats]
    best_epoch: int | None
    interrupted: bool = False
    rejected: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    """One image: its class index, its defect mask (if ``masks/<stem>.png`` exists) and split group."""

    path: Path
    label: int
    mask: Path | None = None
    group: str | None = None


@dataclass(frozen=True)
class DatasetIndex:
    """The images of a class-folder dataset. ``classes[i]`` is the folder of label ``i``."""

    root: Path
    classes: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    source: str = ""                 # the data folder as the user gave it (for the card)

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        tally = np.bincount([r.label for r in self.records], minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, tally)}

    def subset(self, records: Sequence[ImageRecord]) -> DatasetIndex:
        return replace(self, records=tuple(records))


# --------------------------------------------------------------------------- dataset
def group_by_pattern(pattern: str) -> Callable[[ImageRecord], str | None]:
    """A ``group_fn`` that groups images by the first match of ``pattern`` in their file name."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise InputError(f"group pattern {pattern!r} is not a valid regular expression ({exc})") from None

    def group(record: ImageRecord) -> str | None:
        match = regex.search(record.path.name)
        return match.group(0) if match else None

    return group


def _class_order(names: Sequence[str]) -> list[str]:
    """Sorted, but ``ok`` first and ``ng`` second when present (class 0 = OK, class 1 = NG)."""
    lowered = {n.lower(): n for n in names}
    first = [lowered[k] for k in ("ok", "ng") if k in lowered]
    return first + sorted(n for n in names if n not in first)


def scan_dataset(data_dir: str | Path, group_fn: Callable[[ImageRecord], str | None] | None = None) -> DatasetIndex:
    """Index ``data_dir``: one subfolder per class (searched recursively), ``masks/`` ignored."""
    from cam_core.data.imaging import is_hidden_name, iter_image_files

    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    found: dict[str, list[Path]] = {}
    for sub in sorted(root.iterdir()):
        if sub.is_dir() and sub.name.lower() != MASKS_DIR and not is_hidden_name(sub.name):
            files = iter_image_files(sub)
            if files:
                found[sub.name] = files
    if len(found) < 2:
        raise InputError(
            f"{root} needs one subfolder of images per class, at least two (e.g. ok/ and ng/); "
            f"found {sorted(found) or 'none'}")
    classes = _class_order(list(found))
    masks = root / MASKS_DIR
    records = []
    for label, name in enumerate(classes):
        for path in found[name]:
            mask = masks / f"{path.stem}.png"
            record = ImageRecord(path=path, label=label, mask=mask if mask.is_file() else None)
            if group_fn is not None:
                record = replace(record, group=group_fn(record))
            records.append(record)
    return DatasetIndex(root=root, classes=tuple(classes), records=tuple(records), source=str(data_dir))


def split_dataset(index: DatasetIndex, val_fraction: float, seed: int,
                  group_fn: Callable[[ImageRecord], str | None] | None = None) -> tuple[DatasetIndex, DatasetIndex]:
    """Stratified train/val split; with groups, each group goes wholly to one side.

    Groups come from ``group_fn(record)``, else ``record.group``; ``None`` means "its own group".
    Without groups each class contributes ``clamp(round(f · N_c), 1, N_c − 1)`` images to val.
    With groups, groups are visited in a seeded random order and moved to val whenever that brings
    the per-class val counts closer to ``f · N_c``. Every class must end up on both sides.
    """
    if not 0 < val_fraction < 1:
        raise InputError(f"validation fraction must be in (0, 1) (got {val_fraction})")
    rng = np.random.default_rng(seed)
    records = index.records
    keys = [group_fn(r) if group_fn is not None else r.group for r in records]
    labels = np.array([r.label for r in records], dtype=np.int64)
    n_classes = len(index.classes)
    if any(k is not None for k in keys):
        in_val = _grouped_val(keys, labels, n_classes, val_fraction, rng)
    else:
        in_val = np.zeros(len(records), dtype=bool)
        for c in range(n_classes):
            members = np.flatnonzero(labels == c)
            if members.size < 2:
                raise InputError(f"class {index.classes[c]!r} has {members.size} image(s); "
                                 "at least 2 are needed (one to train on, one to validate)")
            n_val = min(max(1, round(val_fraction * members.size)), members.size - 1)
            in_val[rng.permutation(members)[:n_val]] = True
    for c, name in enumerate(index.classes):
        if not (in_val & (labels == c)).any() or not (~in_val & (labels == c)).any():
            raise InputError(f"the split leaves class {name!r} without images on one side; "
                             "use more images or groups, or another validation fraction")
    train = [r for r, v in zip(records, in_val) if not v]
    val = [r for r, v in zip(records, in_val) if v]
    return index.subset(train), index.subset(val)


def _grouped_val(keys: Sequence[str | None], labels: np.ndarray, n_classes: int, fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    names = [k if k is not None else f"\0file{i}" for i, k in enumerate(keys)]
    ids = {name: i for i, name in enumerate(sorted(set(names)))}
    group_of = np.array([ids[name] for name in names], dtype=np.int64)
    groups = range(len(ids))
    counts = np.zeros((len(groups), n_classes))
    np.add.at(counts, (group_of, labels), 1)
    target = fraction * counts.sum(axis=0)
    scale = np.maximum(target, 1.0)

    def cost(v: np.ndarray) -> float:
        return float((((v - target) / scale) ** 2).sum())

    val = np.zeros(n_classes)
    chosen = np.zeros(len(groups), dtype=bool)
    for g in rng.permutation(len(groups)):
        if cost(val + counts[g]) < cost(val):
            val += counts[g]
            chosen[g] = True
    return chosen[group_of]


# --------------------------------------------------------------------------- decoding and augmentation
SizeFor = Callable[[int, int], tuple[int, int]]      # (width, height) of an image → (height, width) to store


def _decode(records: Sequence[ImageRecord], size_for: SizeFor, workers: int, emit: Progress,
            what: str) -> tuple[list[np.ndarray], list[int]]:
    """Decode each image and resize it (bilinear) to ``size_for(W, H)`` → (H×W×3 uint8 arrays, kept indices)."""
    from cam_core.data.imaging import load_image

    def one(i: int) -> np.ndarray | None:
        try:
            image = load_image(records[i].path).image
        except InputError as exc:
            emit({"event": "message", "text": f"skipped {records[i].path.name}: {exc}"})
            return None
        height, width = size_for(*image.size)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    arrays: list[np.ndarray] = []
    kept: list[int] = []
    step = max(1, len(records) // 20)
    indices = range(len(records))
    if workers > 0:
        pool = ThreadPoolExecutor(max_workers=workers)
        results = pool.map(one, indices)
    else:
        pool = None
        results = map(one, indices)
    try:
        for i, array in enumerate(results):
            if array is not None:
                arrays.append(array)
                kept.append(i)
            if (i + 1) % step == 0 or i + 1 == len(records):
                emit({"event": "loading", "what": what, "done": i + 1, "total": len(records)})
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return arrays, kept


def _decode_mask(record: ImageRecord, shape: tuple[int, int], emit: Progress) -> np.ndarray:
    """The defect mask of ``record`` at ``shape = (H, W)`` as uint8 0/255 (zeros without a readable mask)."""
    out = np.zeros(shape, dtype=np.uint8)
    if record.mask is None:
        return out
    try:
        with Image.open(record.mask) as mask:
            mask = mask.convert("L").resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
            out[...] = (np.asarray(mask) >= 128).astype(np.uint8) * 255
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        emit({"event": "message", "text": f"ignored the mask of {record.path.name}: {exc}"})
    return out


@dataclass
class _Bucket:
    """Images that share one stored size (and so one network input size ``out_size``)."""

    out_size: tuple[int, int]
    images: Tensor                   # N×3×h×w uint8
    labels: Tensor                   # N
    masks: Tensor | None = None      # N×1×h×w uint8 0/255


def _bucketize(arrays: list[np.ndarray], labels: list[int], out_sizes: list[tuple[int, int]],
               masks: list[np.ndarray] | None = None) -> list[_Bucket]:
    """Stack the images of each network input size (in order of first appearance)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(out_sizes):
        groups.setdefault(size, []).append(i)
    buckets = []
    for size, members in groups.items():
        images = torch.from_numpy(np.stack([arrays[i] for i in members])).permute(0, 3, 1, 2).contiguous()
        bucket_masks = None if masks is None else torch.from_numpy(np.stack([masks[i] for i in members]))[:, None]
        buckets.append(_Bucket(size, images, torch.tensor([labels[i] for i in members], dtype=torch.long),
                               bucket_masks))
    return buckets


def _batches(buckets: Sequence[_Bucket], batch_size: int, generator: torch.Generator) -> list[tuple[int, Tensor]]:
    """One epoch of ``(bucket, row indices)`` batches: each bucket shuffled and cut into ``batch_size`` pieces
    (a last piece of 1 image is dropped when the bucket has more, as BatchNorm cannot train on it); with
    several buckets the batch order is shuffled too."""
    batches = []
    for b, bucket in enumerate(buckets):
        n = bucket.labels.numel()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            if n - start == 1 and n > 1:
                break
            batches.append((b, order[start:start + batch_size]))
    if len(buckets) > 1:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def _steps_per_epoch(buckets: Sequence[_Bucket], batch_size: int) -> int:
    n = [b.labels.numel() for b in buckets]
    return sum(math.ceil(k / batch_size) - (1 if k > 1 and k % batch_size == 1 else 0) for k in n)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def augment_batch(images: Tensor, out_size: int | tuple[int, int], generator: torch.Generator) -> Tensor:
    """uint8 ``N×3×H×W`` → augmented float ``N×3×h×w`` in [0, 1] (flips, rotation, crop, jitter).

    ``out_size``: ``S`` (square) or ``(h, w)``, of about the input's aspect ratio ``r = H/W``.
    One affine map per image sends output coordinates ``u ∈ [-1, 1]²`` to input coordinates
    ``A⁻¹R(θ)A·diag(w·f_x, h·f_y)·u + c`` with ``A = diag(1, r)`` (so the rotation is a rotation in
    pixels), crop half-extents ``w, h``, flips ``f = ±1`` and centre ``c``.
    Random numbers come from ``generator`` (CPU), so a seed fixes the augmentation on any device.
    """
    return augment_with_masks(images, None, out_size, generator)[0]


def augment_with_masks(images: Tensor, masks: Tensor | None, out_size: int | tuple[int, int],
                       generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """:func:`augment_batch`, moving uint8 ``N×1×H×W`` ``masks`` by the same geometry → float [0, 1] masks."""
    out_h, out_w = (out_size, out_size) if isinstance(out_size, int) else out_size
    ratio = images.shape[-2] / images.shape[-1]
    n = images.shape[0]
    area = _uniform(n, *CROP_AREA, generator)
    log_aspect = _uniform(n, math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1]), generator)
    w = torch.sqrt(area * torch.exp(log_aspect)).clamp(max=1.0)
    h = torch.sqrt(area / torch.exp(log_aspect)).clamp(max=1.0)
    cx = (1 - w) * _uniform(n, -1, 1, generator)
    cy = (1 - h) * _uniform(n, -1, 1, generator)
    angle = torch.deg2rad(_uniform(n, -ROTATION_DEG, ROTATION_DEG, generator))
    fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos * w * fx, -sin * ratio * h * fy, cx], dim=1),
                         torch.stack([sin / ratio * w * fx, cos * h * fy, cy], dim=1)], dim=1)
    brightness = _uniform(n, 1 - BRIGHTNESS, 1 + BRIGHTNESS, generator).view(n, 1, 1, 1)
    contrast = _uniform(n, 1 - CONTRAST, 1 + CONTRAST, generator).view(n, 1, 1, 1)
    device = images.device
    x = images.to(torch.float32).div_(255.0)
    if masks is not None:
        x = torch.cat([x, masks.to(device=device, dtype=torch.float32).div_(255.0)], dim=1)
    grid = F.affine_grid(theta.to(device), [n, x.shape[1], out_h, out_w], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    moved_masks = x[:, 3:4] if masks is not None else None
    x = x[:, :3]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast.to(device) + mean) * brightness.to(device)
    return x.clamp_(0.0, 1.0), moved_masks


def _normalize(x: Tensor) -> Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- pretrained weights
def default_lr(arch: str, pretrained: bool) -> float:
    """Default AdamW learning rate for ``arch`` (fine-tuning ImageNet weights or from scratch)."""
    tuned, scratch = DEFAULT_LR.get(arch, (3e-4, 1e-3))
    return tuned if pretrained else scratch


# --------------------------------------------------------------------------- validation
@dataclass
class _ValResult:
    loss: float
    acc: float
    auroc: float
    confusion: list[list[int]]
    map_range: tuple[float, float]
    evidence_top: float = 1.0
    margins: np.ndarray | None = None      # defect logit − the largest other logit, per validation image
    is_positive: np.ndarray | None = None  # whether each validation image is of the defect class


def _validate(model: nn.Module, buckets: Sequence[_Bucket], positive: int, batch_size: int,
              device: torch.device) -> _ValResult:
    """Loss, accuracy, AUROC and CAM value percentiles over the validation images (one pass, CAM hook)."""
    from cam_core.engine.methods import CAM

    model.eval()
    logits_all, maps_all, evidence_all = [], [], []
    with CAM(model) as cam:
        for bucket in buckets:
            for start in range(0, bucket.images.shape[0], batch_size):
                batch = bucket.images[start:start + batch_size].to(device).float().div_(255.0)
                out = cam(_normalize(batch))
                logits_all.append(out.logits.cpu())
                maps_all.append(out.maps.cpu().flatten())
                centred = out.maps - out.maps.mean(dim=1, keepdim=True)
                evidence_all.append(centred.abs().cpu().flatten())
    logits = torch.cat(logits_all)
    labels = torch.cat([b.labels for b in buckets])
    loss = float(F.cross_entropy(logits, labels))
    predicted = logits.argmax(dim=1)
    p_pos = torch.softmax(logits, dim=1)[:, positive].numpy()
    values = torch.cat(maps_all).numpy()
    lo, hi = np.percentile(values, MAP_PERCENTILES)
    return _ValResult(
        loss=loss, acc=float((predicted == labels).float().mean()),
        auroc=auroc(p_pos, (labels == positive).numpy()),
        confusion=confusion(predicted.numpy(), labels.numpy(), logits.shape[1]).tolist(),
        map_range=(float(lo), float(hi)),
        evidence_top=float(np.percentile(torch.cat(evidence_all).numpy(), MAP_PERCENTILES[1])),
        margins=defect_margins(logits, positive).numpy(), is_positive=(labels == positive).numpy())


def defect_margins(logits: Tensor, positive: int) -> Tensor:
    """``z_defect − max_{c ≠ defect} z_c`` per row: the verdict is the defect class exactly when this is > 0."""
    others = torch.cat([logits[:, :positive], logits[:, positive + 1:]], dim=1)
    return logits[:, positive] - others.max(dim=1).values


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


def _better(val: _ValResult, best: _ValResult | None) -> bool:
    """Higher AUROC wins (NaN counts as lowest), then lower loss."""
    if best is None:
        return True

    def key(v: _ValResult) -> tuple[float, float]:
        return (v.auroc if math.isfinite(v.auroc) else -math.inf, -v.loss)

    return key(val) > key(best)


# --------------------------------------------------------------------------- mask (pointing) loss
MASK_CELL_MIN_COVER = 1e-3       # a map cell is "in the mask" when the mask covers more than this share of it


class PointingLoss:
    """Auxiliary loss that rewards the defect-class map for peaking inside the defect mask.

    For image ``i`` with defect-class map ``M_i`` (``h×w``, the network's own grid, with gradients) and
    the set ``S_i`` of cells its augmented mask touches (NG images with a mask that still touches the crop):

        pointing  mean_i −log Σ_{(x,y) ∈ S_i} softmax(M_i)(x, y)            peak inside the defect
        defect    ½ · BCE(M, 1) over the cells in the S_i                    defect cells positive
        quiet     ½ · smooth-L1(M, 0) over every other cell of those images   background near 0, so the
                  and every cell of OK images                               mean (= logit) is not noise
        no peak   mean over OK images of softplus(log mean exp M_j)          no false peaks on OK parts

    ``loss`` is their sum. The pointing term only cares where the peak is; the dense terms make every
    cell of every image a training signal, which is what lets a network trained from scratch find
    defects that cover 0.1–2 % of the image: through the global average pool alone the classification
    gradient is spread evenly over all cells.
    Use as a context manager; the hook is removed on exit.
    """

    def __init__(self, model: nn.Module, positive: int) -> None:
        self._spec = resolve_head(model)
        self._positive = positive
        self._head = resolve_module(model, self._spec.classifier)
        layer = self._spec.classifier if self._spec.kind == "conv1x1" else self._spec.feature_layer
        self._capture = ActivationCapture(resolve_module(model, layer), keep_graph=True)

    def start(self) -> None:
        self._capture.start()

    def __call__(self, masks: Tensor, labels: Tensor) -> Tensor | None:
        """The loss for the last forward pass (``None`` when the batch has neither OK images nor masked NG ones)."""
        captured = self._capture.require(self._capture.stop())
        if self._spec.kind == "conv1x1":
            maps = captured[:, self._positive]
        else:
            features = F.relu(captured) if self._spec.feature_relu else captured
            weight = self._head.weight[self._positive:self._positive + 1]
            maps = linear_weight_product(features, weight)[:, 0]
        cover = F.adaptive_avg_pool2d(masks, maps.shape[-2:])[:, 0]
        inside = cover > MASK_CELL_MIN_COVER
        use = (labels == self._positive) & inside.flatten(1).any(dim=1)
        scored = (labels != self._positive) | use          # OK images and NG images with a usable mask
        if not bool(scored.any()):
            return None
        maps = maps.float()
        cells = maps[scored]
        positive_cells = inside[scored] & use[scored].view(-1, 1, 1)
        negative_cells = cells[~positive_cells]
        loss = 0.5 * F.smooth_l1_loss(negative_cells, torch.zeros_like(negative_cells))
        ok = labels != self._positive
        if bool(ok.any()):
            peaks = torch.logsumexp(maps[ok].flatten(1), dim=1) - math.log(maps.shape[-1] * maps.shape[-2])
            loss = loss + F.softplus(peaks).mean()
        if bool(use.any()):
            log_p = F.log_softmax(maps[use].flatten(1), dim=1)
            log_p = log_p.masked_fill(~inside[use].flatten(1), -math.inf)
            on_defect = cells[positive_cells]
            loss = loss - torch.logsumexp(log_p, dim=1).mean() + 0.5 * F.binary_cross_entropy_with_logits(
                on_defect, torch.ones_like(on_defect))
        return loss

    def close(self) -> None:
        self._capture.close()

    def __enter__(self) -> PointingLoss:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- training
def _init_from_model(model: nn.Module, config: TrainConfig, classes: Sequence[str]) -> tuple[int, list[str], str]:
    """Load every tensor of the product model ``config.init_from`` into ``model``; (count, [], source words)."""
    from cam_core.checkpoints.bundle import read_card, resolve_model_path

    assert config.init_from is not None
    path = resolve_model_path(config.init_from)
    card = read_card(path)
    if card["arch"] != config.arch or list(card["classes"]) != list(classes) or \
            card.get("map_stride", 32) != config.map_stride:
        raise InputError(f"--init-from {config.init_from}: it is a {card['arch']} with classes "
                         f"{','.join(card['classes'])} and map stride {card.get('map_stride', 32)}; this run needs "
                         f"{config.arch} with {','.join(classes)} and stride {config.map_stride}")
    from safetensors.torch import load_file

    state = load_file(str(path))
    own = model.state_dict()
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    earlier = card.get("training", {}).get("pretrained", {}).get("source", "?") if isinstance(
        card.get("training"), dict) else "?"
    return len(state), [], (f"continued from {path.name} (this product's model; it started from: {earlier}; "
                            f"its card: trained_on {card.get('trained_on', '?')!r}, "
                            f"validation accuracy {card.get('validation', {}).get('accuracy', '?')})")


def _zero_head(model: nn.Module) -> None:
    """Start the classifier head at zero: every logit is 0 (p = 1/C) for every image.

    A random head on non-negative (ReLU) features gives all images the same large logit offset
    ``W·mean(A)``; the quickest way for the optimiser to remove it is to shrink every activation of the
    backbone, which is how SqueezeNet trained from scratch collapses to a constant output. From a zero
    head the first gradient is ``Σ_i w_{y_i} (p_i − y_i) Ā_i``: the class-weighted difference of the mean
    features, i.e. only what tells the classes apart.
    """
    head = resolve_module(model, resolve_head(model).classifier)
    with torch.no_grad():
        head.weight.zero_()
        if getattr(head, "bias", None) is not None:
            head.bias.zero_()


def auto_epochs(steps_per_epoch: int, pretrained: bool = False) -> int:
    """Default epochs: ``clamp(⌈S / steps_per_epoch⌉, lo, hi)``.

    From scratch ``S = 1500`` steps in 10–100 epochs; from ImageNet weights ``S = 600`` in 4–40 epochs.
    """
    target, (low, high) = ((AUTO_STEPS_PRETRAINED, AUTO_EPOCHS_RANGE_PRETRAINED) if pretrained
                           else (AUTO_STEPS, AUTO_EPOCHS_RANGE))
    return int(min(high, max(low, math.ceil(target / max(1, steps_per_epoch)))))


def frozen_prefixes(arch: str, freeze: str, pretrained: bool) -> tuple[str, ...]:
    """Module-name prefixes kept frozen: the stages up to stride 8 when fine-tuning (from ImageNet weights or
    one of our models) with ``freeze="auto"``."""
    return FROZEN_PREFIXES.get(arch, ()) if freeze == "auto" and pretrained else ()


def _freeze(model: nn.Module, prefixes: tuple[str, ...]) -> int:
    """``requires_grad=False`` on every parameter under ``prefixes``; returns how many tensors were frozen."""
    count = 0
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            count += 1
    return count


def _train_mode(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """``model.train()``, with the frozen modules in eval mode (BatchNorm uses its ImageNet statistics)."""
    model.train()
    if prefixes:
        for name, module in model.named_modules():
            if f"{name}.".startswith(prefixes):
                module.eval()


def head_lr_mult(arch: str) -> float:
    """Learning-rate multiplier of the classifier head's weights for ``arch``."""
    return HEAD_LR_MULT_BY_ARCH.get(arch, HEAD_LR_MULT)


def _param_groups(model: nn.Module, lr: float, weight_mult: float = HEAD_LR_MULT) -> list[dict[str, Any]]:
    """Backbone at ``lr``, head weights at ``weight_mult · lr``, head bias at ``HEAD_BIAS_LR_MULT · lr``.

    SqueezeNet's head weights need a large rate too (:data:`HEAD_LR_MULT_BY_ARCH`): through the global average pool a defect covering 2 of 169
    cells moves the logit by only 2/169 of its map value, so the head has to grow to ``|W| ≫ 1`` while
    Adam moves each weight by about its rate per step (at 10× the weights were still below 1 after
    250 steps on synthetic parts).

    Why: the new head starts near zero (SqueezeNet: N(0, 0.01)), and on an OK image the ReLU'd features
    feeding it are often all zero (no defect evidence anywhere), so the OK logit is the head bias alone.
    Adam moves a parameter by about its learning rate per step, so at the backbone's rate the bias needs
    hundreds of steps to cross the OK/NG threshold: validation AUROC reaches 1 while every image still
    gets the same verdict (seen on synthetic parts at 20–40 steps).
    """
    head = resolve_module(model, resolve_head(model).classifier)
    bias = getattr(head, "bias", None)
    special = {id(head.weight)} | ({id(bias)} if bias is not None else set())
    groups: list[dict[str, Any]] = [
        {"params": [p for p in model.parameters() if id(p) not in special and p.requires_grad], "lr": lr},
        {"params": [head.weight], "lr": lr * weight_mult},
    ]
    if bias is not None:
        groups.append({"params": [bias], "lr": lr * HEAD_BIAS_LR_MULT, "weight_decay": 0.0})
    return groups


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up ``(s+1)/warmup``, then cosine ``½(1 + cos(π·(s − warmup)/(total − warmup)))``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _versions() -> dict[str, str]:
    try:
        from importlib.metadata import PackageNotFoundError, version

        own = version("cam-inspector")
    except PackageNotFoundError:
        own = "0.1.0"
    return {"cam_inspector": own, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version()}


@dataclass
class _Run:
    """Mutable bookkeeping of one training run (what the card reports)."""

    config: TrainConfig
    index: DatasetIndex
    train_counts: dict[str, int]
    val_counts: dict[str, int]
    split: str
    lr: float
    warmup_steps: int
    class_weights: list[float]
    pretrained_source: str
    pretrained_tensors: int
    not_pretrained: list[str]
    frozen: tuple[str, ...]
    frozen_tensors: int
    device: torch.device
    command_line: str | None
    batch_size: int
    started: float = field(default_factory=time.perf_counter)
    history: list[EpochStats] = field(default_factory=list)
    best: _ValResult | None = None
    best_epoch: int | None = None
    interrupted: bool = False
    skipped: int = 0
    masked_train_images: int = 0

    def card(self) -> dict[str, Any]:
        c = self.config
        positive = positive_class_index(self.index.classes)
        best = self.best
        assert best is not None
        return {
            "arch": c.arch,
            "classes": list(self.index.classes),
            "input_size": [c.image_size, c.image_size],
            "resize": c.resize,
            "map_stride": c.map_stride,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "head_relu": not c.arch.startswith("squeezenet"),
            "trained_on": c.data_description or describe_data(self.index),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "training": {
                "data_dir": self.index.source or str(self.index.root),
                "data": {"train": self.train_counts, "val": self.val_counts, "split": self.split,
                         "unreadable_images_skipped": self.skipped},
                "epochs": c.epochs,
                "epochs_run": len(self.history),
                "best_epoch": self.best_epoch,
                "interrupted": self.interrupted,
                "optimizer": f"AdamW(weight_decay={c.weight_decay:g})",
                "lr": self.lr,
                "head_lr": {"weight": self.lr * head_lr_mult(c.arch), "bias": self.lr * HEAD_BIAS_LR_MULT},
                "lr_schedule": f"linear warm-up over {self.warmup_steps} steps, then cosine decay to 0 (per step)",
                "grad_clip_norm": GRAD_CLIP_NORM,
                "mask_loss": {
                    "weight": c.mask_loss_weight,
                    "train_images_with_masks": self.masked_train_images,
                    "used": c.mask_loss_weight > 0 and self.masked_train_images > 0,
                    "formula": "CE + weight · (pointing + defect + quiet + no-peak) on the defect-class map, "
                               "see cam_core.training.core.PointingLoss",
                },
                "head_init": "zeros (weights and bias)",
                "batch_size": self.batch_size,
                "image_size": c.image_size,
                "resize": (f"aspect: about {c.image_size}² px at the image's own aspect ratio (steps of 2^¼, "
                           "clamped to 1:3–3:1, sides multiples of 32)" if c.resize == "aspect"
                           else f"square: squashed to {c.image_size}×{c.image_size}"),
                "augmentation": AUGMENTATION,
                "imbalance": "class-weighted cross-entropy, w_c = N / (C·N_c): " + ", ".join(
                    f"{name} {w:.3f}" for name, w in zip(self.index.classes, self.class_weights)),
                "pretrained": {"used": self.pretrained_tensors > 0, "source": self.pretrained_source,
                               "tensors_loaded": self.pretrained_tensors,
                               "tensors_not_loaded": self.not_pretrained if self.pretrained_tensors else "all",
                               "not_loaded_init": "classifier head: zeros; any other: random (Kaiming)"},
                "frozen": {"prefixes": list(self.frozen), "tensors": self.frozen_tensors,
                           "batchnorm": "frozen stages use their ImageNet running statistics (eval mode); "
                                        "trained stages use batch statistics" if self.frozen else
                                        "every stage trained, batch statistics"},
                "seed": c.seed,
                "command_line": self.command_line,
                "seconds": round(time.perf_counter() - self.started, 1),
                "device": str(self.device),
                "versions": _versions(),
                "history": [asdict(h) for h in self.history],
            },
            "validation": {
                "n_images": sum(self.val_counts.values()),
                "positive_class": self.index.classes[positive],
                "accuracy": best.acc,
                "auroc": best.auroc if math.isfinite(best.auroc) else None,
                "loss": best.loss,
                "confusion": best.confusion,
                "confusion_layout": "rows = true class, columns = predicted class",
            },
            "map_value_range": [best.map_range[0], best.map_range[1]],
            "evidence_range": [-best.evidence_top, best.evidence_top],
            "evidence_range_source": (f"±{MAP_PERCENTILES[1]:g}th percentile of |evidence map| (each class map minus "
                                      "the mean over the classes) over the validation images, best epoch"),
            "map_value_range_source": (f"{MAP_PERCENTILES[0]:g}th–{MAP_PERCENTILES[1]:g}th percentile of all CAM "
                                       "values (every class map) over the validation images, best epoch"),
        }


def train_model(data: str | Path | DatasetIndex, out_path: str | Path, config: TrainConfig, *,
                progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
                command_line: str | None = None) -> TrainResult:
    """Train ``config.arch`` on the class folders ``data`` and save the best epoch to ``out_path``.

    Progress events (dicts, in this order): ``message`` (``text``), ``loading`` (``what``, ``done``,
    ``total``) while decoding, then per epoch ``batch`` (``epoch``, ``step``, ``steps``, ``loss``,
    ``acc``, ``images_per_s``, ``lr``) after every step and one ``epoch`` (the :class:`EpochStats`
    fields plus ``improved`` and ``best_epoch``), finally ``done`` (``path``, ``interrupted``).
    ``should_stop()`` is polled before every step; it and Ctrl+C stop training and keep the best
    model saved so far (``interrupted=True``). The global torch RNG state is restored afterwards.
    """
    config.validate()
    emit: Progress = progress or (lambda event: None)
    device = pick_device(config.device)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".safetensors":
        raise InputError(f"the output file must end in .safetensors (got {out_path.name})")
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        try:
            return _train(data, out_path, config, device, emit, should_stop or (lambda: False), command_line)
        finally:
            _remove_partials(out_path)


LEARNED_MIN_AUROC = 0.6


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


def describe_data(index: DatasetIndex) -> str:
    """Words for what a model was trained on: synthetic parts when the folder is ``synth``'s output."""
    manifest = index.root / "manifest.csv"
    try:
        header = manifest.read_text(encoding="utf-8").splitlines()[0] if manifest.is_file() else ""
    except (OSError, UnicodeDecodeError, IndexError):
        header = ""
    if header.split(",")[:4] == ["file", "label", "defect_type", "kind"]:
        return DATA_DESCRIPTION
    return f"the images in {index.root.name}/ ({', '.join(f'{c} {n}' for c, n in index.counts().items())})"


def working_path(out_path: Path) -> Path:
    """Where the best epoch so far is kept while training runs (hidden: never listed as a model)."""
    return out_path.with_name(f".{out_path.stem}.training.safetensors")


def _remove_partials(out_path: Path) -> None:
    """Delete temporary files an interrupted :func:`save_checkpoint` may leave beside ``out_path``."""
    work = working_path(out_path)
    for tmp in (out_path.with_name(f".{out_path.name}.partial"), out_path.with_name(f".{out_path.stem}.json.partial"),
                work, work.with_suffix(".json"), work.with_name(f".{work.name}.partial"),
                work.with_name(f".{work.stem}.json.partial")):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _prepare_data(data: str | Path | DatasetIndex, config: TrainConfig, emit: Progress
                  ) -> tuple[DatasetIndex, DatasetIndex, DatasetIndex, str]:
    group_fn = group_by_pattern(config.group_pattern) if config.group_pattern else None
    index = data if isinstance(data, DatasetIndex) else scan_dataset(data, group_fn)
    train, val = split_dataset(index, config.val_fraction, config.seed, group_fn)
    if group_fn is not None or any(r.group is not None for r in index.records):
        pattern = f", pattern {config.group_pattern!r}" if config.group_pattern else ""
        split = f"grouped (whole groups on one side{pattern})"
    else:
        split = "stratified random"
    split += f", val_fraction {config.val_fraction:g}, seed {config.seed}"
    emit({"event": "message", "text": f"{len(index)} images in {len(index.classes)} classes "
          f"({', '.join(f'{c} {n}' for c, n in index.counts().items())}): {len(train)} train, {len(val)} val"})
    return index, train, val, split


def _train(data: str | Path | DatasetIndex, out_path: Path, config: TrainConfig, device: torch.device,
           emit: Progress, should_stop: Callable[[], bool], command_line: str | None) -> TrainResult:
    index, train_index, val_index, split = _prepare_data(data, config, emit)
    n_classes = len(index.classes)
    positive = positive_class_index(index.classes)
    base = (config.image_size, config.image_size)
    out_size: dict[tuple[int, int], tuple[int, int]] = {}     # stored train size → network input size

    def net_size(width: int, height: int) -> tuple[int, int]:
        return fitted_input_size(width, height, base, config.resize)

    def work_size(width: int, height: int) -> tuple[int, int]:
        size = net_size(width, height)
        work = (round(size[0] * WORKING_SCALE), round(size[1] * WORKING_SCALE))
        out_size[work] = size
        return work

    train_arrays, kept_train = _decode(train_index.records, work_size, config.num_workers, emit, "train")
    val_arrays, kept_val = _decode(val_index.records, net_size, config.num_workers, emit, "val")
    train_labels = [train_index.records[i].label for i in kept_train]
    train_masks = ([_decode_mask(train_index.records[i], a.shape[:2], emit) for i, a in zip(kept_train, train_arrays)]
                   if config.mask_loss_weight > 0 else None)
    masked_train_images = 0 if train_masks is None else sum(int(m.any()) for m in train_masks)
    train_buckets = _bucketize(train_arrays, train_labels, [out_size[a.shape[:2]] for a in train_arrays],
                               train_masks if masked_train_images else None)
    val_buckets = _bucketize(val_arrays, [val_index.records[i].label for i in kept_val],
                             [a.shape[:2] for a in val_arrays])
    del train_arrays, val_arrays, train_masks
    train_y = torch.tensor(train_labels, dtype=torch.long)
    val_y = torch.cat([b.labels for b in val_buckets])
    for name, labels in (("training", train_y), ("validation", val_y)):
        if labels.numel() == 0 or torch.bincount(labels, minlength=n_classes).min() == 0:
            raise InputError(f"after skipping unreadable files the {name} set lacks a class")

    model = build_model(config.arch, n_classes, head_relu=not config.arch.startswith("squeezenet"),
                        map_stride=config.map_stride)
    if config.init_from:
        loaded, not_loaded, source = _init_from_model(model, config, index.classes)
    else:
        state, source = imagenet_state(config.arch, config.pretrained, emit)
        loaded, not_loaded = load_backbone(model, state, config.arch) if state is not None else (0, [])
        _zero_head(model)
    frozen = frozen_prefixes(config.arch, config.freeze, loaded > 0)
    frozen_tensors = _freeze(model, frozen)
    emit({"event": "message", "text": f"{config.arch}: " + (f"starting from {source}" if loaded else
                                                              "training from scratch")
          + (f"; stages up to stride 8 frozen ({frozen_tensors} tensors)" if frozen_tensors else "")})
    model = model.to(device).to(memory_format=torch.channels_last)

    counts = torch.bincount(train_y, minlength=n_classes).float()
    class_weights = (counts.sum() / (n_classes * counts)).tolist()
    batch_size = min(config.batch_size, train_y.numel())
    steps = _steps_per_epoch(train_buckets, batch_size)
    if config.epochs is None:
        config = replace(config, epochs=auto_epochs(steps, pretrained=loaded > 0))
        target = AUTO_STEPS_PRETRAINED if loaded else AUTO_STEPS
        emit({"event": "message", "text": f"{config.epochs} epochs of {steps} steps (about {target} optimiser "
              "steps; set epochs to choose)"})
    assert config.epochs is not None
    total_steps = steps * config.epochs
    warmup = min(steps, max(1, math.ceil(WARMUP_FRACTION * total_steps)))
    lr = config.lr if config.lr is not None else default_lr(config.arch, loaded > 0)
    optimizer = torch.optim.AdamW(_param_groups(model, lr, head_lr_mult(config.arch)), lr=lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup, total_steps))
    run = _Run(config=config, index=index,
               train_counts={c: int(n) for c, n in zip(index.classes, counts.long().tolist())},
               val_counts={c: int(n) for c, n in zip(index.classes, torch.bincount(val_y, minlength=n_classes))},
               split=split, lr=lr, warmup_steps=warmup, class_weights=class_weights, pretrained_source=source,
               pretrained_tensors=loaded, not_pretrained=not_loaded, frozen=frozen, frozen_tensors=frozen_tensors,
               device=device, command_line=command_line, batch_size=batch_size,
               skipped=len(train_index) + len(val_index) - len(kept_train) - len(kept_val))
    if config.mask_loss_weight > 0:
        run.masked_train_images = masked_train_images
        if masked_train_images:
            emit({"event": "message", "text": f"pointing loss (weight {config.mask_loss_weight:g}) on the "
                  f"{run.masked_train_images} training images that have a defect mask"})
    if len(train_buckets) > 1:
        emit({"event": "message", "text": f"{len(train_buckets)} input sizes (aspect ratios): "
              + ", ".join(f"{b.out_size[1]}×{b.out_size[0]} ({b.labels.numel()})" for b in train_buckets)})
    loop = _Loop(model=model, optimizer=optimizer, scheduler=scheduler, run=run, frozen=frozen, device=device,
                 weight=torch.tensor(class_weights, device=device), generator=torch.Generator().manual_seed(config.seed),
                 pointing=PointingLoss(model, positive) if train_buckets[0].masks is not None else None,
                 emit=emit, should_stop=should_stop, out_path=out_path, positive=positive)
    best_state = loop.run_all(train_buckets, val_buckets, batch_size, steps)
    return _finish(model, best_state, run, out_path, emit)


@dataclass
class _Loop:
    """The epoch loop of one run: steps, validation, keeping the best epoch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    run: _Run
    frozen: tuple[str, ...]
    device: torch.device
    weight: Tensor
    generator: torch.Generator
    pointing: PointingLoss | None
    emit: Progress
    should_stop: Callable[[], bool]
    out_path: Path
    positive: int

    @property
    def work_path(self) -> Path:
        return working_path(self.out_path)

    def run_all(self, train_buckets: Sequence[_Bucket], val_buckets: Sequence[_Bucket], batch_size: int,
                steps: int) -> dict[str, Tensor] | None:
        """Every epoch; returns the best epoch's weights (None when none finished).

        Any exception that ends the loop early (Ctrl+C, ``should_stop()``, and also a host framework's
        own control-flow exceptions such as Streamlit's rerun signal, a ``BaseException``) marks the run
        interrupted; only our stop signal and Ctrl+C are swallowed, anything else is re-raised after the
        best epoch so far has been saved with ``interrupted: true``.
        """
        best_state: dict[str, Tensor] | None = None
        config = self.run.config
        assert config.epochs is not None
        try:
            for epoch in range(1, config.epochs + 1):
                stats, val = self._epoch(epoch, train_buckets, val_buckets, batch_size, steps)
                self.run.history.append(stats)
                improved = _better(val, self.run.best)
                if improved:
                    self.run.best, self.run.best_epoch = val, epoch
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    save_checkpoint(self.model, self.work_path, self.run.card())
                self.emit({"event": "epoch", **asdict(stats), "improved": improved, "best_epoch": self.run.best_epoch})
        except (_Stop, KeyboardInterrupt):
            self._mark_interrupted()
        except BaseException:
            # e.g. Streamlit's rerun/stop signal: save what we have, marked interrupted, then let it through
            self._mark_interrupted()
            _finish(self.model, best_state, self.run, self.out_path, self.emit)
            raise
        finally:
            if self.pointing is not None:
                self.pointing.close()
        return best_state

    def _mark_interrupted(self) -> None:
        self.run.interrupted = True
        self.emit({"event": "message", "text": "training stopped: " + (
            f"keeping the best epoch so far ({self.run.best_epoch})" if self.run.best_epoch else
            "no epoch had finished, so no model was saved")})

    def _epoch(self, epoch: int, train_buckets: Sequence[_Bucket], val_buckets: Sequence[_Bucket],
               batch_size: int, steps: int) -> tuple[EpochStats, _ValResult]:
        started = time.perf_counter()
        loss_sum = correct = seen = 0.0
        _train_mode(self.model, self.frozen)
        for step, (b, idx) in enumerate(_batches(train_buckets, batch_size, self.generator)):
            if self.should_stop():
                raise _Stop
            loss, logits, y = self._step(train_buckets[b], idx)
            seen += y.numel()
            loss_sum += float(loss) * y.numel()
            correct += float((logits.argmax(dim=1) == y).sum())
            self.emit({"event": "batch", "epoch": epoch, "step": step + 1, "steps": steps, "loss": loss_sum / seen,
                       "acc": correct / seen, "images_per_s": seen / (time.perf_counter() - started),
                       "lr": self.optimizer.param_groups[0]["lr"]})
        train_seconds = time.perf_counter() - started
        val = _validate(self.model, val_buckets, self.positive, max(batch_size, 32), self.device)
        stats = EpochStats(epoch=epoch, train_loss=loss_sum / seen, train_acc=correct / seen,
                           val_loss=val.loss, val_acc=val.acc, val_auroc=val.auroc,
                           seconds=time.perf_counter() - started, images_per_s=seen / train_seconds)
        return stats, val

    def _step(self, bucket: _Bucket, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One optimiser step; returns (detached loss, detached logits, labels)."""
        x, m = augment_with_masks(bucket.images[idx].to(self.device),
                                  None if bucket.masks is None else bucket.masks[idx],
                                  bucket.out_size, self.generator)
        x = _normalize(x)
        y = bucket.labels[idx].to(self.device)
        if self.pointing is not None:
            self.pointing.start()
        logits = self.model(x)
        if not isinstance(logits, Tensor):
            logits = logits[0]
        loss = F.cross_entropy(logits, y, weight=self.weight)
        if self.pointing is not None and m is not None:
            extra = self.pointing(m, y)
            if extra is not None:
                loss = loss + self.run.config.mask_loss_weight * extra
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], GRAD_CLIP_NORM)
        self.optimizer.step()
        self.scheduler.step()
        return loss.detach(), logits.detach(), y


def _calibrate(model: nn.Module, classes: Sequence[str], margins: np.ndarray, is_positive: np.ndarray
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


def _finish(model: nn.Module, best_state: dict[str, Tensor] | None, run: _Run, out_path: Path,
            emit: Progress) -> TrainResult:
    """Save the best epoch to ``out_path``, unless a finished run's validation says it learned nothing.

    An interrupted run is saved with ``interrupted: true`` (and ``validation.learned``) in its card.
    """
    if best_state is None or run.best is None:
        return TrainResult(path=None, card={}, history=run.history, best_epoch=None, interrupted=True)
    model.load_state_dict(best_state)
    card = run.card()
    reason = learned_something(run.best.acc, run.best.auroc, run.val_counts)
    card["validation"]["learned"] = reason is None
    if reason is not None:
        card["validation"]["not_learned"] = reason
    if reason is not None and not run.interrupted and run.config.require_learning:
        message = (f"not saved: the model learned nothing ({reason}). Check that the class folders hold "
                   "what their names say, add images, or train longer")
        emit({"event": "rejected", "text": message})
        return TrainResult(path=None, card=card, history=run.history, best_epoch=run.best_epoch,
                           interrupted=False, rejected=message)
    if run.config.calibrate and run.best.margins is not None and run.best.is_positive is not None:
        card["decision_calibration"] = _calibrate(model, run.index.classes, run.best.margins, run.best.is_positive)
    save_checkpoint(model, out_path, card)           # final card: epochs run, total time, full history
    emit({"event": "done", "path": str(out_path), "interrupted": run.interrupted})
    return TrainResult(path=out_path, card=card, history=run.history, best_epoch=run.best_epoch,
                       interrupted=run.interrupted)


class _Stop(CamInspectorError):
    """Raised inside the loop when ``should_stop()`` says so."""

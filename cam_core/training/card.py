"""What a training run writes into its model card (:meth:`RunRecord.card`).

The card records how the model was made (data, split, optimiser, augmentation, starting weights, frozen
stages, versions, per-epoch history), the best epoch's validation, and a map value range (1st–99th
percentile of all CAM values over the validation images) for fixed colour scales.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torchvision

from cam_core.checkpoints import IMAGENET_MEAN, IMAGENET_STD, DataKind, positive_class_index
from cam_core.synth import DATA_DESCRIPTION, is_synthetic_dataset
from cam_core.training.augment import AUGMENTATION
from cam_core.training.config import TrainConfig
from cam_core.training.data import DatasetIndex
from cam_core.training.events import EpochStats
from cam_core.training.optim import GRAD_CLIP_NORM, HEAD_BIAS_LR_MULT, head_lr_mult
from cam_core.training.validation import MAP_PERCENTILES, ValResult

__all__ = ["RunRecord", "data_kind_of", "describe_data"]


def data_kind_of(index: DatasetIndex) -> DataKind:
    """``synthetic`` when the folder is ``synth``'s output (:func:`cam_core.synth.is_synthetic_dataset`), else
    ``own``: the card's ``data_kind``, so no warning ever depends on how the data is described in words."""
    return DataKind.SYNTHETIC if is_synthetic_dataset(index.root) else DataKind.OWN


def describe_data(index: DatasetIndex) -> str:
    """Words for what a model was trained on: synthetic parts when the folder is ``synth``'s output."""
    if data_kind_of(index) is DataKind.SYNTHETIC:
        return DATA_DESCRIPTION
    given = Path(index.source) if index.source else index.root   # the folder or ZIP the user gave, not a scratch path
    name = f"{given.name}/" if given.is_dir() else index.source
    return f"the images in {name} ({', '.join(f'{c} {n}' for c, n in index.counts().items())})"


def _versions() -> dict[str, str]:
    try:
        from importlib.metadata import PackageNotFoundError, version

        own = version("cam-inspector")
    except PackageNotFoundError:
        own = "0.1.0"
    return {"cam_inspector": own, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version()}


@dataclass
class RunRecord:
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
    best: ValResult | None = None
    best_epoch: int | None = None
    interrupted: bool = False
    skipped: int = 0
    masked_train_images: int = 0
    data_hashes: dict[str, list[str]] = field(default_factory=dict)   # sha256 of the train / val files
    extras: dict[str, Any] = field(default_factory=dict)   # further ``training`` entries (distillation, …)

    def card(self) -> dict[str, Any]:
        """The model card of the best epoch so far (``best`` must be set)."""
        c = self.config
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
            "head_relu": c.head_relu,
            "trained_on": c.data_description or describe_data(self.index),
            "data_kind": data_kind_of(self.index).value,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "training": self._training(),
            "validation": self._validation(best),
            "map_value_range": [best.map_range[0], best.map_range[1]],
            "evidence_range": [-best.evidence_top, best.evidence_top],
            "evidence_range_source": (f"±{MAP_PERCENTILES[1]:g}th percentile of |evidence map| (each class map minus "
                                      "the mean over the classes) over the validation images, best epoch"),
            "map_value_range_source": (f"{MAP_PERCENTILES[0]:g}th–{MAP_PERCENTILES[1]:g}th percentile of all CAM "
                                       "values (every class map) over the validation images, best epoch"),
            "data_hashes": self.data_hashes,
        }

    def _training(self) -> dict[str, Any]:
        c = self.config
        return {
            "data_dir": self.index.source or str(self.index.root),
            "data": {"train": self.train_counts, "val": self.val_counts, "split": self.split,
                     "unreadable_images_skipped": self.skipped},
            "epochs": c.epochs,
            "epochs_run": len(self.history),
            "epoch_images": c.epoch_images,
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
                           "see cam_core.training.PointingLoss",
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
            "pretrained": self._pretrained(),
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
            **self.extras,
        }

    def _pretrained(self) -> dict[str, Any]:
        return {"used": self.pretrained_tensors > 0, "source": self.pretrained_source,
                "tensors_loaded": self.pretrained_tensors,
                "tensors_not_loaded": self.not_pretrained if self.pretrained_tensors else "all",
                "not_loaded_init": "classifier head: zeros; any other: random (Kaiming)"}

    def card_source(self) -> str:
        """The data folder or ZIP as the user gave it (never a scratch path)."""
        return self.index.source or str(self.index.root)

    def _validation(self, best: ValResult) -> dict[str, Any]:
        from cam_core.training.summary import validation_flags, validation_judgement

        positive = positive_class_index(self.index.classes)
        auroc = best.auroc if math.isfinite(best.auroc) else None
        return {
            "n_images": sum(self.val_counts.values()),
            "positive_class": self.index.classes[positive],
            "accuracy": best.acc,
            "auroc": best.auroc if math.isfinite(best.auroc) else None,
            "loss": best.loss,
            "confusion": best.confusion,
            "confusion_layout": "rows = true class, columns = predicted class",
            "judgement": validation_judgement(self.val_counts, best.acc),
            "flags": validation_flags(self.val_counts, auroc),
        }

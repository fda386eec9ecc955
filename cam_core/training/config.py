"""What a training run is asked to do (:class:`TrainConfig`) and what it gives back (:class:`TrainResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cam_core.checkpoints import RESIZE_MODES, ModelCard
from cam_core.engine.names import KNOWN_ARCHITECTURES, MAP_STRIDE_RULE, map_stride_supported
from cam_core.errors import InputError, ModelError
from cam_core.options import Pretrained, choices
from cam_core.training.distill import DistillSettings
from cam_core.training.events import EpochStats
from cam_core.training.freezing import FREEZE_MODES
from cam_core.training.fresh import FreshSynth

__all__ = ["TrainConfig", "TrainResult"]


@dataclass
class TrainConfig:
    """How to train. ``lr=None`` picks :func:`~cam_core.training.optim.default_lr` for the architecture and
    weights used.

    ``pretrained``: ``"auto"`` uses the ImageNet weights present on this machine (the Lite0 package, or
    torchvision's files in the torch cache; nothing is downloaded), else trains from scratch (and says so);
    ``"imagenet"`` insists on them (:class:`ModelError` when unavailable); ``"none"`` trains from scratch.
    ``group_pattern``: a regex; images whose file names share its first match (e.g. ``r"exp\\d+"``
    for acquisition runs) stay on the same side of the train/val split.
    ``mask_loss_weight``: weight λ of the pointing loss on NG images that have a defect mask
    (``masks/<stem>.png``): ``L = CE + λ · mean_i(−log Σ_{cells ∈ mask_i} softmax(M_i))`` where ``M_i`` is the
    defect-class map at the network's own grid and a cell counts as "in the mask" when the augmented
    mask covers any of it. Images without masks only get the cross-entropy; 0 turns the loss off.
    ``epochs=None`` picks :func:`~cam_core.training.optim.auto_epochs` from the number of batches per epoch.
    ``resize``: ``"square"`` squashes every image to ``image_size²``; ``"aspect"`` keeps each image's
    aspect ratio at about ``image_size²`` pixels (:func:`~cam_core.checkpoints.bundle.fitted_input_size`).
    ``map_stride``: 16 runs the last stage of Lite0/GoogLeNet/ResNet at half stride (a 14×14 map at 224 px).
    Both are recorded in the card, and explaining follows them.
    ``freeze``: ``"auto"`` keeps the stages up to output stride 8
    (:data:`~cam_core.training.freezing.FROZEN_PREFIXES`) at their ImageNet weights, BatchNorm statistics
    included, whenever ImageNet weights were loaded; ``"none"`` trains all.
    ``init_from``: continue from a model of this product (a name or ``.safetensors`` path) of the same
    architecture, classes and map stride: every tensor, head included, is loaded; ``freeze`` applies as for
    ImageNet weights (its early stages have learned their filters already).
    ``calibrate``: after training, move the verdict threshold to where the validation balanced accuracy is
    highest (:func:`~cam_core.training.calibration.decision_offset`, recorded in the card); ``False`` keeps
    the plain argmax.
    ``distill``: learn from a teacher model too (:mod:`cam_core.training.distill`; recorded in the card).
    ``fresh_synth``: add freshly drawn synthetic parts every epoch (:mod:`cam_core.training.fresh`).
    ``epoch_images``: train each epoch on about this many images, a fresh random draw of whole batches from
    the training side (validation and the best-epoch checkpoint come more often on a slow machine);
    ``None``: every training image once per epoch.
    ``require_learning``: a finished run whose validation shows it learned nothing
    (:func:`~cam_core.training.validation.learned_something`) is not saved; ``False`` saves it anyway,
    marked ``validation.learned: false``.
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
    distill: DistillSettings | None = None
    fresh_synth: FreshSynth | None = None
    epoch_images: int | None = None

    @property
    def head_relu(self) -> bool:
        """Whether the network keeps the ReLU after its head: not for SqueezeNet (:mod:`cam_core.training.api`)."""
        return not self.arch.startswith("squeezenet")

    def validate(self) -> None:
        """Raise :class:`InputError` / :class:`ModelError` for values that cannot work."""
        if self.arch not in KNOWN_ARCHITECTURES:
            raise ModelError(f"unknown architecture {self.arch!r}; known: {', '.join(KNOWN_ARCHITECTURES)}")
        for ok, message in self._checks():
            if not ok:
                raise InputError(message)
        for part in (self.distill, self.fresh_synth):
            if part is not None:
                part.validate()

    def _checks(self) -> list[tuple[bool, str]]:
        return [
            (self.epochs is None or self.epochs >= 1, f"epochs must be at least 1 (got {self.epochs})"),
            (32 <= self.image_size <= 1024, f"image size must be 32–1024 px (got {self.image_size})"),
            (self.batch_size >= 1, f"batch size must be at least 1 (got {self.batch_size})"),
            (self.epoch_images is None or self.epoch_images >= 1,
             f"images per epoch must be at least 1 (got {self.epoch_images})"),
            (self.lr is None or 0 < self.lr < 1, f"learning rate must be in (0, 1) (got {self.lr})"),
            (self.weight_decay >= 0, f"weight decay must be ≥ 0 (got {self.weight_decay})"),
            (0 < self.val_fraction < 1, f"validation fraction must be in (0, 1) (got {self.val_fraction})"),
            (self.pretrained in choices(Pretrained),
             f"pretrained must be auto, imagenet or none (got {self.pretrained!r})"),
            (self.num_workers >= 0, f"num_workers must be ≥ 0 (got {self.num_workers})"),
            (math.isfinite(self.mask_loss_weight) and self.mask_loss_weight >= 0,
             f"mask loss weight must be ≥ 0 (got {self.mask_loss_weight})"),
            (self.resize in RESIZE_MODES, f"resize must be one of {', '.join(RESIZE_MODES)} (got {self.resize!r})"),
            (self.freeze in FREEZE_MODES, f"freeze must be one of {', '.join(FREEZE_MODES)} (got {self.freeze!r})"),
            (map_stride_supported(self.arch, self.map_stride),
             f"map stride {self.map_stride} is not available for {self.arch}: {MAP_STRIDE_RULE}"),
        ]


@dataclass
class TrainResult:
    """``path`` is ``None`` when nothing was saved: training stopped before the first epoch finished, or
    validation showed that the model learned nothing (``rejected`` then says why)."""

    path: Path | None
    card: dict[str, Any]                 # the card as written (empty when nothing was)
    history: list[EpochStats]
    best_epoch: int | None
    interrupted: bool = False
    rejected: str | None = None

    @property
    def model_card(self) -> ModelCard | None:
        """The card, typed; ``None`` when the run stopped before its first epoch finished."""
        return ModelCard.from_dict(self.card) if self.card else None

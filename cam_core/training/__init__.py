"""Training OK/NG classifiers on class folders (:func:`train_model`) and what a run is made of.

    from cam_core.training import TrainConfig, train_model
    result = train_model("data/parts", "user_models/parts.safetensors", TrainConfig(arch="squeezenet1_1"))

Progress comes as :class:`cam_core.progress.Progress` events (:mod:`cam_core.training.events`).
"""

from cam_core.training.api import train_model
from cam_core.training.augment import augment_batch, augment_with_masks
from cam_core.training.calibration import balanced_accuracy, decision_offset
from cam_core.training.config import TrainConfig, TrainResult
from cam_core.training.data import DatasetIndex, ImageRecord, group_by_pattern, scan_dataset, split_dataset
from cam_core.training.events import EpochStats
from cam_core.training.freezing import FROZEN_PREFIXES
from cam_core.training.optim import DEFAULT_LR, auto_epochs, default_lr
from cam_core.training.pointing import PointingLoss
from cam_core.training.saving import working_path
from cam_core.training.validation import learned_something

__all__ = [
    "DEFAULT_LR", "FROZEN_PREFIXES", "DatasetIndex", "EpochStats", "ImageRecord", "PointingLoss", "TrainConfig",
    "TrainResult", "augment_batch", "augment_with_masks", "auto_epochs", "balanced_accuracy", "decision_offset",
    "default_lr", "group_by_pattern", "learned_something", "scan_dataset", "split_dataset", "train_model",
    "working_path",
]

"""Train an OK/NG classifier on class folders and save it as a CAM Inspector checkpoint: :func:`train_model`.

    from cam_core.training import TrainConfig, train_model
    result = train_model("data/parts", "user_models/parts.safetensors", TrainConfig(arch="squeezenet1_1"))

The steps, each in its own module: read the data set (:mod:`~cam_core.training.data`) into tensors
(:mod:`~cam_core.training.tensors`), start from ImageNet weights, a model of ours or from scratch
(:mod:`~cam_core.training.weights`) with the early stages frozen when fine-tuning
(:mod:`~cam_core.training.freezing`), optimise (:mod:`~cam_core.training.optim`) in the epoch loop
(:mod:`~cam_core.training.loop`) with augmentation (:mod:`~cam_core.training.augment`) and, where there
are defect masks, the pointing loss (:mod:`~cam_core.training.pointing`); validate every epoch
(:mod:`~cam_core.training.validation`), keep the best, calibrate the verdict threshold
(:mod:`~cam_core.training.calibration`) and save it with its card (:mod:`~cam_core.training.saving`,
:mod:`~cam_core.training.card`). SqueezeNet is built without the ReLU after its final 1×1 conv
(``head_relu=False``, recorded in the card): with two classes that ReLU can clamp both logits to 0 and
training collapses to chance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from cam_core.checkpoints import pick_device, positive_class_index
from cam_core.domain import DomainModel
from cam_core.engine.architectures import build_model
from cam_core.errors import InputError
from cam_core.progress import ProgressCallback, ignore_progress
from cam_core.training.buckets import steps_per_epoch
from cam_core.training.card import RunRecord
from cam_core.training.config import TrainConfig, TrainResult
from cam_core.training.data import DatasetIndex, group_by_pattern, scan_dataset, split_dataset
from cam_core.training.distill import DistillLoss, Teacher
from cam_core.training.distill_setup import annotate, fresh_parts, fresh_steps, take_unlabelled
from cam_core.training.domain import training_domain
from cam_core.training.events import note
from cam_core.training.freezing import freeze_parameters, frozen_prefixes
from cam_core.training.loop import Loop
from cam_core.training.optim import (
    AUTO_STEPS,
    AUTO_STEPS_PRETRAINED,
    auto_epochs,
    default_lr,
    make_optimizer,
    warmup_steps,
)
from cam_core.training.pointing import PointingLoss
from cam_core.training.saving import finish, remove_partials
from cam_core.training.tensors import LoadedData, load_data
from cam_core.training.weights import starting_weights

__all__ = ["train_model"]


def train_model(data: str | Path | DatasetIndex, out_path: str | Path, config: TrainConfig, *,
                progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                command_line: str | None = None) -> TrainResult:
    """Train ``config.arch`` on the class folders ``data`` and save the best epoch to ``out_path``.

    ``progress`` receives :class:`cam_core.progress.Progress` events (stages and fields:
    :mod:`cam_core.training.events`): ``message``, ``loading`` while decoding, then per epoch a ``batch``
    after every step and one ``epoch``, finally ``done`` (or ``rejected``).
    ``should_stop()`` is polled before every step; it and Ctrl+C stop training and keep the best
    model saved so far (``interrupted=True``). The global torch RNG state is restored afterwards.
    """
    config.validate()
    emit = progress or ignore_progress
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
            remove_partials(out_path)


def _prepare_data(data: str | Path | DatasetIndex, config: TrainConfig, emit: ProgressCallback
                  ) -> tuple[DatasetIndex, DatasetIndex, DatasetIndex, str]:
    """(whole index, train side, val side, how it was split in words)."""
    group_fn = group_by_pattern(config.group_pattern) if config.group_pattern else None
    index = data if isinstance(data, DatasetIndex) else scan_dataset(data, group_fn)
    if group_fn is not None and isinstance(data, DatasetIndex):     # the groups travel with the images
        index = index.subset([replace(r, group=group_fn(r)) for r in index.records])
    index, unlabelled = take_unlabelled(index, config)
    train, val = split_dataset(index, config.val_fraction, config.seed, group_fn)
    if group_fn is not None or any(r.group is not None for r in index.records):
        pattern = f", pattern {config.group_pattern!r}" if config.group_pattern else ""
        split = f"grouped (whole groups on one side{pattern})"
    else:
        split = "stratified random"
    split += f", val_fraction {config.val_fraction:g}, seed {config.seed}"
    emit(note(f"{len(index)} images in {len(index.classes)} classes "
              f"({', '.join(f'{c} {n}' for c, n in index.counts().items())}): {len(train)} train, {len(val)} val"))
    if unlabelled:
        emit(note(f"{len(unlabelled)} images without a label join the training side (teacher terms only)"))
        train = train.subset((*train.records, *unlabelled))
    return index, train, val, split


def _build(config: TrainConfig, index: DatasetIndex, device: torch.device, emit: ProgressCallback
           ) -> tuple[nn.Module, int, list[str], str, tuple[str, ...], int]:
    """The network with its starting weights, early stages frozen, on ``device``:
    (model, tensors loaded, tensors not loaded, source words, frozen prefixes, frozen tensors)."""
    model = build_model(config.arch, len(index.classes), head_relu=config.head_relu,
                        map_stride=config.map_stride)
    loaded, not_loaded, source = starting_weights(model, config, index.classes, emit)
    frozen = frozen_prefixes(config.arch, config.freeze, loaded > 0)
    frozen_tensors = freeze_parameters(model, frozen)
    emit(note(f"{config.arch}: " + (f"starting from {source}" if loaded else "training from scratch")
              + (f"; stages up to stride 8 frozen ({frozen_tensors} tensors)" if frozen_tensors else "")))
    model = model.to(device).to(memory_format=torch.channels_last)
    return model, loaded, not_loaded, source, frozen, frozen_tensors


def _with_epochs(config: TrainConfig, steps: int, pretrained: bool, emit: ProgressCallback) -> TrainConfig:
    """``config`` with ``epochs`` set (:func:`auto_epochs` when it is ``None``, and said so)."""
    if config.epochs is not None:
        return config
    config = replace(config, epochs=auto_epochs(steps, pretrained=pretrained))
    target = AUTO_STEPS_PRETRAINED if pretrained else AUTO_STEPS
    emit(note(f"{config.epochs} epochs of {steps} steps (about {target} optimiser steps; set epochs to choose)"))
    return config


def _describe_tensors(config: TrainConfig, loaded: LoadedData, emit: ProgressCallback) -> None:
    """Say when the pointing loss is used and when there are several input sizes."""
    if config.mask_loss_weight > 0 and loaded.masked_train_images:
        emit(note(f"pointing loss (weight {config.mask_loss_weight:g}) on the {loaded.masked_train_images} "
                  "training images that have a defect mask"))
    if len(loaded.train) > 1:
        emit(note(f"{len(loaded.train)} input sizes (aspect ratios): "
                  + ", ".join(f"{b.out_size[1]}×{b.out_size[0]} ({b.labels.numel()})" for b in loaded.train)))


def file_hashes(index: DatasetIndex) -> list[str]:
    """sha256 of every file of ``index`` (sorted): the card's ``data_hashes``, for leakage checks."""
    from cam_core.files import sha256_of

    return sorted({sha256_of(record.path) for record in index.records})


def _teacher(config: TrainConfig, index: DatasetIndex, positive: int, loaded: LoadedData, run: RunRecord,
             emit: ProgressCallback) -> Teacher | None:
    """The teacher (its outputs kept on the stored training images), and the card's words on it and on fresh
    parts; ``None`` without distillation."""
    unlabelled = int((loaded.train_labels < 0).sum())
    if config.fresh_synth is not None:
        run.extras["fresh_synth"] = config.fresh_synth.record()
    if config.distill is None:
        return None
    teacher = Teacher(config.distill, index.classes, positive)
    annotate(loaded.train, teacher, emit)
    run.extras["distillation"] = {**teacher.record(), "unlabelled_images": unlabelled}
    return teacher


def _train(data: str | Path | DatasetIndex, out_path: Path, config: TrainConfig, device: torch.device,
           emit: ProgressCallback, should_stop: Callable[[], bool], command_line: str | None) -> TrainResult:
    index, train_index, val_index, split = _prepare_data(data, config, emit)
    n_classes = len(index.classes)
    loaded = load_data(train_index, val_index, config, emit)
    model, n_loaded, not_loaded, source, frozen, frozen_tensors = _build(config, index, device, emit)
    counts = torch.bincount(loaded.train_labels[loaded.train_labels >= 0], minlength=n_classes).float()
    class_weights = (counts.sum() / (n_classes * counts)).tolist()
    batch_size = min(config.batch_size, loaded.train_labels.numel())
    steps = steps_per_epoch(loaded.train, batch_size) + fresh_steps(config, batch_size)
    if config.epoch_images is not None:
        steps = min(steps, max(1, math.ceil(config.epoch_images / batch_size)))
    config = _with_epochs(config, steps, n_loaded > 0, emit)
    assert config.epochs is not None
    warmup = warmup_steps(steps, steps * config.epochs)
    lr = config.lr if config.lr is not None else default_lr(config.arch, n_loaded > 0)
    optimizer, scheduler = make_optimizer(model, config.arch, lr, config.weight_decay, warmup, steps * config.epochs)
    run = RunRecord(
        config=config, index=index, split=split, lr=lr, warmup_steps=warmup, class_weights=class_weights,
        train_counts={c: int(n) for c, n in zip(index.classes, counts.long().tolist())},
        val_counts={c: int(n) for c, n in zip(index.classes, torch.bincount(loaded.val_labels, minlength=n_classes))},
        pretrained_source=source, pretrained_tensors=n_loaded, not_pretrained=not_loaded, frozen=frozen,
        frozen_tensors=frozen_tensors, device=device, command_line=command_line, batch_size=batch_size,
        skipped=loaded.skipped,
        masked_train_images=loaded.masked_train_images if config.mask_loss_weight > 0 else 0,
        data_hashes={"train": file_hashes(train_index), "val": file_hashes(val_index)})
    _describe_tensors(config, loaded, emit)
    positive = positive_class_index(index.classes)
    teacher = _teacher(config, index, positive, loaded, run, emit)
    with_masks = loaded.train[0].masks is not None
    loop = Loop(model=model, optimizer=optimizer, scheduler=scheduler, run=run, device=device,
                weight=torch.tensor(class_weights, device=device), generator=torch.Generator().manual_seed(config.seed),
                pointing=PointingLoss(model, positive) if with_masks else None,
                emit=emit, should_stop=should_stop, out_path=out_path, positive=positive,
                distill=DistillLoss(model, positive, config.distill) if config.distill is not None else None,
                teacher=teacher, fresh=fresh_parts(config, index.classes, with_masks))
    best_state = loop.run_all(loaded.train, loaded.val, batch_size, steps)
    source = run.card_source()

    def domain() -> DomainModel | None:
        return training_domain(model, train_index.records, loaded.val, config, batch_size, device, source)

    return finish(model, best_state, run, out_path, emit, domain)

"""The epoch loop of one run: optimiser steps, validation after each epoch, keeping the best epoch.

Class imbalance: class-weighted cross-entropy, ``w_c = N / (C · N_c)`` (every image seen once per epoch);
with defect masks the pointing loss is added (:class:`~cam_core.training.pointing.PointingLoss`); with a
teacher, the distillation loss replaces the plain cross-entropy (:mod:`cam_core.training.distill`). Fresh
synthetic parts (:mod:`cam_core.training.fresh`) join each epoch as one more bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.checkpoints import save_checkpoint
from cam_core.errors import CamInspectorError
from cam_core.progress import ProgressCallback
from cam_core.training.augment import augment_with_maps, normalize
from cam_core.training.buckets import Bucket, batches
from cam_core.training.card import RunRecord
from cam_core.training.distill import UNLABELLED, DistillLoss, Teacher
from cam_core.training.events import EpochStats, batch_event, epoch_event, note
from cam_core.training.freezing import train_mode
from cam_core.training.fresh import FreshParts
from cam_core.training.optim import GRAD_CLIP_NORM
from cam_core.training.pointing import PointingLoss
from cam_core.training.saving import finish, working_path
from cam_core.training.validation import ValResult, better, validate

__all__ = ["Loop"]


class _Stop(CamInspectorError):
    """Raised inside the loop when ``should_stop()`` says so."""


@dataclass
class Loop:
    """The epoch loop of one run: steps, validation, keeping the best epoch."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    run: RunRecord
    device: torch.device
    weight: Tensor
    generator: torch.Generator
    pointing: PointingLoss | None
    emit: ProgressCallback
    should_stop: Callable[[], bool]
    out_path: Path
    positive: int
    distill: DistillLoss | None = None
    teacher: Teacher | None = None
    fresh: FreshParts | None = None

    def run_all(self, train_buckets: Sequence[Bucket], val_buckets: Sequence[Bucket], batch_size: int,
                steps: int) -> dict[str, Tensor] | None:
        """Every epoch; returns the best epoch's weights (None when none finished).

        Any exception that ends the loop early (Ctrl+C, ``should_stop()``, and also a host framework's
        own control-flow exceptions such as Streamlit's rerun signal, a ``BaseException``) marks the run
        interrupted; only our stop signal and Ctrl+C are swallowed, anything else is re-raised after the
        best epoch so far has been saved with ``interrupted: true``.
        """
        best_state: dict[str, Tensor] | None = None
        epochs = self.run.config.epochs
        assert epochs is not None
        try:
            for epoch in range(1, epochs + 1):
                stats, val = self._epoch(epoch, self._epoch_buckets(train_buckets, epoch), val_buckets, batch_size,
                                         steps)
                best_state = self._keep(stats, val, best_state)
        except (_Stop, KeyboardInterrupt):
            self._mark_interrupted()
        except BaseException:
            # e.g. Streamlit's rerun/stop signal: save what we have, marked interrupted, then let it through
            self._mark_interrupted()
            finish(self.model, best_state, self.run, self.out_path, self.emit)
            raise
        finally:
            for part in (self.pointing, self.distill, self.fresh):
                if part is not None:
                    part.close()
        return best_state

    def _epoch_buckets(self, train_buckets: Sequence[Bucket], epoch: int) -> list[Bucket]:
        """The stored images, plus this epoch's fresh parts (with the teacher's outputs when distilling)."""
        if self.fresh is None:
            return list(train_buckets)
        bucket = self.fresh.bucket(epoch)
        if self.teacher is not None:
            bucket.teacher_logits, bucket.teacher_maps = self.teacher.outputs(bucket.images)
        return [*train_buckets, bucket]

    def _keep(self, stats: EpochStats, val: ValResult, best_state: dict[str, Tensor] | None
              ) -> dict[str, Tensor] | None:
        """Record the epoch; when it is the best so far, save it to the working file and return its weights."""
        self.run.history.append(stats)
        improved = better(val, self.run.best)
        if improved:
            self.run.best, self.run.best_epoch = val, stats.epoch
            best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            save_checkpoint(self.model, working_path(self.out_path), self.run.card())
        assert self.run.config.epochs is not None
        self.emit(epoch_event(stats, self.run.config.epochs, improved, self.run.best_epoch))
        return best_state

    def _mark_interrupted(self) -> None:
        self.run.interrupted = True
        self.emit(note("training stopped: " + (
            f"keeping the best epoch so far ({self.run.best_epoch})" if self.run.best_epoch else
            "no epoch had finished, so no model was saved")))

    def _epoch(self, epoch: int, train_buckets: Sequence[Bucket], val_buckets: Sequence[Bucket],
               batch_size: int, steps: int) -> tuple[EpochStats, ValResult]:
        started = time.perf_counter()
        loss_sum = correct = seen = labelled = 0.0
        epochs = self.run.config.epochs
        assert epochs is not None
        train_mode(self.model, self.run.frozen)
        for step, (b, idx) in enumerate(batches(train_buckets, batch_size, self.generator)[:steps]):
            if self.should_stop():
                raise _Stop
            loss, logits, y = self._step(train_buckets[b], idx)
            seen += y.numel()
            labelled += float((y != UNLABELLED).sum())
            loss_sum += float(loss) * y.numel()
            correct += float((logits.argmax(dim=1) == y).sum())
            self.emit(batch_event(epoch, epochs, step + 1, steps, loss_sum / seen, correct / max(labelled, 1.0),
                                  seen / (time.perf_counter() - started), self.optimizer.param_groups[0]["lr"]))
        train_seconds = time.perf_counter() - started
        val = validate(self.model, val_buckets, self.positive, max(batch_size, 32), self.device)
        stats = EpochStats(epoch=epoch, train_loss=loss_sum / seen, train_acc=correct / max(labelled, 1.0),
                           val_loss=val.loss, val_acc=val.acc, val_auroc=val.auroc,
                           seconds=time.perf_counter() - started, images_per_s=seen / train_seconds)
        return stats, val

    def _step(self, bucket: Bucket, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One optimiser step; returns (detached loss, detached logits, labels; ``-1`` for no label)."""
        teacher_maps = bucket.teacher_maps[idx] if self.distill is not None and bucket.teacher_maps is not None \
            else None
        x, m, moved_maps = augment_with_maps(bucket.images[idx].to(self.device),
                                             None if bucket.masks is None else bucket.masks[idx],
                                             teacher_maps, bucket.out_size, self.generator)
        x = normalize(x)
        y = bucket.labels[idx].to(self.device)
        for part in (self.pointing, self.distill):
            if part is not None:
                part.start()
        logits = self.model(x)
        if not isinstance(logits, Tensor):
            logits = logits[0]
        if self.distill is not None and moved_maps is not None and bucket.teacher_logits is not None:
            loss = self.distill(logits, y, self.weight, bucket.teacher_logits[idx], moved_maps)
        else:
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

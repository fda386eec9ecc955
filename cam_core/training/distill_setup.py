"""Wiring distillation and fresh parts into a run: images without labels, the teacher's outputs, the card.

Images without a label come from ``DistillSettings.unlabelled`` (a folder, searched recursively) or from a
class folder named ``unlabelled/`` in the data set; they get the label ``-1``, join the training side only
and take part in the teacher terms only (:mod:`cam_core.training.distill`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from cam_core.data.dataset import list_images
from cam_core.errors import InputError
from cam_core.progress import ProgressCallback
from cam_core.training.buckets import Bucket
from cam_core.training.config import TrainConfig
from cam_core.training.data import DatasetIndex, ImageRecord
from cam_core.training.distill import UNLABELLED, UNLABELLED_FOLDER, Teacher
from cam_core.training.events import note
from cam_core.training.fresh import FreshParts

__all__ = ["annotate", "fresh_parts", "fresh_steps", "take_unlabelled"]


def take_unlabelled(index: DatasetIndex, config: TrainConfig) -> tuple[DatasetIndex, list[ImageRecord]]:
    """(``index`` without an ``unlabelled/`` class, the images without a label: that folder's and
    ``config.distill.unlabelled``'s). Without a teacher there are none, and an ``unlabelled/`` folder is refused."""
    names = [c.lower() for c in index.classes]
    records: list[ImageRecord] = []
    if UNLABELLED_FOLDER in names:
        if config.distill is None:
            raise InputError(f"the {UNLABELLED_FOLDER}/ folder holds images without a label: they need a teacher "
                             "(--teacher MODEL), or rename the folder if it is a class")
        drop = names.index(UNLABELLED_FOLDER)
        classes = tuple(c for i, c in enumerate(index.classes) if i != drop)
        if len(classes) < 2:
            raise InputError(f"besides {UNLABELLED_FOLDER}/ the data needs two class folders (e.g. ok/ and ng/)")
        kept = []
        for r in index.records:
            if r.label == drop:
                records.append(replace(r, label=UNLABELLED, mask=None))
            else:
                kept.append(replace(r, label=r.label - (r.label > drop)))
        index = replace(index, classes=classes, records=tuple(kept))
    if config.distill is not None and config.distill.unlabelled:
        folder = Path(config.distill.unlabelled)
        if not folder.is_dir():
            raise InputError(f"folder of images without labels not found: {folder}")
        records += [ImageRecord(path=p, label=UNLABELLED) for p in list_images(folder)]
    return index, records


def annotate(buckets: Sequence[Bucket], teacher: Teacher, emit: ProgressCallback) -> None:
    """Keep the teacher's logits and defect-evidence map of every stored training image on its bucket."""
    total = sum(b.labels.numel() for b in buckets)
    emit(note(f"teacher {teacher.bundle.name}: explaining the {total} training images once"))
    for bucket in buckets:
        bucket.teacher_logits, bucket.teacher_maps = teacher.cached_outputs(bucket.images)


def fresh_parts(config: TrainConfig, classes: Sequence[str], with_masks: bool) -> FreshParts | None:
    """The background renderer of ``config.fresh_synth`` (square parts at the stored training size)."""
    fresh = config.fresh_synth
    if fresh is None:
        return None
    lowered = [c.lower() for c in classes]
    if "ok" not in lowered or "ng" not in lowered:
        raise InputError(f"fresh synthetic parts need classes ok and ng (the data has {', '.join(classes)})")
    from cam_core.training.augment import WORKING_SCALE

    return FreshParts(fresh, round(config.image_size * WORKING_SCALE), (config.image_size, config.image_size),
                      ok=lowered.index("ok"), ng=lowered.index("ng"), with_masks=with_masks)


def fresh_steps(config: TrainConfig, batch_size: int) -> int:
    """Batches that the fresh parts add to every epoch (the rule of :func:`~cam_core.training.buckets.batches`)."""
    if config.fresh_synth is None:
        return 0
    n = config.fresh_synth.count
    return math.ceil(n / batch_size) - (1 if n % batch_size == 1 else 0)

"""The images of a class-folder data set and its train/validation split.

Data: one subfolder per class (``ok/``, ``ng/``; a ``masks/`` folder is not a class); a defect mask is
``masks/<stem>.png`` (the layout rules are :mod:`cam_core.data.dataset`'s). Classes are sorted, but ``ok`` first
and ``ng`` second when present.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cam_core.data.dataset import class_folders, folder_masks, list_images, name_group
from cam_core.errors import InputError

__all__ = ["DatasetIndex", "GroupFn", "ImageRecord", "group_by_pattern", "scan_dataset",
           "split_dataset"]


@dataclass(frozen=True)
class ImageRecord:
    """One image: its class index, its defect mask (if ``masks/<stem>.png`` exists) and split group."""

    path: Path
    label: int
    mask: Path | None = None
    group: str | None = None


GroupFn = Callable[[ImageRecord], str | None]


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


def group_by_pattern(pattern: str) -> GroupFn:
    """A ``group_fn`` that groups images by the first match of ``pattern`` in their file name
    (:func:`cam_core.data.dataset.name_group`)."""
    of_name = name_group(pattern)

    def group(record: ImageRecord) -> str | None:
        return of_name(record.path.name)

    return group


def _class_order(names: Sequence[str]) -> list[str]:
    """Sorted, but ``ok`` first and ``ng`` second when present (class 0 = OK, class 1 = NG)."""
    lowered = {n.lower(): n for n in names}
    first = [lowered[k] for k in ("ok", "ng") if k in lowered]
    return first + sorted(n for n in names if n not in first)


def scan_dataset(data_dir: str | Path, group_fn: GroupFn | None = None) -> DatasetIndex:
    """Index ``data_dir``: one subfolder per class (searched recursively), masks folders ignored.

    The layout rules (class folders, masks folder, mask names, manifest) are :mod:`cam_core.data.dataset`'s.
    """
    root = Path(data_dir)
    found: dict[str, list[Path]] = {}
    for sub in class_folders(root):
        files = list_images(sub)
        if files:
            found[sub.name] = files
    if len(found) < 2:
        raise InputError(
            f"{root} needs one subfolder of images per class, at least two (e.g. ok/ and ng/); "
            f"found {sorted(found) or 'none'}")
    classes = _class_order(list(found))
    masks = folder_masks(root, [path for name in classes for path in found[name]])
    records = []
    for label, name in enumerate(classes):
        for path in found[name]:
            mask = masks.get(path)
            record = ImageRecord(path=path, label=label, mask=mask if mask is not None and mask.is_file() else None)
            if group_fn is not None:
                record = replace(record, group=group_fn(record))
            records.append(record)
    return DatasetIndex(root=root, classes=tuple(classes), records=tuple(records), source=str(data_dir))


def split_dataset(index: DatasetIndex, val_fraction: float, seed: int,
                  group_fn: GroupFn | None = None) -> tuple[DatasetIndex, DatasetIndex]:
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
    if any(k is not None for k in keys):
        in_val = _grouped_val(keys, labels, len(index.classes), val_fraction, rng)
    else:
        in_val = _stratified_val(labels, index.classes, val_fraction, rng)
    for c, name in enumerate(index.classes):
        if not (in_val & (labels == c)).any() or not (~in_val & (labels == c)).any():
            raise InputError(f"the split leaves class {name!r} without images on one side; "
                             "use more images or groups, or another validation fraction")
    train = [r for r, v in zip(records, in_val) if not v]
    val = [r for r, v in zip(records, in_val) if v]
    return index.subset(train), index.subset(val)


def _stratified_val(labels: np.ndarray, classes: Sequence[str], fraction: float,
                    rng: np.random.Generator) -> np.ndarray:
    """``clamp(round(f · N_c), 1, N_c − 1)`` random images of each class go to val."""
    in_val = np.zeros(len(labels), dtype=bool)
    for c in range(len(classes)):
        members = np.flatnonzero(labels == c)
        if members.size < 2:
            raise InputError(f"class {classes[c]!r} has {members.size} image(s); "
                             "at least 2 are needed (one to train on, one to validate)")
        n_val = min(max(1, round(fraction * members.size)), members.size - 1)
        in_val[rng.permutation(members)[:n_val]] = True
    return in_val


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

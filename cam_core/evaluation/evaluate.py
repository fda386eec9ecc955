"""Score a model on a labelled folder: classification over every image, localization over the NG masks.

:func:`evaluate` runs an :class:`~cam_core.explain.pipeline.Explainer` over the class folders of a data
set (``ok/``, ``ng/`` named like the model's classes; the layout rules, masks included, are
:mod:`cam_core.data.dataset`'s), reads defect types from ``manifest.csv`` and returns an
:class:`~cam_core.evaluation.report.EvaluationReport`. The positive class is the defect class
(:attr:`cam_core.checkpoints.ModelCard.scored_index`); its maps are scored with
:func:`~cam_core.evaluation.metrics.localization_scores` against each NG image's mask.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cam_core.data.dataset import class_folders, folder_masks, list_images, read_manifest, relative_name
from cam_core.errors import InputError
from cam_core.evaluation.deletion import DeletionResult, deletion_curves, deletion_summary
from cam_core.evaluation.masks import load_mask
from cam_core.evaluation.metrics import localization_scores
from cam_core.evaluation.report import ALL_TYPES, EvaluationReport, build_report, judge
from cam_core.files import sha256_of
from cam_core.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explainer, Explanation

__all__ = ["DELETION_IMAGES", "balanced_subset", "evaluate"]

DELETION_IMAGES = 64     # defect images whose deletion curve evaluate() measures by default (16 passes each)


def _class_folders(root: Path, classes: Sequence[str]) -> dict[str, int]:
    """Folder name → class index; every image folder must name one of the model's classes."""
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    folders = [p.name for p in class_folders(root)]
    unknown = [f for f in folders if f.lower() not in lookup]
    matched = {f: lookup[f.lower()] for f in folders if f.lower() in lookup}
    if unknown or not matched:
        raise InputError(
            f"{root}: class folders {folders or '(none)'} do not match the model's classes {list(classes)}. "
            f"Put the images in one subfolder per class, named like the model's classes (e.g. ok/ and ng/).")
    return matched


def _chosen_file(root: Path, item: str | Path, lookup: dict[str, int], folders: dict[str, int]) -> tuple[Path, int]:
    path = Path(item)
    if not path.is_absolute() and (root / path).exists():
        path = root / path
    try:
        parent = path.resolve().relative_to(root.resolve()).parts[0]
    except (ValueError, IndexError):
        raise InputError(f"{item}: not inside {root}") from None
    if parent.lower() not in lookup:
        raise InputError(f"{item}: its folder {parent!r} is not one of the class folders {sorted(folders)}")
    if not path.is_file():
        raise InputError(f"{item}: file not found")
    return path, lookup[parent.lower()]


def _list_files(root: Path, folders: dict[str, int], files: Sequence[str | Path] | None) -> list[tuple[Path, int]]:
    """``(image, class index)`` of every image of the class folders, or of ``files`` (checked to lie in them)."""
    if files is None:
        found = []
        for folder, index in sorted(folders.items()):
            found += [(p, index) for p in list_images(root / folder)]
        return found
    lookup = {f.lower(): i for f, i in folders.items()}
    return [_chosen_file(root, item, lookup, folders) for item in files]


def balanced_subset(data_dir: str | Path, classes: Sequence[str], limit: int) -> tuple[list[str], int]:
    """At most ``limit`` images of ``data_dir``'s class folders, taken in turn from each class.

    Returns their paths relative to ``data_dir`` (for :func:`evaluate`'s ``files``) and the number of
    images there are in all. Each class folder is listed in name order, so the choice is repeatable;
    taking the classes in turn keeps a capped subset from holding one class only.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    per_class = [list_images(root / folder) for folder in sorted(_class_folders(root, classes))]
    total = sum(len(files) for files in per_class)
    chosen: list[str] = []
    for rank in range(max((len(files) for files in per_class), default=0)):
        for files in per_class:
            if rank < len(files) and len(chosen) < max(0, int(limit)):
                chosen.append(relative_name(files[rank], root))
    return chosen, total


@dataclass
class _Run:
    """One :func:`evaluate` call: its inputs, and what it has measured so far."""

    root: Path
    explainer: Explainer
    classes: list[str]
    positive: int
    manifest: dict[str, dict[str, str]]
    masks: dict[Path, Path | None]
    tolerance_px: float | None
    emit: ProgressCallback
    per_image: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    empty_masks: int = 0
    missing_masks: int = 0
    model_seconds: float = 0.0
    map_size: list[int] | None = None
    deletion_limit: int = 0
    deletions: list[DeletionResult] = field(default_factory=list)

    def run_batch(self, chunk: Sequence[tuple[Path, int]]) -> None:
        """Load, explain (positive class targeted) and score one batch of images."""
        kept, images = self._load(chunk)
        if not images:
            return
        t0 = time.perf_counter()
        explanations = self.explainer.explain(images, targets=[self.positive])
        self.model_seconds += time.perf_counter() - t0
        if self.map_size is None and explanations:
            self.map_size = list(explanations[0].map_size)
        for (path, label), image, explanation in zip(kept, images, explanations):
            self.per_image.append(self._row(path, label, image, explanation))

    def _load(self, chunk: Sequence[tuple[Path, int]]) -> tuple[list[tuple[Path, int]], list[Image.Image]]:
        from cam_core.data.imaging import load_image

        kept, images = [], []
        for path, label in chunk:
            try:
                images.append(load_image(path).image)
                kept.append((path, label))
            except InputError as exc:
                rel = relative_name(path, self.root)
                self.skipped.append({"file": rel, "reason": str(exc)})
                self.emit(Progress("message", message=f"skipped {rel}: {exc}"))
        return kept, images

    def _row(self, path: Path, label: int, image: Image.Image, explanation: Explanation) -> dict[str, Any]:
        rel = relative_name(path, self.root)
        row: dict[str, Any] = {
            "file": rel, "label": self.classes[label], "predicted": explanation.predicted_class,
            "p_ng": float(explanation.probabilities[self.positive]),
            "defect_type": self.manifest.get(rel, {}).get("defect_type") or ALL_TYPES,
            "pointing": None, "energy": None, "mask_share": None, "iou": None, "pointing_chance": None,
            "note": None, "sha256": sha256_of(path), "domain": explanation.domain.verdict.value,
        }
        if label == self.positive:
            mask = self.masks.get(path)
            try:
                status = _localize(row, mask, explanation.map_of(self.positive), image.size, self.tolerance_px)
            except InputError as exc:         # an unreadable mask: the image still counts, unlocalized
                assert mask is not None
                self.skipped.append({"file": relative_name(mask, self.root), "reason": str(exc)})
                self.emit(Progress("message", message=f"skipped {relative_name(mask, self.root)}: {exc}"))
                row["note"] = "mask unreadable: not localized"
                return row
            self.empty_masks += status == "empty"
            self.missing_masks += status == "missing"
            if status != "ok":
                row["note"] = "all-zero mask: not localized" if status == "empty" else "no mask file"
            self._deletion(row, image, explanation)
        return row

    def _deletion(self, row: dict[str, Any], image: Image.Image, explanation: Explanation) -> None:
        """The deletion curve of a defect image's map (:mod:`~cam_core.evaluation.deletion`), up to the limit."""
        row["deletion_auc"] = row["deletion_random_auc"] = None
        if len(self.deletions) >= self.deletion_limit:
            return
        evidence = explanation.evidence_of(self.positive) if explanation.is_centrable else \
            explanation.map_of(self.positive)
        result = deletion_curves(self.explainer, image, evidence, self.positive, row["p_ng"],
                                 seed=len(self.per_image))
        self.deletions.append(result)
        row["deletion_auc"], row["deletion_random_auc"] = result.auc, result.random_auc


def evaluate(data_dir: str | Path, explainer: Explainer, *, tolerance_px: float | None = None,
             batch_size: int = 16, files: Sequence[str | Path] | None = None,
             progress: ProgressCallback | None = None, deletion_images: int = DELETION_IMAGES) -> EvaluationReport:
    """Classify every image under ``data_dir``'s class folders and score the NG maps against the masks.

    ``files`` restricts to a subset (paths relative to ``data_dir`` like ``"ng/x.jpg"``, or absolute).
    ``tolerance_px=None`` uses ``15·max(W, H)/224`` per image. Unreadable images are skipped, and so are
    unreadable masks (their image is still classified, not localized); both are listed in ``skipped_files``. ``progress`` gets :class:`~cam_core.progress.Progress` events: stage ``"image"``
    (``done`` of ``total`` images) after each batch and ``"message"`` for skipped files and masks.
    The first ``deletion_images`` defect images also get their deletion curve (mask-free faithfulness,
    :mod:`~cam_core.evaluation.deletion`; 0 turns it off); its passes are not counted in the model time.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    bundle = explainer.bundle
    classes = list(bundle.classes)
    pos = bundle.card.scored_index
    entries = _list_files(root, _class_folders(root, classes), files)
    if not entries:
        raise InputError(f"{root}: no images found in the class folders")
    manifest = read_manifest(root)
    run = _Run(root=root, explainer=explainer, classes=classes, positive=pos, manifest=manifest,
               masks=folder_masks(root, [path for path, label in entries if label == pos], manifest),
               tolerance_px=tolerance_px, emit=progress or ignore_progress,
               deletion_limit=max(0, int(deletion_images)))
    start = time.perf_counter()
    step = max(1, batch_size)
    for first in range(0, len(entries), step):
        run.run_batch(entries[first:first + step])
        done = min(first + step, len(entries))
        run.emit(Progress("image", done, len(entries), message=f"{done}/{len(entries)} images"))
    if run.empty_masks:
        run.emit(Progress("message", message=f"{run.empty_masks} NG image(s) with an all-zero mask skipped for "
                                              "localization"))
    if not run.per_image:
        raise InputError(f"{root}: none of the {len(entries)} images could be read")
    report = build_report(bundle.name, explainer.method, classes, pos, run.per_image, tolerance_px,
                          time.perf_counter() - start, run.model_seconds, run.empty_masks, run.missing_masks,
                          run.skipped)
    report.map_size = run.map_size
    report.deletion = deletion_summary(run.deletions)
    judge(report, bundle.card)
    return report


def _localize(row: dict[str, Any], path: Path | None, ng_map: np.ndarray, image_size: tuple[int, int],
              tolerance_px: float | None) -> str:
    """Fill the localization fields of ``row`` from the mask at ``path``; returns "ok", "missing" or "empty"."""
    if path is None or not path.is_file():
        return "missing"
    mask = load_mask(path)
    if not mask.any():
        return "empty"
    height, width = mask.shape
    if (width, height) != tuple(image_size):
        row["note"] = f"mask {width}×{height} differs from image {image_size[0]}×{image_size[1]}"
    scores = localization_scores(ng_map, mask, tolerance_px)
    row.update(pointing=scores["pointing"], energy=scores["energy"], mask_share=scores["mask_share"],
               iou=scores["iou"], pointing_chance=scores["pointing_chance"])
    return "ok"

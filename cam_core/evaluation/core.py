"""How good is a model, and do its maps point at the defect? Classification and localization metrics.

Classification
--------------
- :func:`auroc`: area under the ROC curve, rank-based (Mann–Whitney U)::

      AUROC = (R₊ − n₊(n₊ + 1)/2) / (n₊ · n₋)

  where ``R₊`` is the sum of the ranks of the positive scores among all scores (rank 1 = lowest;
  tied scores share the average of their ranks, so a tie counts ½), ``n₊``/``n₋`` the numbers of
  positives/negatives. Equal to ``P(score₊ > score₋) + ½·P(score₊ = score₋)``. NaN when one class is
  missing.
- :func:`confusion`: ``M[t, p]`` = number of images of true class ``t`` predicted as ``p``.

Localization (NG images with a non-empty defect mask)
------------------------------------------------------
The raw map ``M`` (feature resolution) is bilinearly upsampled to the mask's size ``H×W`` (mask and
image have the same size; the network sees the whole image, squashed to its input size or at its own
aspect ratio, so the map covers the whole image).

- **Pointing game** (:func:`pointing_hit`): hit when the map's peak ``p = argmax M`` lies within
  ``tolerance`` pixels of the mask: ``min_{q ∈ mask} ‖p − q‖₂ ≤ tolerance``. A constant map has no
  peak and is a miss. Default tolerance: ``15 · max(W, H) / 224`` px (15 px at the usual 224-px input).
- **Energy share** (:func:`energy_share`): with ``P = max(M, 0)`` (positive evidence),
  ``energy = Σ_{mask} P / Σ P`` (0 when ``Σ P = 0``), reported with ``mask_share = |mask| / (H·W)``:
  a map that ignores the defect scores about ``mask_share``; ``energy / mask_share`` > 1 means the
  evidence concentrates on the defect.
- **Half-max IoU** (:func:`half_max_iou`): ``IoU({M ≥ ½·max M}, mask)``; 0 when ``max M ≤ 0``.
- **Pointing on flagged parts**: the pointing game over the defective images the model called
  defective, the case a quality engineer asks about ("why did it call this part NG?").

:func:`localization_scores` computes all of these for one map and one mask (upsampling once); both
:func:`evaluate` and the app's Explain page use it. Masks are binary: a pixel ≥ 128 is defect (masks
whose values are all 0/1 use ``> 0``), see :func:`binarize_mask`; :func:`load_mask` reads mask files,
:func:`decode_mask` uploaded bytes (with the image loader's limits) and :func:`fit_mask` resizes a
mask to its image (nearest neighbour).

:func:`evaluate` runs an :class:`~cam_core.explain.pipeline.Explainer` over class folders (``ok/``, ``ng/``
named like the model's classes), reads masks from ``masks/<stem>.png`` and defect types from
``manifest.csv``, and returns an :class:`EvaluationReport`; :func:`format_report` prints it.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cam_core.checkpoints.bundle import defect_class_index
from cam_core.errors import InputError
from cam_core.explain.render import upsample_maps

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explainer

__all__ = [
    "EvaluationReport", "auroc", "balanced_subset", "binarize_mask", "confusion", "decode_mask", "default_tolerance",
    "energy_share", "evaluate", "fit_mask", "format_report", "half_max_iou", "load_mask", "localization_scores",
    "pointing_hit", "positive_class_index",
]

TOLERANCE_AT_224 = 15.0
MASKS_DIR = "masks"
MANIFEST = "manifest.csv"
ALL_TYPES = "all"
LOCALIZATION_KEYS = ("n", "pointing", "energy_in_mask", "mask_share", "energy_ratio", "iou", "n_flagged",
                     "pointing_flagged")
Progress = Callable[[dict[str, Any]], None]


# --------------------------------------------------------------------------- classification metrics
def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Rank-based AUROC of ``scores`` for ``labels`` (truthy = positive); ties averaged; NaN if a class is missing.

    ``AUROC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋)`` with ``R₊`` the sum of the positives' (average) ranks.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length ({s.size} vs {y.size})")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (got NaN or inf)")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts, dtype=np.float64)
    average_rank = ends - (counts - 1) / 2.0          # mean of ranks (end - count + 1) .. end
    rank_sum = float(average_rank[inverse.ravel()][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def confusion(pred: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """``n_classes × n_classes`` int64 matrix, rows = true class, columns = predicted class."""
    p = np.asarray(pred, dtype=np.int64).ravel()
    t = np.asarray(labels, dtype=np.int64).ravel()
    if p.shape != t.shape:
        raise ValueError(f"predictions and labels differ in length ({p.size} vs {t.size})")
    if p.size and (min(p.min(), t.min()) < 0 or max(p.max(), t.max()) >= n_classes):
        raise ValueError(f"class indices must lie in 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def positive_class_index(classes: Sequence[str]) -> int:
    """Index of the defect class ("ng", "defect", "bad", …), else 1 (the second class)."""
    index = defect_class_index(tuple(classes))
    if index is not None:
        return index
    return 1 if len(classes) > 1 else 0


# --------------------------------------------------------------------------- localization metrics
def _upsampled(map_hw: np.ndarray, mask_bool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be H×W, got shape {mask.shape}")
    values = np.asarray(map_hw, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"map must be h×w, got shape {values.shape}")
    if values.shape != mask.shape:
        values = upsample_maps(values, (mask.shape[0], mask.shape[1]))
    return values, mask


def default_tolerance(width: int, height: int) -> float:
    """Pointing-game tolerance in pixels: ``15 · max(W, H) / 224`` (15 px for a 224-px image)."""
    return TOLERANCE_AT_224 * max(width, height) / 224.0


def pointing_hit(map_hw: np.ndarray, mask_bool: np.ndarray, tolerance_px: float) -> bool:
    """Pointing game: is the upsampled map's peak within ``tolerance_px`` of a mask pixel?

    ``hit ⇔ min_{q ∈ mask} ‖argmax M − q‖₂ ≤ tolerance_px``. A constant map (no peak) is a miss;
    an empty mask raises ``ValueError``.
    """
    values, mask = _upsampled(map_hw, mask_bool)
    if not mask.any():
        raise ValueError("the mask is empty: the pointing game needs at least one defect pixel")
    if not np.isfinite(values).all() or values.max() <= values.min():
        return False
    y, x = np.unravel_index(int(np.argmax(values)), values.shape)
    t = max(0.0, float(tolerance_px))
    r = int(math.floor(t))
    window = mask[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1]
    ys, xs = np.nonzero(window)
    if ys.size == 0:
        return False
    dy = ys + max(0, y - r) - y
    dx = xs + max(0, x - r) - x
    return bool((dy * dy + dx * dx).min() <= t * t)


def energy_share(map_hw: np.ndarray, mask_bool: np.ndarray) -> tuple[float, float]:
    """``(Σ_mask P / Σ P, |mask| / (H·W))`` with ``P = max(M, 0)`` upsampled bilinearly to the mask size.

    The energy share is 0 when the map has no positive value.
    """
    values, mask = _upsampled(map_hw, mask_bool)
    positive = np.maximum(values, 0.0).astype(np.float64)
    total = float(positive.sum())
    share = float(positive[mask].sum()) / total if total > 0 else 0.0
    return share, float(mask.mean())


def half_max_iou(map_hw: np.ndarray, mask_bool: np.ndarray) -> float:
    """``IoU({M ≥ ½ max M}, mask)`` on the upsampled map; 0 when ``max M ≤ 0`` or both sets are empty."""
    values, mask = _upsampled(map_hw, mask_bool)
    peak = float(values.max())
    if not math.isfinite(peak) or peak <= 0:
        return 0.0
    predicted = values >= 0.5 * peak
    union = int(np.logical_or(predicted, mask).sum())
    return float(np.logical_and(predicted, mask).sum()) / union if union else 0.0


def localization_scores(map_hw: np.ndarray, mask_bool: np.ndarray,
                        tolerance_px: float | None = None) -> dict[str, Any]:
    """Every localization metric of one map against one non-empty mask (the map upsampled once).

    Returns ``pointing`` (bool), ``energy`` (share of the positive evidence inside the mask),
    ``mask_share``, ``energy_ratio`` (``energy / mask_share``), ``iou`` (half-max IoU),
    ``tolerance_px`` (``None`` → :func:`default_tolerance` of the mask's size) and ``peak``
    (``(x, y)`` of the upsampled map's maximum in mask pixels, ``None`` for a constant map).
    Raises ``ValueError`` for an empty mask.
    """
    values, mask = _upsampled(map_hw, mask_bool)
    if not mask.any():
        raise ValueError("the mask is empty: there is no defect to point at")
    height, width = mask.shape
    tolerance = default_tolerance(width, height) if tolerance_px is None else float(tolerance_px)
    energy, share = energy_share(values, mask)
    peak = None
    if np.isfinite(values).all() and values.max() > values.min():
        y, x = np.unravel_index(int(np.argmax(values)), values.shape)
        peak = (int(x), int(y))
    return {
        "pointing": pointing_hit(values, mask, tolerance),
        "energy": energy,
        "mask_share": share,
        "energy_ratio": energy / share if share > 0 else float("nan"),
        "iou": half_max_iou(values, mask),
        "tolerance_px": tolerance,
        "peak": peak,
    }


def binarize_mask(values: np.ndarray) -> np.ndarray:
    """A single-channel mask → H×W bool: a pixel ≥ 128 is defect (``> 0`` when every value is 0 or 1)."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"a mask is H×W, not an array of shape {values.shape}")
    return values > (127 if values.max(initial=0) > 1 else 0)


def load_mask(path: str | Path) -> np.ndarray:
    """A binary mask file → H×W bool (see :func:`binarize_mask`)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("1", "L", "P", "I", "I;16"):
                im = im.convert("L")
            values = np.asarray(im)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"mask {path.name} cannot be read ({exc})") from None
    if values.ndim != 2:
        raise InputError(f"mask {path.name} is not a single-channel image")
    return binarize_mask(values)


def decode_mask(data: bytes, name: str = "mask") -> np.ndarray:
    """Uploaded mask bytes → H×W bool (see :func:`binarize_mask`).

    Decoded with :func:`cam_core.data.imaging.load_image`, so the image limits apply (file size, pixel
    count, formats, EXIF orientation) and a bad file raises :class:`InputError`; colour masks are
    converted to grayscale first.
    """
    from cam_core.data.imaging import load_image

    loaded = load_image(data, name=name)
    return binarize_mask(np.asarray(loaded.image.convert("L")))


def fit_mask(mask_bool: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """``mask_bool`` at ``size = (W, H)``: unchanged (note ``None``), or resized nearest-neighbour with a note."""
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is H×W, not an array of shape {mask.shape}")
    width, height = int(size[0]), int(size[1])
    if mask.shape == (height, width):
        return mask, None
    picture = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L")
    resized = np.asarray(picture.resize((width, height), Image.Resampling.NEAREST)) >= 128
    note = (f"mask {mask.shape[1]}×{mask.shape[0]} px resized to the image's {width}×{height} px "
            "(nearest neighbour)")
    return resized, note


# --------------------------------------------------------------------------- report
@dataclass
class EvaluationReport:
    """Everything :func:`evaluate` measured. Localization dicts carry :data:`LOCALIZATION_KEYS`."""

    model: str
    method: str
    classes: list[str]
    positive_class: str
    n_images: int
    accuracy: float
    auroc: float
    confusion: list[list[int]]
    per_type: dict[str, dict[str, float]]
    overall: dict[str, float]
    per_image: list[dict[str, Any]]
    tolerance_px: float | None          # None: 15·max(W,H)/224 per image
    seconds: float
    ms_per_image: float                 # wall time (decode + explain + metrics) per image
    model_ms_per_image: float           # explain() time only
    skipped_empty_masks: int = 0
    missing_masks: int = 0
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    map_size: list[int] | None = None   # [h, w] of the maps (the network's feature grid)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON dict (NaN → ``None``)."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over localized images; ``energy_ratio = mean(energy) / mean(mask_share)`` (ratio of means).

    ``pointing_flagged`` is the pointing game over the ``n_flagged`` images the model called defective:
    the question "when it says NG, does its map show where?" (NaN when it flagged none).
    """
    n = len(rows)
    if n == 0:
        return {"n": 0, **{k: float("nan") for k in LOCALIZATION_KEYS[1:]}, "n_flagged": 0}
    energy = float(np.mean([r["energy"] for r in rows]))
    share = float(np.mean([r["mask_share"] for r in rows]))
    flagged = [r["pointing"] for r in rows if r["predicted"] == r["label"]]
    return {
        "n_flagged": len(flagged),
        "pointing_flagged": float(np.mean(flagged)) if flagged else float("nan"),
        "n": n,
        "pointing": float(np.mean([r["pointing"] for r in rows])),
        "energy_in_mask": energy,
        "mask_share": share,
        "energy_ratio": energy / share if share > 0 else float("nan"),
        "iou": float(np.mean([r["iou"] for r in rows])),
    }


# --------------------------------------------------------------------------- evaluate
def _class_folders(root: Path, classes: Sequence[str]) -> dict[str, int]:
    """Folder name → class index; every image folder must name one of the model's classes."""
    from cam_core.data.imaging import is_hidden_name

    lookup = {c.lower(): i for i, c in enumerate(classes)}
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != MASKS_DIR
                     and not is_hidden_name(p.name))
    unknown = [f for f in folders if f.lower() not in lookup]
    matched = {f: lookup[f.lower()] for f in folders if f.lower() in lookup}
    if unknown or not matched:
        raise InputError(
            f"{root}: class folders {folders or '(none)'} do not match the model's classes {list(classes)}. "
            f"Put the images in one subfolder per class, named like the model's classes (e.g. ok/ and ng/).")
    return matched


def _read_manifest(root: Path) -> dict[str, dict[str, str]]:
    """``manifest.csv`` rows keyed by their ``file`` column (posix path relative to the data folder)."""
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return {row["file"].replace("\\", "/"): row for row in csv.DictReader(fh) if row.get("file")}
    except (OSError, UnicodeDecodeError, KeyError, csv.Error) as exc:
        raise InputError(f"{path} cannot be read as a CSV with a 'file' column ({exc})") from None


def _list_files(root: Path, folders: dict[str, int], files: Sequence[str | Path] | None) -> list[tuple[Path, int]]:
    from cam_core.data.imaging import iter_image_files

    if files is None:
        found = []
        for folder, index in sorted(folders.items()):
            found += [(p, index) for p in iter_image_files(root / folder)]
        return found
    chosen = []
    lookup = {f.lower(): i for f, i in folders.items()}
    for item in files:
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
        chosen.append((path, lookup[parent.lower()]))
    return chosen


def balanced_subset(data_dir: str | Path, classes: Sequence[str], limit: int) -> tuple[list[str], int]:
    """At most ``limit`` images of ``data_dir``'s class folders, taken in turn from each class.

    Returns their paths relative to ``data_dir`` (for :func:`evaluate`'s ``files``) and the number of
    images there are in all. Each class folder is listed in name order, so the choice is repeatable;
    taking the classes in turn keeps a capped subset from holding one class only.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    from cam_core.data.imaging import iter_image_files

    per_class = [list(iter_image_files(root / folder)) for folder in sorted(_class_folders(root, classes))]
    total = sum(len(files) for files in per_class)
    chosen: list[str] = []
    for rank in range(max((len(files) for files in per_class), default=0)):
        for files in per_class:
            if rank < len(files) and len(chosen) < max(0, int(limit)):
                chosen.append(_relative(files[rank], root))
    return chosen, total


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as written (a folder of symlinks keeps its own names), else resolved."""
    for candidate, base in ((path.absolute(), root.absolute()), (path.resolve(), root.resolve())):
        try:
            return candidate.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def _mask_path(root: Path, rel: str, manifest: dict[str, dict[str, str]]) -> Path:
    listed = manifest.get(rel, {}).get("mask", "")
    return root / listed if listed else root / MASKS_DIR / f"{Path(rel).stem}.png"


def evaluate(data_dir: str | Path, explainer: Explainer, *, tolerance_px: float | None = None,
             batch_size: int = 16, files: Sequence[str | Path] | None = None,
             progress: Progress | None = None) -> EvaluationReport:
    """Classify every image under ``data_dir``'s class folders and score the NG maps against the masks.

    ``files`` restricts to a subset (paths relative to ``data_dir`` like ``"ng/x.jpg"``, or absolute).
    ``tolerance_px=None`` uses ``15·max(W, H)/224`` per image. Unreadable images are skipped (listed in
    ``skipped_files``). Progress events: ``{"event": "message", "text"}`` and
    ``{"event": "progress", "done", "total"}``.
    """
    from cam_core.data.imaging import load_image

    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    bundle = explainer.bundle
    classes = list(bundle.classes)
    pos = bundle.positive_index if bundle.positive_index is not None else positive_class_index(classes)
    entries = _list_files(root, _class_folders(root, classes), files)
    if not entries:
        raise InputError(f"{root}: no images found in the class folders")
    manifest = _read_manifest(root)
    emit = progress or (lambda event: None)
    start = time.perf_counter()
    model_seconds = 0.0
    per_image: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    empty_masks = missing_masks = 0
    map_size: list[int] | None = None
    for first in range(0, len(entries), max(1, batch_size)):
        chunk = entries[first:first + max(1, batch_size)]
        images, kept = [], []
        for path, label in chunk:
            try:
                images.append(load_image(path).image)
                kept.append((path, label))
            except InputError as exc:
                skipped.append({"file": _relative(path, root), "reason": str(exc)})
                emit({"event": "message", "text": f"skipped {_relative(path, root)}: {exc}"})
        if images:
            t0 = time.perf_counter()
            explanations = explainer.explain(images, targets=[pos])
            model_seconds += time.perf_counter() - t0
            if map_size is None and explanations:
                map_size = list(explanations[0].map_size)
        for (path, label), image, expl in zip(kept, images, explanations if images else []):
            rel = _relative(path, root)
            row: dict[str, Any] = {
                "file": rel, "label": classes[label], "predicted": expl.predicted_class,
                "p_ng": float(expl.probabilities[pos]),
                "defect_type": manifest.get(rel, {}).get("defect_type") or ALL_TYPES,
                "pointing": None, "energy": None, "mask_share": None, "iou": None, "note": None,
            }
            if label == pos:
                status = _localize(row, root, rel, manifest, expl.map_of(pos), image.size, tolerance_px)
                empty_masks += status == "empty"
                missing_masks += status == "missing"
                if status != "ok":
                    row["note"] = "all-zero mask: not localized" if status == "empty" else "no mask file"
            per_image.append(row)
        emit({"event": "progress", "done": min(first + len(chunk), len(entries)), "total": len(entries)})
    if empty_masks:
        emit({"event": "message", "text": f"{empty_masks} NG image(s) with an all-zero mask skipped for localization"})
    if not per_image:
        raise InputError(f"{root}: none of the {len(entries)} images could be read")
    report = _build_report(bundle.name, explainer.method, classes, pos, per_image, tolerance_px,
                           time.perf_counter() - start, model_seconds, empty_masks, missing_masks, skipped)
    report.map_size = map_size
    return report


def _localize(row: dict[str, Any], root: Path, rel: str, manifest: dict[str, dict[str, str]], ng_map: np.ndarray,
              image_size: tuple[int, int], tolerance_px: float | None) -> str:
    """Fill the localization fields of ``row``; returns "ok", "missing" or "empty"."""
    path = _mask_path(root, rel, manifest)
    if not path.is_file():
        return "missing"
    mask = load_mask(path)
    if not mask.any():
        return "empty"
    height, width = mask.shape
    if (width, height) != tuple(image_size):
        row["note"] = f"mask {width}×{height} differs from image {image_size[0]}×{image_size[1]}"
    scores = localization_scores(ng_map, mask, tolerance_px)
    row.update(pointing=scores["pointing"], energy=scores["energy"], mask_share=scores["mask_share"],
               iou=scores["iou"])
    return "ok"


def _build_report(model: str, method: str, classes: list[str], pos: int, per_image: list[dict[str, Any]],
                  tolerance_px: float | None, seconds: float, model_seconds: float, empty_masks: int,
                  missing_masks: int, skipped: list[dict[str, str]]) -> EvaluationReport:
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[r["label"]] for r in per_image])
    predicted = np.array([index[r["predicted"]] for r in per_image])
    localized = [r for r in per_image if r["pointing"] is not None]
    types = sorted({r["defect_type"] for r in localized})
    n = len(per_image)
    return EvaluationReport(
        model=model, method=method, classes=classes, positive_class=classes[pos], n_images=n,
        accuracy=float((labels == predicted).mean()),
        auroc=auroc([r["p_ng"] for r in per_image], labels == pos),
        confusion=confusion(predicted, labels, len(classes)).tolist(),
        per_type={t: _summary([r for r in localized if r["defect_type"] == t]) for t in types},
        overall=_summary(localized), per_image=per_image, tolerance_px=tolerance_px, seconds=seconds,
        ms_per_image=1000.0 * seconds / n, model_ms_per_image=1000.0 * model_seconds / n,
        skipped_empty_masks=empty_masks, missing_masks=missing_masks, skipped_files=skipped)


# --------------------------------------------------------------------------- text output
def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_report(report: EvaluationReport) -> str:
    """A readable multi-line summary: headline numbers, confusion matrix, localization table."""
    tol = ("15·max(W,H)/224 px per image" if report.tolerance_px is None else f"{report.tolerance_px:g} px")
    lines = [
        f"Model {report.model}, method {report.method}: {report.n_images} images in {report.seconds:.1f} s "
        f"({report.ms_per_image:.0f} ms/image, model {report.model_ms_per_image:.0f} ms/image)",
        f"Accuracy {_fmt(report.accuracy)}   AUROC ({report.positive_class}) {_fmt(report.auroc)}",
        "",
        "Confusion matrix (rows = true class, columns = predicted):",
    ]
    width = max(6, *(len(c) + 2 for c in report.classes))
    lines.append(" " * width + "".join(f"{c:>{width}}" for c in report.classes))
    for name, row in zip(report.classes, report.confusion):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += ["", f"Localization of the {report.positive_class} map on {report.positive_class} images with a "
              f"defect mask (pointing tolerance {tol}):"]
    notes = []
    if report.skipped_empty_masks:
        notes.append(f"{report.skipped_empty_masks} all-zero mask(s) skipped")
    if report.missing_masks:
        notes.append(f"{report.missing_masks} image(s) without a mask file")
    if report.skipped_files:
        notes.append(f"{len(report.skipped_files)} unreadable file(s) skipped")
    if notes:
        lines.append("  (" + "; ".join(notes) + ")")
    if not report.overall["n"]:
        lines.append("  no defect masks found (expected masks/<image stem>.png)")
        return "\n".join(lines)
    type_width = max(8, *(len(t) + 2 for t in report.per_type))
    header = (f"{'type':<{type_width}}{'n':>5}{'pointing':>10}{'energy in mask':>16}{'mask share':>12}"
              f"{'energy/mask':>13}{'IoU@½max':>10}{'flagged':>9}{'pointing|flagged':>18}")
    lines += [header, "-" * len(header)]
    rows = list(report.per_type.items())
    if len(rows) > 1 or (rows and rows[0][0] != ALL_TYPES):
        rows.append(("all", report.overall))
    for name, s in rows:
        lines.append(f"{name:<{type_width}}{s['n']:>5}{_fmt(s['pointing']):>10}{_fmt(s['energy_in_mask']):>16}"
                     f"{_fmt(s['mask_share'], 4):>12}{_fmt(s['energy_ratio'], 2):>13}{_fmt(s['iou']):>10}"
                     f"{s['n_flagged']:>9}{_fmt(s['pointing_flagged']):>18}")
    lines += ["", "pointing: share of maps whose peak is within the tolerance of the mask; energy in mask: share "
              "of the map's positive values inside the mask (chance = mask share); flagged: images the model "
              "called defective, and the pointing game on those"]
    return "\n".join(lines)

"""Classification and localization metrics: how good is a model, and do its maps point at the defect?

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

- **Pointing game** (:func:`pointing_hit`): hit when the map's peak ``p``
  (:func:`cam_core.explain.render.peak_location`, the centre of the maximum's cell in mask pixels) lies within
  ``tolerance`` pixels of the mask: ``min_{q ∈ mask} ‖p − q‖₂ ≤ tolerance``. A constant map points
  nowhere and is a miss. Default tolerance: ``15 · max(W, H) / 224`` px (15 px at the usual 224-px input).
- **Energy share** (:func:`energy_share`): with ``P = max(M, 0)`` (positive evidence),
  ``energy = Σ_{mask} P / Σ P`` (0 when ``Σ P = 0``), reported with ``mask_share = |mask| / (H·W)``:
  a map that ignores the defect scores about ``mask_share``; ``energy / mask_share`` > 1 means the
  evidence concentrates on the defect.
- **Half-max IoU** (:func:`half_max_iou`): ``IoU({M ≥ ½·max M}, mask)``; 0 when ``max M ≤ 0``.
- **Chance levels** (:func:`pointing_chance`): a peak placed at random hits with probability
  ``|dilate(mask, disc(tolerance))| / (H·W)``, the share of the image within the tolerance of the mask; a
  map that ignores the defect has an energy ratio of 1.
- **Pointing on flagged parts**: the pointing game over the defective images the model called
  defective, the case a quality engineer asks about ("why did it call this part NG?").

:func:`localization_scores` computes all of these for one map and one mask (upsampling once); both
:func:`~cam_core.evaluation.evaluate.evaluate` and the app's Explain page use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cam_core.explain.render import peak_location, upsample_maps

__all__ = ["CHANCE_GRID", "TOLERANCE_AT_224", "auroc", "confusion", "default_tolerance", "energy_share", "half_max_iou", "map_peak",
           "localization_scores", "pointing_chance", "pointing_hit"]

TOLERANCE_AT_224 = 15.0
CHANCE_GRID = 128        # pointing_chance works on the mask shrunk to at most this many pixels a side


def pointing_chance(mask_bool: np.ndarray, tolerance_px: float) -> float:
    """Share of the image within ``tolerance_px`` of the mask: the pointing game's hit rate of a random peak.

    ``|dilate(mask, disc(t))| / (H·W)``, computed on the mask shrunk to at most :data:`CHANCE_GRID` pixels a
    side (a cell is mask when any of its pixels is; the tolerance shrinks with it), the disc dilation done as
    an FFT convolution.
    """
    mask = np.asarray(mask_bool, dtype=bool)
    if not mask.any():
        raise ValueError("the mask is empty")
    height, width = mask.shape
    step = max(1, math.ceil(max(height, width) / CHANCE_GRID))
    small = np.pad(mask, ((0, -height % step), (0, -width % step))).reshape(
        -(-height // step), step, -(-width // step), step).any(axis=(1, 3))
    radius = max(0.0, float(tolerance_px)) / step
    r = int(math.floor(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (yy * yy + xx * xx <= radius * radius).astype(np.float64)
    shape = (small.shape[0] + 2 * r, small.shape[1] + 2 * r)
    spread = np.fft.irfft2(np.fft.rfft2(small.astype(np.float64), shape) * np.fft.rfft2(disc, shape), shape)
    dilated = spread[r:r + small.shape[0], r:r + small.shape[1]] > 0.5
    return float(dilated.mean())


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


def map_peak(map_hw: np.ndarray, size: tuple[int, int]) -> tuple[int, int] | None:
    """:func:`~cam_core.explain.render.peak_location` in an image of ``size = (W, H)``; ``None`` for a map that
    points nowhere (constant, or not finite)."""
    values = np.asarray(map_hw, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"map must be h×w, got shape {values.shape}")
    if not np.isfinite(values).all() or values.max() <= values.min():
        return None
    return peak_location(values, size)


def pointing_hit(map_hw: np.ndarray, mask_bool: np.ndarray, tolerance_px: float) -> bool:
    """Pointing game: is the map's peak (:func:`map_peak` at the mask's size) within ``tolerance_px`` of a mask
    pixel? ``hit ⇔ min_{q ∈ mask} ‖p − q‖₂ ≤ tolerance_px``. A constant map is a miss; an empty mask raises
    ``ValueError``.
    """
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError("the mask is empty: the pointing game needs at least one defect pixel")
    peak = map_peak(map_hw, (mask.shape[1], mask.shape[0]))
    return peak is not None and _near(peak, mask, tolerance_px)


def _near(peak: tuple[int, int], mask: np.ndarray, tolerance_px: float) -> bool:
    x, y = peak
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
    ``tolerance_px`` (``None`` → :func:`default_tolerance` of the mask's size), ``pointing_chance``
    (:func:`pointing_chance`) and ``peak``
    (:func:`map_peak` in mask pixels, ``None`` for a constant map).
    Raises ``ValueError`` for an empty mask.
    """
    values, mask = _upsampled(map_hw, mask_bool)
    if not mask.any():
        raise ValueError("the mask is empty: there is no defect to point at")
    height, width = mask.shape
    tolerance = default_tolerance(width, height) if tolerance_px is None else float(tolerance_px)
    energy, share = energy_share(values, mask)
    peak = map_peak(map_hw, (width, height))
    return {
        "pointing": peak is not None and _near(peak, mask, tolerance),
        "energy": energy,
        "mask_share": share,
        "energy_ratio": energy / share if share > 0 else float("nan"),
        "iou": half_max_iou(values, mask),
        "tolerance_px": tolerance,
        "pointing_chance": pointing_chance(mask, tolerance),
        "peak": peak,
    }

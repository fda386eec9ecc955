"""The video's colour scale: one fixed range for the whole video, never per frame (which flickers).

``explain_video`` takes the ``value_range`` argument, else the model card's ``evidence_range``, else
:func:`auto_evidence_range` of the first ``CALIBRATION_FRAMES`` explained frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["auto_evidence_range", "auto_value_range"]


def auto_evidence_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """A fixed symmetric colour scale ``(−A, A)`` from a few frames' evidence maps.

    ``A`` = 1.25 × the 99th percentile of ``|value|`` (robust to a stray hot pixel, with room for a
    hotter defect than the first frames hold); at least 1e-3.
    """
    values = np.concatenate([np.abs(np.asarray(m, dtype=np.float32)).ravel() for m in maps]) if maps else np.zeros(1)
    values = values[np.isfinite(values)]
    top = 1.25 * float(np.percentile(values, 99.0)) if values.size else 1.0
    top = max(top, 1e-3)
    return -top, top


def auto_value_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """A fixed colour scale from a few frames' raw maps.

    ``lo, hi`` = 1st and 99th percentiles of all values (robust to a stray hot pixel); the range is
    widened by 10 % of ``hi − lo`` below and 25 % above, because the first frames rarely hold the
    hottest defect. A flat map gets ``±max(1, |v|)`` around its value.
    """
    values = np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [1.0, 99.0]))
    span = hi - lo
    if span <= 1e-6 * max(1.0, abs(hi)):
        half = max(1.0, abs(hi))
        return lo - half, hi + half
    return lo - 0.10 * span, hi + 0.25 * span


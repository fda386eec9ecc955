"""The video's colour scale: one fixed range for the whole video, never per frame (which flickers).

``explain_video`` takes the ``value_range`` argument, else the model card's ``evidence_range``, else
:func:`~cam_core.explain.scale.auto_evidence_range` of the first ``CALIBRATION_FRAMES`` explained frames
(the rule a model's own scale follows). Raw maps get :func:`auto_value_range`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["auto_value_range"]


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


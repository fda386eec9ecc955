"""One Parquet row (:mod:`cam_core.batch.schema`) from one decoded file and its :class:`Explanation`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from cam_core.batch.decode import Decoded
from cam_core.batch.schema import MAPS_COLUMN, column_names
from cam_core.batch.settings import ModelInfo
from cam_core.explain.pipeline import Explanation
from cam_core.explain.verdict import overlay_class, verdict_of

__all__ = ["HOT_FRACTION", "error_row", "evidence_stats", "explanation_row"]

HOT_FRACTION = 0.5      # E ≥ A/2: the top quarter of the symmetric scale [−A, A]


def evidence_stats(explanation: Explanation, limit: float | None = None) -> tuple[float, float]:
    """``(max E, share of cells with E ≥ A/2)`` of the defect class's evidence map ``E`` (see
    :mod:`cam_core.batch.schema`); the map shown as the single overlay when the model has no defect class."""
    evidence = explanation.evidence_of(overlay_class(explanation))
    peak = float(evidence.max())
    scale = float(limit) if limit else float(np.abs(evidence).max())
    hot = float(np.mean(evidence >= HOT_FRACTION * scale)) if scale > 0 else 0.0
    return peak, hot


def _base(item: Decoded, info: ModelInfo) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(column_names(), None)
    row.update(path=item.path, folder=item.folder, size_bytes=item.size_bytes, file_hash=item.file_hash,
               modified=item.modified, model=info.name, model_hash=info.hash, method=info.method,
               explained_at=datetime.now(timezone.utc))
    return row


def error_row(item: Decoded, info: ModelInfo, with_maps: bool = False, error: str | None = None) -> dict[str, Any]:
    """The row of a file that could not be explained: what is known of the file, and ``error``."""
    row = _base(item, info)
    row["error"] = error or item.error or "unknown error"
    if with_maps:
        row[MAPS_COLUMN] = None
    return row


def explanation_row(item: Decoded, explanation: Explanation, info: ModelInfo, *, threshold: float | None = None,
                    evidence_limit: float | None = None, with_maps: bool = False) -> dict[str, Any]:
    """The row of an explained file. ``threshold`` is recorded as the one the verdict used; without one, a
    model with a defect class and two classes is recorded at 0.5 (argmax, the same verdict)."""
    verdict = verdict_of(explanation, threshold)
    peaks = explanation.peaks()
    map_classes = [explanation.classes[c] for c in explanation.class_indices]
    evidence_max, hot_share = evidence_stats(explanation, evidence_limit)
    used = threshold
    if used is None and verdict.positive_probability is not None and len(explanation.classes) == 2:
        used = 0.5
    width, height = explanation.image_size
    row = _base(item, info)
    row.update(
        width=width, height=height, verdict=verdict.label, is_defect=verdict.is_positive,
        probability=verdict.probability, defect_probability=verdict.positive_probability, threshold=used,
        domain=explanation.domain.verdict.value, domain_distance=explanation.domain.distance,
        domain_threshold=explanation.domain.threshold,
        classes=list(explanation.classes), probabilities=[float(p) for p in explanation.probabilities],
        map_classes=map_classes, peak_x=[peaks[c][0] for c in map_classes], peak_y=[peaks[c][1] for c in map_classes],
        evidence_max=evidence_max, hot_share=hot_share, map_height=explanation.map_size[0],
        map_width=explanation.map_size[1])
    if with_maps:
        row[MAPS_COLUMN] = np.asarray(explanation.maps, dtype=np.float16).ravel()
    return row

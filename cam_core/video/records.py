"""Per-frame records of a video run and their CSV (``frame,time_s,predicted,p_<class>…,domain``)."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cam_core.domain import DomainVerdict
from cam_core.video.outputs import atomic_output

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

# FrameRecord keeps every class's probability for models with up to this many classes; above (e.g. an
# ImageNet model), only each frame's TOP_CLASSES_RECORDED, so records stay small on long videos.
MAX_RECORDED_CLASSES = 32
TOP_CLASSES_RECORDED = 5


@dataclass(frozen=True)
class FrameRecord:
    """Verdict of one input frame. With ``every > 1``, ``explained`` is False for frames that reuse
    the previous explained frame's verdict."""

    index: int
    time_s: float
    predicted: str
    probabilities: dict[str, float]
    explained: bool = True
    domain: str = "unknown"     # the frame's domain verdict (cam_core.domain.DomainVerdict value)

    @property
    def outside(self) -> bool:
        """The domain check found the frame unlike the model's training data (its verdict is not to be trusted)."""
        return self.domain == DomainVerdict.UNLIKE.value


def recorded_probabilities(explanation: Explanation) -> dict[str, float]:
    """Every class's probability in model order (top ``TOP_CLASSES_RECORDED`` for very large models)."""
    probabilities, classes = explanation.probabilities, explanation.classes
    if len(classes) <= MAX_RECORDED_CLASSES:
        return {c: float(p) for c, p in zip(classes, probabilities)}
    top = sorted(np.argsort(-probabilities)[:TOP_CLASSES_RECORDED].tolist())
    return {classes[i]: float(probabilities[i]) for i in top}


def _write_csv(frames: Sequence[FrameRecord], path: Path) -> None:
    classes = list(dict.fromkeys(c for record in frames for c in record.probabilities))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame", "time_s", "predicted", *(f"p_{c}" for c in classes), "domain"])
        for record in frames:
            probabilities = record.probabilities
            writer.writerow([record.index, f"{record.time_s:.6f}", record.predicted,
                             *(f"{probabilities[c]:.6f}" if c in probabilities else "" for c in classes),
                             record.domain])


def write_frames_csv(frames: Sequence[FrameRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``frame,time_s,predicted,p_<class>…,domain`` (one row per frame, classes in model order; ``domain``:
    ``known``, ``unlike training data`` or ``unknown``), atomically.

    With ``every > 1`` the rows of frames that were not explained repeat the last explained frame's values.
    For models above ``MAX_RECORDED_CLASSES`` classes the columns are the classes that made some frame's
    top ``TOP_CLASSES_RECORDED`` (blank where a frame did not record that class).
    """
    path = Path(path)
    with atomic_output(path) as tmp:
        _write_csv(frames, tmp)
    return path

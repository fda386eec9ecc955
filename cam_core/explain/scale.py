"""One colour scale per model: the evidence range ``±A`` in force for every image the model explains.

``A`` comes from the model card's ``evidence_range`` (the 99th percentile of ``|M̃|`` over the validation
images, recorded at training), so the same colour means the same evidence on every image and in every
video frame: a part called NG at 51 % draws faint colours, one called NG at 100 % strong ones. A card
without a range gets one when the model is opened (:func:`model_scale`): the same statistic over the
built-in samples (:mod:`cam_core.synth.samples`), ``1.25 ×`` the 99th percentile of ``|M̃|``
(:func:`auto_evidence_range`, also a video's scale when its model's card records none).

Per-image scales stay available (``halves-image``: shape only). Gradient methods (maps ≥ 0, not centred)
are never on the model's scale: their magnitude depends on the gradients, so each image is scaled to its own
maximum and their words say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cam_core.explain.render import FIXED_SCALE_MODES

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle

__all__ = ["ModelScale", "auto_evidence_range", "model_scale", "recorded_scale", "samples_scale", "scale_in_force"]


@dataclass(frozen=True)
class ModelScale:
    """The model's fixed evidence scale ``(−top, top)`` and where it came from, in words."""

    top: float
    source: str

    @property
    def range(self) -> tuple[float, float]:
        return -self.top, self.top


CARD_SOURCE = "calibrated at training"
SAMPLES_SOURCE = "measured on the built-in samples when the model was opened"


def scale_in_force(mode: str, centred: bool, model_range: tuple[float, float] | None,
                   raw_range: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """The fixed ``value_range`` a view uses: the model's evidence range for the fixed evidence modes (CAM only),
    the card's raw map range for ``raw``, else ``None`` (each image on its own scale)."""
    if mode == "raw":
        return raw_range
    if mode in FIXED_SCALE_MODES and centred:
        return model_range
    return None


def auto_evidence_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """A fixed symmetric colour scale ``(−A, A)`` from a few images' (or frames') evidence maps.

    ``A`` = 1.25 × the 99th percentile of ``|value|`` (robust to a stray hot pixel, with room for a
    hotter defect than the first frames hold); at least 1e-3.
    """
    values = np.concatenate([np.abs(np.asarray(m, dtype=np.float32)).ravel() for m in maps]) if maps else np.zeros(1)
    values = values[np.isfinite(values)]
    top = 1.25 * float(np.percentile(values, 99.0)) if values.size else 1.0
    top = max(top, 1e-3)
    return -top, top


def samples_scale(bundle: ModelBundle) -> ModelScale:
    """``A`` from the built-in samples' evidence maps (CAM), for a card that records no evidence range."""
    from cam_core.explain.pipeline import Explainer
    from cam_core.synth.samples import SAMPLES, render_sample

    images = [render_sample(label).image for label in SAMPLES]
    with Explainer(bundle, method="cam") as explainer:
        maps = [e.evidence() for e in explainer.explain(images)]
    return ModelScale(top=auto_evidence_range(maps)[1], source=SAMPLES_SOURCE)


def recorded_scale(evidence_range: tuple[float, float] | None) -> ModelScale | None:
    """The scale recorded at training (a card's ``evidence_range``), ``A = max |range|``; None when there is none
    (the card alone decides, so the app reads it before the network is loaded)."""
    if evidence_range is not None and max(abs(evidence_range[0]), abs(evidence_range[1])) > 0:
        return ModelScale(top=float(max(abs(evidence_range[0]), abs(evidence_range[1]))), source=CARD_SOURCE)
    return None


def model_scale(bundle: ModelBundle) -> ModelScale:
    """The card's evidence range (:func:`recorded_scale`), else :func:`samples_scale` (one CAM pass over six
    small images)."""
    recorded = recorded_scale(bundle.card.evidence_limits)
    return recorded if recorded is not None else samples_scale(bundle)

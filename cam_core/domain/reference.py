"""The domain check's card field and its per-image result: :class:`DomainReference`, :class:`DomainResult`.

A model knows the images it was trained on. :class:`DomainReference` (the card's ``domain`` field) says how
an image's features are compared with those of its reference images and where the line is; the reference
vectors themselves are tensors in the model file (:data:`REFERENCE_TENSOR`, :mod:`cam_core.domain.store`).
Every explained image gets a :class:`DomainResult`: its distance, the threshold and a :class:`DomainVerdict`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["DOMAIN_TENSORS", "HELD_OUT_IMAGES", "REFERENCE_TENSOR", "DomainReference", "DomainResult", "DomainVerdict", "unknown_domain"]

REFERENCE_TENSOR = "domain.reference"     # R×D reference features, L2-normalised (float16)
HELD_OUT_IMAGES = "held-out images"       # the threshold's distances: held-out images against the reference
DOMAIN_TENSORS = (REFERENCE_TENSOR,)


class DomainVerdict(str, Enum):
    """Whether an image looks like the images a model was trained on."""

    KNOWN = "known"
    UNLIKE = "unlike training data"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DomainReference:
    """The card's ``domain`` field: how the domain distance is computed and the calibrated threshold.

    distance(x) = mean over the ``k`` nearest reference vectors r of (1 − cos(f(x), r)), where ``f`` is
    :attr:`features` of the layers :attr:`layer` (:mod:`cam_core.domain.features`, :mod:`cam_core.domain.stages`),
    taken in the pass that makes the maps. An image is *unlike training data* when
    ``distance > threshold``; the threshold is the :attr:`quantile` of the distances of held-out in-domain
    images (:attr:`n_calibration` of them), times :attr:`margin`. :attr:`calibration` says which distances:
    of held-out images to the reference (:data:`HELD_OUT_IMAGES`, the default of older cards), or of whole
    held-out groups to a reference without them, the quantile then taken for the farthest group
    (:mod:`cam_core.domain.calibration`).
    """

    layer: str
    features: str
    k: int
    threshold: float
    n_reference: int
    n_calibration: int
    quantile: float
    margin: float
    source: str
    metric: str = "mean cosine distance to the k nearest reference vectors"
    calibration: str = HELD_OUT_IMAGES
    tensors: tuple[str, ...] = DOMAIN_TENSORS
    measured: Mapping[str, Any] | None = None   # figures measured when it was made (AUROC against other sets…)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainReference:
        """Read the card's ``domain`` dict; raises ``ValueError`` when a field is missing or of the wrong type."""
        try:
            return cls(layer=str(data["layer"]), features=str(data["features"]), k=int(data["k"]),
                       threshold=float(data["threshold"]), n_reference=int(data["n_reference"]),
                       n_calibration=int(data["n_calibration"]), quantile=float(data["quantile"]),
                       margin=float(data["margin"]), source=str(data["source"]),
                       metric=str(data.get("metric", cls.metric)),
                       calibration=str(data.get("calibration", HELD_OUT_IMAGES)),
                       tensors=tuple(data.get("tensors", DOMAIN_TENSORS)),
                       measured=dict(data["measured"]) if isinstance(data.get("measured"), Mapping) else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the card's 'domain' field is incomplete ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layer": self.layer, "features": self.features, "metric": self.metric, "k": self.k,
                               "threshold": self.threshold, "quantile": self.quantile, "margin": self.margin,
                               "n_reference": self.n_reference, "n_calibration": self.n_calibration,
                               "source": self.source, "tensors": list(self.tensors)}
        if self.calibration != HELD_OUT_IMAGES:     # the default stays out, so older cards round-trip exactly
            out["calibration"] = self.calibration
        if self.measured is not None:
            out["measured"] = dict(self.measured)
        return out


@dataclass(frozen=True)
class DomainResult:
    """One image's domain check: its distance, the threshold and the verdict, with the reason in words."""

    verdict: DomainVerdict
    distance: float | None = None
    threshold: float | None = None
    reason: str = ""

    @property
    def outside(self) -> bool:
        """True when the image is unlike the model's training data (its verdict should not be trusted)."""
        return self.verdict is DomainVerdict.UNLIKE

    @property
    def text(self) -> str:
        """Short words for tables: ``known parts``, ``unlike training data (0.41 > 0.22)``, ``domain unknown``."""
        if self.verdict is DomainVerdict.UNKNOWN:
            return "domain unknown"
        if self.distance is None or self.threshold is None:
            return self.verdict.value
        sign = ">" if self.outside else "≤"
        word = "unlike training data" if self.outside else "known parts"
        return f"{word} (distance {self.distance:.3g} {sign} {self.threshold:.3g})"

    def as_record(self) -> dict[str, Any]:
        """``{"distance", "threshold", "verdict"}`` (and ``reason`` when unknown), JSON-ready."""
        record: dict[str, Any] = {
            "distance": None if self.distance is None or not math.isfinite(self.distance) else round(self.distance, 6),
            "threshold": None if self.threshold is None else round(self.threshold, 6),
            "verdict": self.verdict.value}
        if self.reason:
            record["reason"] = self.reason
        return record


def unknown_domain(reason: str = "the model has no domain reference") -> DomainResult:
    """The result for a model (or method) that cannot say whether an image is in its domain."""
    return DomainResult(verdict=DomainVerdict.UNKNOWN, reason=reason)

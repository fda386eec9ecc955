"""Is this image like the ones the model was trained on? The domain check of every explanation.

- :mod:`~cam_core.domain.reference`: :class:`DomainReference` (the card's ``domain`` field),
  :class:`DomainResult` and :class:`DomainVerdict` (one image's check);
- :mod:`~cam_core.domain.features`, :mod:`~cam_core.domain.stages`: the features, pooled from the stride-8 and
  stride-16 stages (else the CAM layer) in the forward pass that makes the maps;
- :mod:`~cam_core.domain.scorer`: :class:`DomainModel` (k nearest reference vectors, cosine distance);
- :mod:`~cam_core.domain.store`: the reference in a model file (card field + ``domain.*`` tensors);
- :mod:`~cam_core.domain.build`: fitting a reference to in-domain features (training, and the ``reference``
  command of :mod:`cam_core.reference`, which also writes it into a model file);
- :mod:`~cam_core.domain.calibration`: distances of whole held-out groups (acquisition runs) for the threshold.

Names are imported on first use (:mod:`cam_core.lazy`): the reference and the verdicts need no
network library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from cam_core.domain.features import FEATURES_KIND, pooled_features
    from cam_core.domain.reference import (
        HELD_OUT_IMAGES,
        DomainReference,
        DomainResult,
        DomainVerdict,
        unknown_domain,
    )
    from cam_core.domain.scorer import DomainModel, calibrated_threshold, knn_distances, normalised
    from cam_core.domain.stages import DOMAIN_STAGES, domain_stages
    from cam_core.domain.store import DOMAIN_PREFIX, split_domain

_HOMES: dict[str, str] = {
    **dict.fromkeys(("FEATURES_KIND", "pooled_features"), "cam_core.domain.features"),
    **dict.fromkeys(("HELD_OUT_IMAGES", "DomainReference", "DomainResult", "DomainVerdict", "unknown_domain"),
                    "cam_core.domain.reference"),
    **dict.fromkeys(("DomainModel", "calibrated_threshold", "knn_distances", "normalised"),
                    "cam_core.domain.scorer"),
    **dict.fromkeys(("DOMAIN_STAGES", "domain_stages"), "cam_core.domain.stages"),
    **dict.fromkeys(("DOMAIN_PREFIX", "split_domain"), "cam_core.domain.store"),
}

__all__ = ["DOMAIN_PREFIX", "HELD_OUT_IMAGES", "DOMAIN_STAGES", "domain_stages", "FEATURES_KIND", "DomainModel",
           "DomainReference", "DomainResult", "DomainVerdict", "calibrated_threshold", "knn_distances", "normalised",
           "pooled_features", "split_domain", "unknown_domain"]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)

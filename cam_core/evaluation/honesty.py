"""Can these figures be believed? Flags beside an evaluation's figures, and leakage from the training data.

Flags (:func:`evaluation_flags`, each a :class:`Flag` with a code and words):

- ``ranking_inverted``: AUROC < 0.5, the model ranks the defect class *below* the others;
- ``few_images``: fewer than :data:`MIN_PER_CLASS` images of a class: every figure is rough;
- ``pointing_near_chance``: the pointing game is less than :data:`CHANCE_MARGIN` above its chance level (a peak
  placed at random, :func:`~cam_core.evaluation.metrics.pointing_chance`), so large masks make it nearly free;
- ``energy_near_chance``: the energy ratio is at most :data:`ENERGY_CHANCE_FACTOR` × its chance level (1: a map
  that ignores the defect).

Leakage (:func:`leakage`): the sha256 of each scored file against the ``data_hashes`` the model's card recorded at
training (train and validation). Shared files are counted, and the figures are given again without them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from cam_core.checkpoints.card import ModelCard
from cam_core.evaluation.metrics import auroc

__all__ = ["CHANCE_MARGIN", "ENERGY_CHANCE_FACTOR", "MIN_PER_CLASS", "Flag", "class_count_flags", "evaluation_flags",
           "leakage", "training_hashes"]

MIN_PER_CLASS = 20
CHANCE_MARGIN = 0.10          # pointing must beat its chance level by 10 points
ENERGY_CHANCE_FACTOR = 1.5    # an energy ratio at most 1.5× chance (1.0) says little


@dataclass(frozen=True)
class Flag:
    """One warning beside the figures: a stable ``code`` and the sentence a person reads."""

    code: str
    text: str

    def as_record(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def class_count_flags(counts: Mapping[str, int], what: str = "images") -> list[Flag]:
    """``few_images`` for each class with fewer than :data:`MIN_PER_CLASS` ``what``."""
    return [Flag("few_images", f"only {n} {what} of class {name} (fewer than {MIN_PER_CLASS}): the figures are rough")
            for name, n in counts.items() if n < MIN_PER_CLASS]


def auroc_flags(value: float | None) -> list[Flag]:
    """``ranking_inverted`` when ``value`` < 0.5."""
    if value is None or not math.isfinite(value) or value >= 0.5:
        return []
    return [Flag("ranking_inverted", f"AUROC {value:.3f} is below 0.5: the ranking is inverted (the model scores "
                                     "good parts as more defective than defective ones)")]


def localization_flags(overall: Mapping[str, Any]) -> list[Flag]:
    """``pointing_near_chance`` and ``energy_near_chance`` from a localization summary (with ``pointing_chance``)."""
    if not overall.get("n"):
        return []
    flags = []
    pointing, chance = overall.get("pointing"), overall.get("pointing_chance")
    if _finite(pointing) and _finite(chance) and pointing - chance < CHANCE_MARGIN:
        flags.append(Flag("pointing_near_chance", f"pointing {pointing:.1%} is within {CHANCE_MARGIN:.0%} of its "
                                                  f"chance level {chance:.1%} (a peak placed at random)"))
    ratio = overall.get("energy_ratio")
    if _finite(ratio) and ratio <= ENERGY_CHANCE_FACTOR:
        flags.append(Flag("energy_near_chance", f"energy ratio {ratio:.2f}× is near its chance level 1.0× (a map "
                                                "that ignores the defect)"))
    return flags


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and math.isfinite(value)


def evaluation_flags(auroc_value: float | None, counts: Mapping[str, int], overall: Mapping[str, Any]) -> list[Flag]:
    """Every flag of one evaluation: ranking, class sizes, localization near chance."""
    return [*auroc_flags(auroc_value), *class_count_flags(counts), *localization_flags(overall)]


def training_hashes(card: ModelCard) -> set[str]:
    """The sha256 of every training and validation file a model card recorded (empty when it recorded none)."""
    hashes = card.data_hashes
    if not isinstance(hashes, Mapping):
        return set()
    return {str(h) for side in hashes.values() if isinstance(side, list) for h in side}


def leakage(rows: Sequence[Mapping[str, Any]], known: set[str], classes: Sequence[str], positive: int
            ) -> dict[str, Any] | None:
    """How many scored ``rows`` (with ``sha256``, ``label``, ``predicted``, ``p_ng``) the model was trained or
    validated on, and accuracy / AUROC without them; ``None`` when the card recorded no hashes."""
    if not known:
        return None
    shared = [r for r in rows if r.get("sha256") in known]
    rest = [r for r in rows if r.get("sha256") not in known]
    out: dict[str, Any] = {"shared": len(shared), "of": len(rows), "n_without": len(rest)}
    if rest:
        labels = np.array([r["label"] == classes[positive] for r in rest])
        out["accuracy_without"] = float(np.mean([r["label"] == r["predicted"] for r in rest]))
        out["auroc_without"] = auroc([r["p_ng"] for r in rest], labels)
    return out

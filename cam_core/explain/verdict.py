"""The verdict: which class an explanation calls, whether that is the defect class, which maps to show.

The one rule for the report, the video, the CLI and the app:

- The defect class is the one the model's card names (:attr:`cam_core.checkpoints.ModelCard.defect_index`:
  its ``defect_class`` when given, else "ng", "defect", "bad", …); a model may have none. The explanation
  carries it (:attr:`Explanation.defect_index`, set from the card by whoever made it).
- Without a threshold the verdict is the most probable class, ``argmax_c p_c``. With a threshold ``t``
  (the video's decision line) it is the defect class ``d`` when ``p_d ≥ t``, else ``argmax_{c≠d} p_c``.
  For an OK/NG model and ``t = 0.5`` both give the same class.
- Maps shown side by side (:func:`shown_classes`): OK | NG for two-class models (the defect class last);
  for more classes the target (default: the predicted class) and the most probable other class with a map.
  A single overlay (:func:`overlay_class`) shows the defect class, else the predicted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

__all__ = ["Verdict", "VerdictKind", "mask_class", "overlay_class", "predicted_index", "shown_classes", "verdict_of"]

VerdictKind = Literal["ng", "ok", "other"]


@dataclass(frozen=True)
class Verdict:
    """What the network says about one image, ready to print."""

    index: int                          # index of the called class
    class_name: str                     # its name as the model spells it, e.g. "ng"
    probability: float                  # probability of the called class
    positive_probability: float | None  # probability of the defect class, None when the model has none
    is_positive: bool | None            # called the defect class? None when the model has no such class

    @property
    def label(self) -> str:
        """The class name upper-cased, e.g. ``"NG"``."""
        return self.class_name.upper()

    @property
    def text(self) -> str:
        """``"NG 97.3%"``."""
        return f"{self.label} {self.probability:.1%}"

    @property
    def kind(self) -> VerdictKind:
        """``"ng"`` (defect class called), ``"ok"`` (another class of a model with a defect class) or ``"other"``."""
        if self.is_positive is None:
            return "other"
        return "ng" if self.is_positive else "ok"


def predicted_index(probabilities: np.ndarray, positive: int | None, threshold: float | None = None) -> int:
    """The called class: ``argmax p`` without a threshold or defect class; with both, the defect class when
    ``p[positive] ≥ threshold``, else the most probable other class."""
    if positive is None or threshold is None:
        return int(np.argmax(probabilities))
    if probabilities[positive] >= threshold:
        return positive
    others = np.asarray(probabilities, dtype=np.float64).copy()
    others[positive] = -np.inf
    return int(np.argmax(others))


def verdict_of(explanation: Explanation, threshold: float | None = None) -> Verdict:
    """The verdict of one explanation (see the module docstring for the rule and ``threshold``)."""
    positive = explanation.defect_index
    probabilities = explanation.probabilities
    called = predicted_index(probabilities, positive, threshold)
    return Verdict(
        index=called,
        class_name=explanation.classes[called],
        probability=float(probabilities[called]),
        positive_probability=None if positive is None else float(probabilities[positive]),
        is_positive=None if positive is None else called == positive,
    )


def _by_probability(explanation: Explanation) -> list[int]:
    """Classes that have a map, most probable first."""
    available = set(explanation.class_indices)
    return [int(c) for c in np.argsort(-np.asarray(explanation.probabilities)) if int(c) in available]


def shown_classes(explanation: Explanation, target: int | None = None) -> list[int]:
    """Which class maps to show side by side.

    Two-class models: both maps, the defect class last (OK | NG). More classes: the target (default: the
    predicted class; the most probable class with a map when that has none) and the most probable other
    class that has a map.
    """
    available = list(explanation.class_indices)
    if len(explanation.classes) <= 2:
        positive = explanation.defect_index
        return sorted(available, key=lambda c: (c == positive, c))
    ranked = _by_probability(explanation)
    first = target if target is not None and target in available else explanation.predicted
    if first not in available:
        first = ranked[0]
    return [first, *[c for c in ranked if c != first][:1]]


def overlay_class(explanation: Explanation) -> int:
    """The one map a single overlay shows: the defect class, else the predicted class, else the most
    probable class that has a map."""
    positive = explanation.defect_index
    wanted = positive if positive is not None and explanation.has_map(positive) else explanation.predicted
    return wanted if explanation.has_map(wanted) else _by_probability(explanation)[0]


def mask_class(explanation: Explanation, target: int | None = None) -> int:
    """The class whose map is scored against a defect mask (the app's mask panel and the report): the chosen
    ``target`` when it has a map, else the defect class when it has one, else the class shown first."""
    if target is not None and explanation.has_map(target):
        return target
    positive = explanation.defect_index
    if positive is not None and explanation.has_map(positive):
        return positive
    return shown_classes(explanation, target)[0]

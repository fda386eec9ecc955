"""The certainty scale: the strongest colour of the verdict's map says how sure the model is.

By the CAM identity the logit margin is the map's *mean* plus a bias, not its peak, so no colour curve over
map values alone can make the peak colour follow the certainty (a whole uneven tile and a pin-hole reach the
same margin with very different peaks). This scale draws the shape of the evidence and sets its strength
from the verdict:

- ``m`` = the winning class's logit minus the runner-up's (``|NG − OK|`` for two classes), so
  ``P = σ(m)`` for two classes;
- the strength of the strongest point, ``k = g(m)``: ``g(m) = HOT · m / m₀`` up to ``m₀ = logit(P_HOT)``
  (``P_HOT`` = 80 %: the colour reaches the hot quarter of the bar exactly when the model is that sure), then
  ``g(m) = HOT + (1 − HOT)·(1 − exp(−(m − m₀)/τ))``, still rising with every logit of margin;
- each class map is drawn as ``max(M̃_c, 0) · k / U``, with ``U`` the winning class's largest ``M̃``: the
  winner's peak is drawn at ``k``, the other maps in the same units but clipped at ``LOSER_CAP``, just below
  the hot quarter: orange and red belong to the class the model chose (a weak spot on a sure OK part reads
  as a suspicion, not an alarm). Should the winner's map hold no positive value (its margin is all bias),
  ``U`` is the largest ``M̃`` of any class.

A verdict the domain check does not trust (the part is unlike the model's training data, :mod:`cam_core.domain`)
has no certainty worth drawing: its strength is capped at ``UNTRUSTED_CAP``, half-way up the bar (green in jet),
so no map of such a part looks like an alarm, however sure the model says it is; the maps keep their shape and
show where the model looked. On the fixed evidence scales (the model's ``halves``, ``signed`` and ``evidence``,
and the video's frames) the same part's maps are pulled toward "neither" instead,
``v' = ½ + (v − ½)·UNTRUSTED_SPREAD`` (:func:`untrusted_values`): a quarter of their strength, shape kept.

In :func:`cam_core.explain.render.normalize_maps` terms this is the ``halves`` drawing with the per-image
range ``±U/k`` (:func:`certainty_range`). A coin flip (``m ≈ 0``) draws next to nothing; a 73 %-sure call a
third of the bar; every call ≥ 80 % sure reaches orange and red.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HOT", "LOSER_CAP", "P_HOT", "TAU", "UNTRUSTED_CAP", "UNTRUSTED_SPREAD", "CertaintyScale", "certainty_range",
           "certainty_scale", "is_trusted", "margin_of", "strength_of_margin", "untrusted_values"]

HOT = 0.75      # the hot quarter of the bar starts here (orange and red in jet)
P_HOT = 0.8     # the certainty at which the verdict's map reaches it
TAU = 2.0       # logits over which the last quarter of the bar fills
LOSER_CAP = HOT - 0.01   # the other classes' maps: at most just below the hot quarter
UNTRUSTED_CAP = 0.5      # every map of a part unlike the training data: at most half-way (a verdict not to trust)
UNTRUSTED_SPREAD = 0.25  # on a fixed scale: the same part's maps at a quarter of their distance from "neither"
_M0 = math.log(P_HOT / (1.0 - P_HOT))
_TINY = 1e-6


def strength_of_margin(margin: float) -> float:
    """``g(|m|)`` in [0, 1] (see the module docstring); rises strictly with ``|m|``."""
    m = abs(float(margin)) if math.isfinite(margin) else 0.0
    if m < _M0:
        return HOT * m / _M0
    return HOT + (1.0 - HOT) * (1.0 - math.exp(-(m - _M0) / TAU))


def margin_of(logits: np.ndarray) -> tuple[int, float]:
    """The winning class and its margin over the runner-up (0 for a single class)."""
    values = np.asarray(logits, dtype=np.float64).ravel()
    order = np.argsort(values)[::-1]
    winner = int(order[0])
    return winner, float(values[order[0]] - values[order[1]]) if values.size > 1 else 0.0


def is_trusted(explanation: Any) -> bool:
    """False when the explanation's domain check finds the part unlike the model's training data."""
    domain = getattr(explanation, "domain", None)
    return not (domain is not None and domain.outside)


def untrusted_values(values01: np.ndarray) -> np.ndarray:
    """Scaled maps (``v`` in [0, 1], "neither" at ½) of a part not to trust, on a fixed scale:
    ``½ + (v − ½)·UNTRUSTED_SPREAD`` (shape kept, no alarm colours)."""
    return (0.5 + (np.asarray(values01, dtype=np.float32) - 0.5) * UNTRUSTED_SPREAD).astype(np.float32)


def certainty_range(evidence: np.ndarray, logits: np.ndarray, cap: float = 1.0) -> tuple[float, float]:
    """The per-image range ``(−U/k, U/k)`` on which the ``halves`` drawing puts the winner's peak at
    ``k = min(g(m), cap)``.

    ``evidence``: the centred maps ``M̃`` (``C×h×w``, all classes); ``logits``: the same image's logits.
    """
    winner, margin = margin_of(logits)
    maps = np.nan_to_num(np.asarray(evidence, dtype=np.float64))
    peak = float(maps[winner].max()) if maps.size else 0.0
    if peak <= _TINY and maps.size:
        peak = float(maps.max())
    top = max(peak, _TINY) / max(min(strength_of_margin(margin), cap), _TINY)
    return -top, top


@dataclass(frozen=True)
class CertaintyScale:
    """One image's certainty scale: the range the ``halves`` drawing uses, the verdict's strength ``k`` and its
    class (the one map allowed above ``LOSER_CAP``), and whether the verdict is trusted (else ``k ≤ UNTRUSTED_CAP``
    and every map is capped there)."""

    range: tuple[float, float]
    strength: float
    winner: int
    trusted: bool = True

    @property
    def others_cap(self) -> float:
        """The most the maps of the classes not chosen are drawn at: ``LOSER_CAP``, ``UNTRUSTED_CAP`` when the
        verdict is not trusted."""
        return LOSER_CAP if self.trusted else UNTRUSTED_CAP


def certainty_scale(explanation: Any) -> CertaintyScale:
    """The scale of a centred CAM explanation (its ``classes``, ``logits`` and ``display_maps``, and its
    ``domain`` check when it has one: a part unlike the training data is drawn at most at ``UNTRUSTED_CAP``)."""
    every = explanation.display_maps(range(len(explanation.classes)), "certainty")
    logits = np.asarray(explanation.logits)
    winner, margin = margin_of(logits)
    trusted = is_trusted(explanation)
    cap = 1.0 if trusted else UNTRUSTED_CAP
    return CertaintyScale(range=certainty_range(every, logits, cap), strength=min(strength_of_margin(margin), cap),
                          winner=winner, trusted=trusted)

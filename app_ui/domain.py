"""How the pages show the domain check (:mod:`cam_core.domain`): a verdict on an image unlike the model's
training data is greyed, with the reason; tables carry a domain column; the Compare table's flags are spelled out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cam_core.domain import DomainResult, DomainVerdict
from cam_core.explain import Verdict

__all__ = ["OUTSIDE_WORDS", "domain_cell", "domain_caption", "frames_domain_note", "gallery_score", "gallery_verdict",
           "score_flags"]

OUTSIDE_WORDS = "unlike anything this model was trained on"


def domain_cell(domain: DomainResult) -> str:
    """Short text for a table cell: ``known``, ``⚠ unlike training data``, ``unknown``."""
    return f"⚠ {domain.verdict.value}" if domain.outside else domain.verdict.value


def gallery_verdict(verdict: Verdict, domain: DomainResult) -> str:
    """The verdict as a table shows it: ``NG`` or, outside the domain, ``(NG) not trusted``."""
    return f"({verdict.label}) not trusted" if domain.outside else verdict.label


def gallery_score(probability: float | None, domain: DomainResult) -> float | None:
    """The probability bar a table draws: none for an image outside the domain, whose verdict is not trusted (a
    full "NG 100 %" bar beside "(NG) not trusted" reads as certainty); the number stays in the verdict line."""
    return None if domain.outside else probability


def _distance_words(domain: DomainResult, sign: str) -> str:
    """`` (domain distance 0.108 > threshold 0.036)``, or nothing when a record lacks the numbers."""
    if domain.distance is None or domain.threshold is None:
        return ""
    return f" (domain distance {domain.distance:.3f} {sign} threshold {domain.threshold:.3f})"


def domain_caption(domain: DomainResult) -> str:
    """One line under a verdict: why it is greyed, or that the domain is known / unknown."""
    if domain.outside:
        return (f":material/block: **Not trusted: this image is {OUTSIDE_WORDS}**{_distance_words(domain, '>')}. "
                "Its verdict is struck through and the maps below are for reference only; train or import a model on "
                "parts like this one.")
    if domain.verdict is DomainVerdict.UNKNOWN:
        return f"Domain unknown: {domain.reason or 'the model has no domain reference'}."
    return f"Known parts: like the model's training images{_distance_words(domain, '≤')}."


def frames_domain_note(container: Any, frames: Sequence[Any]) -> None:
    """A warning when video frames were unlike the model's training data (their verdicts are not to be trusted)."""
    outside = sum(f.outside for f in frames)
    if outside:
        container.warning(f"**{outside} of {len(frames)} frames are {OUTSIDE_WORDS}**: their verdicts are not to be "
                          "trusted (column `domain` of the frames CSV).", icon=":material/block:")


def score_flags(container: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Each network's flags (inverted ranking, few images, near-chance localization, leakage) as warnings."""
    for row in rows:
        flags = str(row.get("flags") or "none")
        if flags != "none":
            container.warning(f"**{row['network']}**: {flags}", icon=":material/flag:")

"""How tables show the domain check (``app_ui.domain``): an untrusted verdict draws no probability bar."""

from __future__ import annotations

from app_ui.domain import domain_caption, gallery_score, gallery_verdict
from cam_core.domain import DomainResult, DomainVerdict
from cam_core.explain import Verdict

INSIDE = DomainResult(DomainVerdict.KNOWN, distance=0.01, threshold=0.05)
OUTSIDE = DomainResult(DomainVerdict.UNLIKE, distance=0.20, threshold=0.05)
UNKNOWN = DomainResult(DomainVerdict.UNKNOWN, reason="no reference")


def test_an_untrusted_part_draws_no_probability_bar() -> None:
    assert gallery_score(0.999, OUTSIDE) is None
    assert gallery_score(0.999, INSIDE) == 0.999
    assert gallery_score(0.42, UNKNOWN) == 0.42          # no reference: nothing to distrust, the bar stays


def test_an_untrusted_verdict_keeps_its_label_in_brackets() -> None:
    verdict = Verdict(index=1, class_name="ng", probability=1.0, positive_probability=1.0, is_positive=True)
    assert gallery_verdict(verdict, OUTSIDE) == "(NG) not trusted"
    assert gallery_verdict(verdict, INSIDE) == "NG"


def test_the_domain_line_gives_the_numbers_it_has() -> None:
    measured = domain_caption(DomainResult(DomainVerdict.UNLIKE, distance=0.108, threshold=0.036))
    assert "Not trusted" in measured and "(domain distance 0.108 > threshold 0.036)" in measured
    recorded = domain_caption(DomainResult(DomainVerdict.UNLIKE))       # a results row without the numbers
    assert "Not trusted" in recorded and "distance" not in recorded
    known = domain_caption(DomainResult(DomainVerdict.KNOWN, distance=0.01, threshold=0.036))
    assert known.startswith("Known parts") and "0.010 ≤ threshold 0.036" in known

"""The report counts parts outside the model's domain apart, greys their verdicts and keeps the warnings."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from cam_core.checkpoints import DataKind, ModelCard
from cam_core.domain import DomainResult, DomainVerdict, unknown_domain
from cam_core.explain import Explanation
from cam_core.explain.verdict import verdict_of
from cam_core.report import build_html_report
from cam_core.report.html import ReportItem, headline_rows
from cam_core.synth import DATA_DESCRIPTION

CARD = ModelCard.from_dict({"arch": "efficientnet_lite0", "classes": ["ok", "ng"], "input_size": [64, 64],
                            "trained_on": DATA_DESCRIPTION, "data_kind": "synthetic"})


def _item(name: str, p_ng: float, domain: DomainResult) -> ReportItem:
    logits = np.log(np.array([1 - p_ng, p_ng]))
    explanation = Explanation(classes=("ok", "ng"), defect_index=1, probabilities=np.array([1 - p_ng, p_ng]), logits=logits,
                              maps=np.zeros((2, 2, 2), np.float32), class_indices=(0, 1), image_size=(8, 8),
                              method="cam", layer="features", domain=domain)
    image = Image.new("RGB", (8, 8))
    return ReportItem(name=name, image=image, explanation=explanation, overlays={"ok": image, "ng": image})


def _domain(outside: bool) -> DomainResult:
    return DomainResult(DomainVerdict.UNLIKE if outside else DomainVerdict.KNOWN, 0.5 if outside else 0.01, 0.05)


def _batch() -> list[ReportItem]:
    outside = [_item(f"tile{i}.jpg", 0.95, _domain(True)) for i in range(5)]
    return outside + [_item("part1.png", 0.9, _domain(False)), _item("part2.png", 0.1, _domain(False))]


def test_headline_counts_outside_parts_apart() -> None:
    items = _batch()
    rows = dict(headline_rows(items, [verdict_of(i.explanation) for i in items]))
    assert rows["Parts inspected"].startswith("7 parts: 5 outside the model's domain")
    assert rows["Parts inspected"].endswith("of the 2 inside, 1 NG")
    assert rows["Flagged NG"].startswith("1 (50% of the parts inside the domain)")
    assert rows["Domain check"] == "2 known, 5 unlike the training data"


def test_all_inside_reads_as_before_and_unknown_says_so() -> None:
    items = [_item("a.png", 0.9, _domain(False)), _item("b.png", 0.1, _domain(False))]
    rows = dict(headline_rows(items, [verdict_of(i.explanation) for i in items]))
    assert rows["Parts inspected"] == "2" and rows["Flagged NG"] == "1 (50%)"
    items = [_item("a.png", 0.9, unknown_domain())]
    rows = dict(headline_rows(items, [verdict_of(i.explanation) for i in items]))
    assert rows["Domain check"].startswith("unknown")


def test_report_greys_outside_verdicts_and_warns() -> None:
    html = build_html_report(_batch(), CARD, model_name="m")
    assert html.count("verdict untrusted") == 5
    assert "only seen synthetic parts" in html and "train a model on your own OK/NG folders" in html
    assert "5 of 7 parts are unlike anything this model was trained on" in html
    assert html.count("(NG) not trusted") == 5
    # parts inside the domain come first
    assert html.index("part1.png") < html.index("tile0.jpg")


def test_no_warning_box_for_a_model_of_real_parts_with_every_part_inside() -> None:
    items = [_item("a.png", 0.9, _domain(False))]
    html = build_html_report(items, dataclasses.replace(CARD, trained_on="the images in tiles/ (ok 500, ng 200)",
                                                        data_kind=DataKind.OWN))
    assert "class='warn'" not in html


def test_the_report_page_counts_the_same_way() -> None:
    from cam_core.report import parts_text

    items = _batch()
    explanations = [i.explanation for i in items]
    verdicts = [verdict_of(e) for e in explanations]
    assert parts_text(explanations, verdicts) == dict(headline_rows(items, verdicts))["Parts inspected"]
    assert parts_text(explanations[5:], verdicts[5:]) == "2 parts, 1 NG"
    all_out = explanations[:4]
    assert parts_text(all_out, verdicts[:4]).endswith("of the 0 inside, 0 NG")     # never "4 flagged NG"

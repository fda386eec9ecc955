"""The one verdict rule (cam_core.explain.verdict): the called class, the defect class, the maps shown."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cam_core.checkpoints import ModelCard, defect_class_index
from cam_core.explain.pipeline import Explanation
from cam_core.explain.verdict import overlay_class, predicted_index, shown_classes, verdict_of
from cam_core.report import build_html_report, make_report_items
from cam_core.video.frames import frame_view


def explanation(classes: tuple[str, ...], probabilities: list[float],
                mapped: tuple[int, ...] | None = None, method: str = "cam") -> Explanation:
    p = np.asarray(probabilities, dtype=np.float64)
    indices = tuple(range(len(classes))) if mapped is None else mapped
    rng = np.random.default_rng(len(classes))
    maps = rng.normal(size=(len(indices), 4, 4)).astype(np.float32)
    return Explanation(classes=classes, defect_index=defect_class_index(classes), probabilities=p, logits=np.log(p), maps=maps, class_indices=indices,
                       image_size=(40, 40), method=method, layer="features")


def test_ok_ng_verdict_is_the_most_probable_class() -> None:
    ng = verdict_of(explanation(("ok", "ng"), [0.2, 0.8]))
    assert (ng.index, ng.class_name, ng.label, ng.kind) == (1, "ng", "NG", "ng")
    assert ng.probability == pytest.approx(0.8) and ng.positive_probability == pytest.approx(0.8)
    assert ng.is_positive is True and ng.text == "NG 80.0%"
    ok = verdict_of(explanation(("ok", "ng"), [0.7, 0.3]))
    assert (ok.label, ok.kind, ok.is_positive) == ("OK", "ok", False)
    assert ok.probability == pytest.approx(0.7) and ok.positive_probability == pytest.approx(0.3)


def test_threshold_calls_ng_at_or_above_it_else_the_best_other_class() -> None:
    e = explanation(("ok", "ng"), [0.6, 0.4])
    assert verdict_of(e).label == "OK"
    assert verdict_of(e, threshold=0.4).label == "NG"            # p(ng) ≥ threshold, equality included
    assert verdict_of(e, threshold=0.41).label == "OK"
    three = explanation(("ok", "scratch", "ng"), [0.25, 0.35, 0.40])
    assert verdict_of(three).class_name == "ng"                   # most probable
    assert verdict_of(three, threshold=0.5).class_name == "scratch"  # NG below the line: best of the others
    assert verdict_of(three, threshold=0.5).kind == "ok"


def test_two_class_threshold_half_agrees_with_argmax() -> None:
    rng = np.random.default_rng(0)
    for p_ng in rng.uniform(0, 1, size=200):
        if abs(p_ng - 0.5) < 1e-9:
            continue
        p = np.array([1 - p_ng, p_ng])
        assert predicted_index(p, 1, 0.5) == predicted_index(p, 1) == int(np.argmax(p))


def test_model_without_a_defect_class() -> None:
    v = verdict_of(explanation(("cat", "dog", "fox"), [0.2, 0.5, 0.3]), threshold=0.9)
    assert (v.label, v.kind, v.is_positive, v.positive_probability) == ("DOG", "other", None, None)


def test_the_model_cards_defect_class_wins() -> None:
    e = explanation(("good", "scratch"), [0.3, 0.7])
    assert verdict_of(e).kind == "other"                          # no defect name among the classes
    card = ModelCard(arch="a", classes=("good", "scratch"), input_size=(8, 8), defect_class="scratch")
    by_card = verdict_of(dataclasses.replace(e, defect_index=card.defect_index))
    assert by_card.kind == "ng" and by_card.positive_probability == pytest.approx(0.7)
    first = dataclasses.replace(card, defect_class=0)
    assert shown_classes(dataclasses.replace(e, defect_index=first.defect_index)) == [1, 0]   # the defect map last


def test_shown_classes() -> None:
    assert shown_classes(explanation(("ng", "ok"), [0.5, 0.5])) == [1, 0]       # OK | NG, NG last
    many = explanation(("a", "b", "c", "d"), [0.1, 0.5, 0.3, 0.1])
    assert shown_classes(many) == [1, 2]                                        # predicted, then runner-up
    assert shown_classes(many, target=3) == [3, 1]
    partial = explanation(("a", "b", "c", "d"), [0.1, 0.5, 0.3, 0.1], mapped=(0, 2), method="gradcam")
    assert shown_classes(partial) == [2, 0]                                     # only classes with a map


def test_overlay_class() -> None:
    assert overlay_class(explanation(("ok", "ng"), [0.9, 0.1])) == 1            # the defect map, whatever the call
    assert overlay_class(explanation(("a", "b", "c"), [0.1, 0.2, 0.7])) == 2    # no defect class: the predicted
    assert overlay_class(explanation(("ok", "ng"), [0.9, 0.1], mapped=(0,), method="gradcam")) == 0


def test_report_and_video_use_the_same_verdict() -> None:
    from PIL import Image

    e = explanation(("ok", "ng"), [0.35, 0.65])
    verdict = verdict_of(e, threshold=0.5)
    view = frame_view(e, "side-by-side", 0.5, (-1.0, 1.0))
    assert view.verdict == verdict and [p.caption for p in view.panels] == ["ok map", "ng map"]
    items = make_report_items(["x.png"], [Image.new("RGB", (40, 40))], [e])
    html = build_html_report(items, ModelCard(arch="a", classes=("ok", "ng"), input_size=(8, 8)))
    assert f"<div class='verdict {verdict.kind}'>{verdict.text}</div>" in html


def test_mask_class_is_the_target_else_the_defect_class_else_the_first_shown() -> None:
    from cam_core.explain import mask_class

    ok_ng = explanation(("ok", "ng"), [0.9, 0.1])
    assert mask_class(ok_ng) == 1 and mask_class(ok_ng, target=0) == 0          # the defect map, unless chosen
    many = explanation(("a", "b", "c"), [0.1, 0.2, 0.7])
    assert mask_class(many) == shown_classes(many)[0] == 2                      # no defect class: shown first
    only_ok = explanation(("ok", "ng"), [0.9, 0.1], mapped=(0,), method="gradcam")
    assert mask_class(only_ok) == 0                                              # the defect class has no map

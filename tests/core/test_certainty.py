"""The certainty scale: the verdict's strongest colour follows the logit margin, the maps keep their shape."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.checkpoints import ModelBundle, ModelCard, defect_class_index
from cam_core.domain import DomainResult, DomainVerdict
from cam_core.engine.architectures import build_model
from cam_core.explain.certainty import (
    HOT,
    LOSER_CAP,
    P_HOT,
    UNTRUSTED_CAP,
    UNTRUSTED_SPREAD,
    certainty_range,
    margin_of,
    strength_of_margin,
)
from cam_core.explain.layers import drawn_strength
from cam_core.explain.legend import bar_labels, colour_bar, legend_of
from cam_core.explain.picture import map_picture
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.explain.render import DEFAULT_MODE

SIZE = (64, 48)


def _explanation(maps: np.ndarray, classes: tuple[str, ...] = ("ok", "ng"), bias: float = 0.0) -> Explanation:
    logits = maps.mean(axis=(1, 2)).astype(np.float64)
    logits[-1] += bias
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return Explanation(classes=classes, defect_index=defect_class_index(classes), probabilities=probs, logits=logits,
                       maps=maps.astype(np.float32), class_indices=tuple(range(len(classes))), image_size=SIZE,
                       method="cam", layer="x")


def _drawn_max(e: Explanation, c: int) -> float:
    picture = map_picture(e, SIZE, [c], mode="certainty")
    return float(drawn_strength(picture.values01[c], picture.style).max())


def test_the_strength_is_zero_at_a_coin_flip_hot_at_p_hot_and_rises_with_every_logit() -> None:
    margins = np.linspace(0.0, 20.0, 401)
    strengths = np.array([strength_of_margin(m) for m in margins])
    assert strengths[0] == 0.0 and (np.diff(strengths) > 0).all() and strengths[-1] < 1.0
    assert strength_of_margin(math.log(P_HOT / (1 - P_HOT))) == pytest.approx(HOT)
    assert strength_of_margin(-3.0) == strength_of_margin(3.0)
    assert strength_of_margin(float("nan")) == 0.0


def test_margin_of_names_the_winner_and_its_lead() -> None:
    assert margin_of(np.array([0.5, 3.0, 1.0])) == (1, pytest.approx(2.0))
    assert margin_of(np.array([4.0])) == (0, 0.0)


def test_the_defect_map_peak_is_drawn_exactly_as_strong_as_the_call_is_sure() -> None:
    """Parts with a defect cell of rising strength: the NG map's drawn peak is g(margin), so it rises with the
    margin whatever the map's own peak (here the same-size defect meets a rising bias)."""
    rng = np.random.default_rng(0)
    drawn, margins = [], []
    for bias in np.linspace(-0.5, 6.0, 14):
        ok, ng = rng.normal(0.0, 0.2, (2, 7, 7))
        ng[3, 4] += 9.0
        e = _explanation(np.stack([ok, ng]), bias=float(bias))
        winner, margin = margin_of(e.logits)
        if winner != 1:
            continue
        drawn.append(_drawn_max(e, 1))
        margins.append(margin)
        assert drawn[-1] == pytest.approx(strength_of_margin(margin), abs=1e-5)
    assert len(drawn) >= 10 and (np.diff(drawn) > 0).all() and (np.diff(margins) > 0).all()


def test_a_coin_flip_is_faint_and_a_sure_call_hot_with_the_same_map() -> None:
    ok, ng = np.zeros((2, 7, 7))
    ng[2, 2] = 5.0
    flip = _explanation(np.stack([ok, ng]), bias=-5.0 / 49 + 0.02)      # NG by 0.02 logits: 50.5 %
    sure = _explanation(np.stack([ok, ng]), bias=6.0)
    assert flip.predicted == sure.predicted == 1
    assert _drawn_max(flip, 1) < 0.05 and _drawn_max(sure, 1) >= HOT


def test_the_other_map_is_drawn_in_the_same_units_and_keeps_its_shape() -> None:
    rng = np.random.default_rng(3)
    e = _explanation(rng.normal(0.0, 1.0, (2, 7, 7)), bias=2.0)
    picture = map_picture(e, SIZE, mode="certainty")
    evidence = e.evidence()
    top = picture.scale[1]
    for c in (0, 1):
        cap = 1.0 if c == e.predicted else LOSER_CAP    # orange and red only on the verdict's map
        np.testing.assert_allclose(drawn_strength(picture.values01[c], "halves"),
                                   np.minimum(np.maximum(evidence[c], 0) / top, cap), atol=1e-6)
    assert drawn_strength(picture.values01[1 - e.predicted], "halves").max() < HOT
    lo, hi = certainty_range(evidence, e.logits)
    assert (lo, hi) == pytest.approx(picture.scale)
    assert hi * strength_of_margin(margin_of(e.logits)[1]) == pytest.approx(evidence[e.predicted].max(), rel=1e-5)


def test_a_verdict_carried_by_the_bias_alone_stays_finite() -> None:
    ok = np.full((7, 7), 1.0)
    ng = np.full((7, 7), -1.0)
    ng[0, 0] = 3.0
    e = _explanation(np.stack([ok, ng]), bias=8.0)      # NG wins although M̃_NG > 0 at one cell only
    lo, hi = certainty_range(e.evidence(), e.logits)
    assert math.isfinite(hi) and hi > 0
    ok_only = _explanation(np.stack([np.full((7, 7), -1.0), np.full((7, 7), 1.0)]), bias=-5.0)   # OK wins, all M̃_OK < 0
    picture = map_picture(ok_only, SIZE, mode="certainty")
    assert all(np.isfinite(v).all() for v in picture.values01.values())


def test_the_legend_says_how_sure_and_marks_this_part_on_the_bar() -> None:
    ok, ng = np.zeros((2, 7, 7))
    ng[2, 2] = 5.0
    picture = map_picture(_explanation(np.stack([ok, ng]), bias=1.0), SIZE, mode="certainty")
    legend = legend_of(picture, 1)
    assert "sure" in legend.words and "coin flip" in legend.words and "k = " in legend.details
    assert picture.certainty is not None and not picture.fixed
    width = 360
    bar = np.asarray(colour_bar(picture, width=width, height=34))
    x = int(round(picture.certainty * (width - 1)))
    assert (bar[14:17, x] < 40).all()                           # the black marker at this part's certainty
    assert not (bar[14:17, (x + width // 2) % width] < 40).all()   # and nowhere else


def test_the_default_drawing_of_a_real_network_follows_its_logits() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", 2, head_relu=False).eval()
    torch.nn.init.normal_(model.fc.weight, std=0.3)
    bundle = ModelBundle(name="t", model=model, card=ModelCard(arch="resnet18", classes=("ok", "ng"), input_size=(64, 64)))
    images = [Image.fromarray(np.random.default_rng(s).integers(0, 255, (60, 80, 3), dtype=np.uint8)) for s in range(6)]
    assert DEFAULT_MODE == "certainty"
    with Explainer(bundle) as explainer:
        for e in explainer.explain(images):
            winner, margin = margin_of(e.logits)
            picture = map_picture(e, SIZE, mode=DEFAULT_MODE)
            peak = float(drawn_strength(picture.values01[winner], picture.style).max())
            assert peak == pytest.approx(strength_of_margin(margin), abs=1e-5)


def test_three_classes_draw_the_winner_at_its_lead_over_the_runner_up() -> None:
    rng = np.random.default_rng(11)
    for seed in range(5):
        maps = rng.normal(0.0, 1.0, (3, 6, 6))
        maps[seed % 3] += 0.4 * seed
        e = _explanation(maps, classes=("ok", "scratch", "dent"))
        winner, margin = margin_of(e.logits)
        assert winner == e.predicted
        assert _drawn_max(e, winner) == pytest.approx(strength_of_margin(margin), abs=1e-5)
        assert all(_drawn_max(e, c) < HOT for c in range(3) if c != winner)


def _sure_call_known_and_outside() -> tuple[Explanation, Explanation, Explanation]:
    """One sure NG call (two peaks in the NG map), as is, on a known part and on a part unlike the training data."""
    ok, ng = np.zeros((2, 7, 7))
    ng[2, 2] = 5.0
    ng[4, 5] = 2.0
    sure = _explanation(np.stack([ok, ng]), bias=6.0)
    known = dataclasses.replace(sure, domain=DomainResult(DomainVerdict.KNOWN, distance=0.01, threshold=0.036))
    outside = dataclasses.replace(sure, domain=DomainResult(DomainVerdict.UNLIKE, distance=0.08, threshold=0.036))
    return sure, known, outside


def test_a_part_the_domain_check_does_not_trust_never_reaches_the_verdicts_colours() -> None:
    """The same sure NG call, once on a known part and once on a part unlike the training data: the untrusted one
    is drawn with the same shape, every map at most half-way up the bar, and the legend says why."""
    sure, known, outside = _sure_call_known_and_outside()
    k = strength_of_margin(margin_of(sure.logits)[1])
    assert k > HOT
    assert _drawn_max(known, 1) == pytest.approx(k, abs=1e-5)
    assert _drawn_max(outside, 1) == pytest.approx(UNTRUSTED_CAP, abs=1e-5)
    drawn_known, drawn_outside = (map_picture(e, SIZE, mode="certainty") for e in (known, outside))
    np.testing.assert_allclose(drawn_strength(drawn_outside.values01[1], "halves") * k / UNTRUSTED_CAP,
                               drawn_strength(drawn_known.values01[1], "halves"), atol=1e-5)   # same shape
    assert max(drawn_strength(v, "halves").max() for v in drawn_outside.values01.values()) <= UNTRUSTED_CAP + 1e-6
    assert drawn_known.trusted and not drawn_outside.trusted
    assert "not trusted" in legend_of(drawn_outside, 1).words and "not trusted" not in legend_of(drawn_known, 1).words
    assert [t for _, t, _ in bar_labels(drawn_known)] == ["unsure", "80%  sure", "certain"]
    assert (UNTRUSTED_CAP, "NOT  TRUSTED:  no  further", "ma") in bar_labels(drawn_outside)   # on the image's own bar


@pytest.mark.parametrize("mode", ["halves", "signed", "evidence"])
def test_on_a_fixed_scale_an_untrusted_part_is_drawn_at_a_quarter_of_its_strength(mode: str) -> None:
    """The model's fixed scales (and the video's) pull a flagged part's maps toward "neither": same shape, a
    quarter of the distance, the legend and the details say so; a known part is drawn as before."""
    _, known, outside = _sure_call_known_and_outside()
    drawn_known, drawn_outside = (map_picture(e, SIZE, mode=mode, value_range=(-3.0, 3.0)) for e in (known, outside))
    assert drawn_known.trusted and not drawn_outside.trusted
    for c, kept in drawn_known.values01.items():
        np.testing.assert_allclose(drawn_outside.values01[c] - 0.5, (kept - 0.5) * UNTRUSTED_SPREAD, atol=1e-6)
        assert np.abs(drawn_outside.values01[c] - 0.5).max() <= 0.5 * UNTRUSTED_SPREAD + 1e-6
    assert np.abs(np.concatenate([v.ravel() for v in drawn_known.values01.values()]) - 0.5).max() > 0.4
    words, details = legend_of(drawn_outside, 1).words, legend_of(drawn_outside, 1).details
    assert words.startswith("For reference only") and "not trusted" in details
    assert "not trusted" not in legend_of(drawn_known, 1).words + legend_of(drawn_known, 1).details

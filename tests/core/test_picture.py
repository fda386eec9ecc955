"""What is drawn: positive halves on the model's fixed scale, per-pixel opacity, and legends made from it."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.checkpoints import ModelBundle, ModelCard, defect_class_index
from cam_core.engine.architectures import build_model
from cam_core.explain.layers import alpha_of, compose, drawn_strength
from cam_core.explain.legend import legend_of, with_legend
from cam_core.explain.picture import map_picture
from cam_core.explain.pipeline import Explanation
from cam_core.explain.scale import CARD_SOURCE, SAMPLES_SOURCE, model_scale, scale_in_force

SIZE = (64, 48)


def _explanation(maps: np.ndarray, classes: tuple[str, ...] = ("ok", "ng"), method: str = "cam") -> Explanation:
    logits = maps.mean(axis=(1, 2)).astype(np.float64)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return Explanation(classes=classes, defect_index=defect_class_index(classes), probabilities=probs, logits=logits, maps=maps.astype(np.float32),
                       class_indices=tuple(range(len(classes))), image_size=SIZE, method=method, layer="x")


def _part(strength: float, seed: int = 0) -> Explanation:
    """An OK/NG explanation whose NG map has a defect of ``strength`` at one cell over a sound background."""
    rng = np.random.default_rng(seed)
    ok = rng.normal(2.0, 0.3, (7, 7))
    ng = rng.normal(0.0, 0.3, (7, 7))
    ng[3, 4] += strength
    return _explanation(np.stack([ok, ng]))


def test_positive_halves_add_back_to_the_size_of_the_evidence() -> None:
    e = _part(30.0)
    picture = map_picture(e, SIZE, mode="halves", value_range=(-40.0, 40.0))
    evidence = e.evidence()
    halves = [drawn_strength(picture.values01[c], picture.style) for c in (0, 1)]
    np.testing.assert_allclose(halves[0] + halves[1], np.minimum(np.abs(evidence[1]) / 40.0, 1.0), atol=1e-6)
    three = _explanation(np.random.default_rng(4).normal(size=(3, 5, 5)), classes=("ok", "scratch", "dent"))
    p3 = map_picture(three, SIZE, mode="halves-image")
    top = np.abs(three.evidence()).max()
    for c in range(3):   # each class: its own positive centred evidence
        np.testing.assert_allclose(drawn_strength(p3.values01[c], "halves"),
                                   np.maximum(three.evidence()[c], 0) / top, atol=1e-6)


def test_two_classes_colour_exactly_one_map_at_each_pixel() -> None:
    picture = map_picture(_part(12.0, seed=1), SIZE, mode="halves", value_range=(-20.0, 20.0))
    alpha = np.stack([np.asarray(picture.layers[c])[..., 3] for c in (0, 1)])
    assert alpha.shape == (2, SIZE[1], SIZE[0])
    assert not ((alpha[0] > 0) & (alpha[1] > 0)).any()          # never both
    assert ((alpha[0] > 0) | (alpha[1] > 0)).mean() > 0.9      # and nearly everywhere one (zero only where M̃ ≈ 0)
    assert (alpha[0] > 0).mean() > 0.5                          # the sound part: OK map
    assert alpha[1].max() == 255                                # the defect: NG map


def test_fixed_scale_draws_a_weaker_call_weaker_and_shape_only_does_not() -> None:
    weak, strong = _part(6.0), _part(30.0)
    assert weak.logits[1] - weak.logits[0] < strong.logits[1] - strong.logits[0]
    fixed = [map_picture(e, SIZE, mode="halves", value_range=(-20.0, 20.0)) for e in (weak, strong)]
    peak = [float(drawn_strength(p.values01[1], p.style).max()) for p in fixed]
    assert peak[0] < 0.5 < peak[1]
    assert all(p.fixed for p in fixed)
    own = [map_picture(e, SIZE, mode="halves-image", value_range=(-20.0, 20.0)) for e in (weak, strong)]
    assert [float(drawn_strength(p.values01[1], p.style).max()) for p in own] == pytest.approx([1.0, 1.0])
    assert not any(p.fixed for p in own)


def test_signed_mode_draws_one_ng_minus_ok_map_and_clears_neither() -> None:
    e = _part(30.0)
    picture = map_picture(e, SIZE, mode="signed", colormap="viridis", value_range=(-20.0, 20.0))
    assert picture.classes == (1,) and picture.title(1) == "NG − OK"
    assert picture.scale == (-40.0, 40.0)                       # M_NG − M_OK = 2·M̃_NG
    assert picture.colormap == "coolwarm"                       # a sequential map is swapped for a diverging one
    assert alpha_of(np.array([0.5]), "signed")[0] == 0.0       # "neither" is clear
    assert "more signs of NG than OK" in legend_of(picture, 1).words


def test_gradient_maps_are_on_their_own_scale_with_their_own_words() -> None:
    maps = np.abs(np.random.default_rng(2).normal(size=(2, 5, 5))).astype(np.float32)
    maps[0] = 0.0                                               # Grad-CAM of OK: nothing
    picture = map_picture(_explanation(maps, method="gradcam"), SIZE, mode="halves", value_range=(-99.0, 99.0))
    assert picture.style == "halves" and not picture.fixed
    assert np.asarray(picture.layers[0])[..., 3].max() == 0     # the blank map is clear, not a colour
    words = legend_of(picture, 1).words
    assert "Grad-CAM" in words and "not how sure" in words and "signs of" not in words


@pytest.mark.parametrize(("colormap", "strong"), [("jet", "dark red"), ("viridis", "yellow"), ("gray", "white"),
                                                  ("inferno", "pale yellow")])
def test_legend_words_name_the_colour_maps_own_colours(colormap: str, strong: str) -> None:
    picture = map_picture(_part(30.0), SIZE, mode="halves", colormap=colormap, value_range=(-20.0, 20.0))
    legend = legend_of(picture, 1, CARD_SOURCE)
    assert f"{strong} = as strong as" in legend.words
    assert not re.search(r"\bred\b", legend.words.replace(strong, ""))   # no colour of another map
    assert colormap in legend.details and CARD_SOURCE in legend.details
    bar = np.asarray(legend.bar)
    right = bar[2, -2].astype(int)
    from cam_core.explain.render import colormap_lut
    assert np.abs(right - colormap_lut(colormap)[-1].astype(int)).max() <= 3   # the bar ends in the map's colour
    raw = legend_of(map_picture(_part(30.0), SIZE, mode="shared", colormap=colormap), 1)
    assert "not evidence" in raw.words


def test_exports_carry_their_colour_bar() -> None:
    e = _part(30.0)
    image = Image.new("RGB", SIZE, (90, 90, 90))
    picture = map_picture(e, SIZE, mode="halves", value_range=(-20.0, 20.0))
    overlaid = picture.overlays(image, 0.5)
    assert compose(image, picture.layers[1], 0.0).tobytes() == image.tobytes()
    with_bar = with_legend(overlaid[1], picture)
    assert with_bar.size[0] == SIZE[0] and with_bar.size[1] > SIZE[1] + 20


def test_scale_in_force() -> None:
    assert scale_in_force("halves", True, (-5.0, 5.0)) == (-5.0, 5.0)
    assert scale_in_force("halves", False, (-5.0, 5.0)) is None          # gradient maps: own scale
    assert scale_in_force("halves-image", True, (-5.0, 5.0)) is None
    assert scale_in_force("raw", True, (-5.0, 5.0), (0.0, 9.0)) == (0.0, 9.0)


def test_model_scale_from_the_card_else_from_the_built_in_samples() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", 2, head_relu=False).eval()
    card = ModelCard(arch="resnet18", classes=("ok", "ng"), input_size=(64, 64))
    bundle = ModelBundle(name="t", model=model, card=card)
    measured = model_scale(bundle)
    assert measured.source == SAMPLES_SOURCE and measured.top > 0
    recorded = model_scale(ModelBundle(name="t", model=model, card=dataclasses.replace(card, evidence_range=(-7.5, 7.5))))
    assert recorded.top == 7.5 and recorded.source == CARD_SOURCE

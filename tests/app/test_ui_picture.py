"""The maps blended in the browser: one slider, one layer per map, the part under each, escaped words."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from app_ui.picture import LAYER_SIDE, OPACITY_KEY, blend_html, screen_picture
from cam_core.explain.legend import legend_of
from cam_core.explain.pipeline import Explanation


def _explanation(classes: tuple[str, ...] = ("ok", "<ng>")) -> Explanation:
    maps = np.random.default_rng(0).normal(size=(len(classes), 7, 7)).astype(np.float32)
    logits = maps.mean(axis=(1, 2)).astype(np.float64)
    probs = np.exp(logits) / np.exp(logits).sum()
    return Explanation(classes=classes, probabilities=probs, logits=logits, maps=maps,
                       class_indices=tuple(range(len(classes))), image_size=(800, 600), method="cam", layer="x",
                       defect_index=1)


def test_layers_are_small_and_keep_the_parts_aspect() -> None:
    part = Image.new("RGB", (800, 600), (80, 80, 80))
    picture = screen_picture(_explanation(), part, [0, 1], "halves", "jet", (-2.0, 2.0))
    assert all(layer.mode == "RGBA" and layer.size == (LAYER_SIDE, 240) for layer in picture.layers.values())


def test_blend_html_has_one_slider_and_a_layer_over_the_part_per_map() -> None:
    part = Image.new("RGB", (80, 60), (80, 80, 80))
    picture = screen_picture(_explanation(), part, [0, 1], "halves", "jet", (-2.0, 2.0))
    legends = {c: legend_of(picture, c) for c in picture.classes}
    page = blend_html(part, picture, legends, opacity=0.4)
    assert page.count("type='range'") == 1 and "value='0.4'" in page
    assert page.count("class='cb-layer'") == 2 and page.count("class='cb-base'") == 2
    assert len(set(re.findall(r"class='cb-layer' src='([^']+)'", page))) == 2      # each map its own layer
    assert OPACITY_KEY in page and "localStorage" in page                           # kept in the browser
    assert "&lt;NG&gt; map" in page and "<NG>" not in page                          # class names escaped
    signed = screen_picture(_explanation(), part, [0, 1], "signed", "viridis", (-2.0, 2.0))
    page = blend_html(part, signed, {c: legend_of(signed, c) for c in signed.classes})
    assert page.count("class='cb-layer'") == 1 and "&lt;NG&gt; − OK" in page

"""app_ui.widgets: the Models page's one-line label says what a model is and where it came from."""

from __future__ import annotations

import dataclasses

import numpy as np

from app_ui.widgets import map_caption, model_card_label
from cam_core.checkpoints import ModelCard
from cam_core.domain import DomainResult, DomainVerdict
from cam_core.explain.pipeline import Explanation


def _card(**fields: object) -> ModelCard:
    return ModelCard.from_dict({"arch": "resnet18", "classes": ["good", "scratch"], "input_size": [224, 224],
                                **fields})


def test_label_marks_the_named_defect_class_and_the_imported_file() -> None:
    card = _card(defect_class="scratch", origin={"format": "state_dict", "file": "line7.pt", "architecture": "resnet18"})
    label = model_card_label("line7", card, "user")
    assert label == "**line7** · resnet18 · good, scratch* · state dict from line7.pt · user"


def test_label_of_a_model_of_ours_has_no_origin_and_follows_the_card_defect_class() -> None:
    label = model_card_label("parts", _card(classes=["ng", "ok"], defect_class="ok"), "shipped")
    assert label == "**parts** · resnet18 · ng, ok* · shipped"


def test_a_map_caption_says_for_reference_only_when_the_part_is_not_trusted() -> None:
    maps = np.stack([np.zeros((5, 5)), np.linspace(-1, 3, 25).reshape(5, 5)]).astype(np.float32)
    logits = maps.mean(axis=(1, 2)).astype(np.float64)
    base = Explanation(classes=("ok", "ng"), defect_index=1, probabilities=np.array([0.3, 0.7]), logits=logits,
                       maps=maps, class_indices=(0, 1), image_size=(40, 40), method="cam", layer="x")
    known, outside = (dataclasses.replace(base, domain=DomainResult(v, distance=d, threshold=0.036))
                      for v, d in ((DomainVerdict.KNOWN, 0.01), (DomainVerdict.UNLIKE, 0.08)))
    plain, flagged = (map_caption(e, 1, (-2.0, 2.0), "evidence") for e in (known, outside))
    assert plain.startswith("NG map:") and "raw map -1 … 3" in plain
    assert flagged.startswith("For reference only") and flagged.endswith(plain)

"""app_ui.widgets: the Models page's one-line label says what a model is and where it came from."""

from __future__ import annotations

from app_ui.widgets import model_card_label
from cam_core.checkpoints import ModelCard


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

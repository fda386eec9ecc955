"""The defect-class rule (cam_core.checkpoints.classes) and the places that use it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import make_checkpoint

import cam_core.evaluation as evaluation
from cam_core.checkpoints import (
    DEFECT_CLASS_NAMES,
    defect_class_index,
    defect_names_text,
    is_defect_name,
    load_checkpoint,
    positive_class_index,
)


@pytest.mark.parametrize("name", DEFECT_CLASS_NAMES)
def test_every_defect_name_in_any_case(name: str) -> None:
    assert is_defect_name(name) and is_defect_name(name.upper())
    assert defect_class_index(["ok", name.upper()]) == 1
    assert defect_class_index((name, "ok")) == 0


def test_names_and_fallbacks() -> None:
    assert set(DEFECT_CLASS_NAMES) == {"ng", "nok", "defect", "defective", "bad", "reject", "fail"}
    assert defect_class_index(["good", "scratch", "dent"]) is None
    assert positive_class_index(["good", "scratch", "dent"]) == 1
    assert positive_class_index(["only"]) == 0
    assert defect_class_index(["ok", "ng", "bad"]) == 1          # the first defect name wins
    assert not is_defect_name("ok") and not is_defect_name("ngx")
    text = defect_names_text()
    assert all(f"`{n}`" in text for n in DEFECT_CLASS_NAMES) and text.endswith("or `fail`")


def test_card_defect_class_wins() -> None:
    classes = ["good", "scratch", "ng"]
    assert defect_class_index(classes, "scratch") == 1
    assert defect_class_index(classes, "SCRATCH") == 1
    assert defect_class_index(classes, 0) == 0
    assert positive_class_index(classes, 0) == 0
    # an unusable choice falls back to the names
    for bad in ("missing", 7, -1, True, None, 1.0):
        assert defect_class_index(classes, bad) == 2  # type: ignore[arg-type]
    assert defect_class_index(classes) == 2


def test_bundle_and_evaluation_use_the_rule(tmp_path: Path) -> None:
    assert evaluation.positive_class_index is positive_class_index
    bundle = load_checkpoint(make_checkpoint(tmp_path / "m.safetensors", classes=("good", "bad")), "cpu")
    assert bundle.card.defect_index == 1
    chosen = dataclasses.replace(bundle.card, defect_class="good")
    assert chosen.defect_index == 0 and chosen.scored_index == 0

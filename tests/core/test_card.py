"""The typed model card (cam_core.checkpoints.card) and the registry split out of the bundle."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, make_checkpoint

import cam_core.checkpoints.registry as registry
from cam_core.checkpoints import (
    LEGACY_SYNTHETIC_TEXT,
    DataKind,
    ModelCard,
    list_models,
    load_checkpoint,
    read_card,
    read_model_card,
    resolve_model_path,
    validate_card,
)
from cam_core.errors import ModelError

SHIPPED_CARDS = sorted((REPO_ROOT / "models").glob("*.json"))


@pytest.mark.parametrize("path", SHIPPED_CARDS, ids=lambda p: p.stem)
def test_shipped_cards_round_trip_exactly(path: Path) -> None:
    raw = json.loads(path.read_text())
    card = ModelCard.from_dict(raw)
    assert card.to_dict() == raw
    assert list(card.to_dict()) == list(raw)                  # key order kept too
    assert json.dumps(card.to_dict(), indent=2) == json.dumps(raw, indent=2)
    assert card.arch == raw["arch"] and card.classes == tuple(raw["classes"])
    assert card.input_size == tuple(raw["input_size"])
    assert card.decision_calibration == raw.get("decision_calibration")
    assert card.stages == raw.get("stages")
    assert card.pretrained == raw["training"]["pretrained"]
    assert card.evidence_limits == tuple(float(v) for v in raw["evidence_range"])


def test_unknown_keys_are_kept_and_missing_keys_not_added() -> None:
    raw = {"arch": "resnet18", "classes": ["ok", "ng"], "input_size": [64, 96], "from_the_future": {"x": 1},
           "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    card = ModelCard.from_dict(raw)
    assert card.extra == {"from_the_future": {"x": 1}}
    assert card.resize == "square" and card.map_stride == 32 and card.head_relu is True   # defaults
    assert card.trained_on is None and card.trained_on_text == "not recorded in its model card"
    assert card.to_dict() == raw
    card = dataclasses.replace(card, defect_class="ok", extra={**card.extra, "note": "added"})
    out = card.to_dict()
    assert out["defect_class"] == "ok" and out["note"] == "added" and "resize" not in out
    assert ModelCard.from_dict(out).defect_class == "ok"


def test_a_new_card_has_the_required_keys() -> None:
    card = ModelCard(arch="resnet18", classes=("ok", "ng"), input_size=(64, 64), source={"file": "x.pt"},
                     head_type="single logit")
    assert card.to_dict() == {"arch": "resnet18", "classes": ["ok", "ng"], "input_size": [64, 64],
                              "source": {"file": "x.pt"}, "head_type": "single logit"}
    with pytest.raises(ModelError, match="lacks classes, input_size"):
        ModelCard.from_dict({"arch": "resnet18"})


def _card(**fields: object) -> ModelCard:
    return ModelCard.from_dict({"arch": "a", "classes": ["ok", "ng"], "input_size": [1, 1], **fields})


def test_trained_on_text_folds_in_imports() -> None:
    assert _card(trained_on="tiles").trained_on_text == "tiles"
    assert _card().trained_on_text == "not recorded in its model card"
    imported = _card(origin={"format": "state_dict", "file": "line7.pt"})
    assert imported.trained_on_text == "not recorded in its model card (imported from line7.pt)"
    assert _card(origin={"format": "state_dict", "file": "line7.pt"}, trained_on="x").trained_on_text == "x"


def test_data_kind_is_a_field_and_old_cards_read_once_by_their_sentence() -> None:
    assert _card(data_kind="synthetic", trained_on="reworded later").data is DataKind.SYNTHETIC
    assert _card(data_kind="own", trained_on=LEGACY_SYNTHETIC_TEXT).data is DataKind.OWN     # the field wins
    assert _card(trained_on=LEGACY_SYNTHETIC_TEXT).data is DataKind.SYNTHETIC                 # an old card
    assert _card(trained_on="the images in tiles/", training={"data_dir": "tiles"}).data is DataKind.OWN
    assert _card(origin={"file": "line7.pt"}).data is DataKind.UNKNOWN
    assert _card(trained_on=LEGACY_SYNTHETIC_TEXT).synthetic_only and not _card(data_kind="own").synthetic_only
    odd = {"arch": "a", "classes": ["ok", "ng"], "input_size": [1, 1], "data_kind": "martian"}
    assert ModelCard.from_dict(odd).data is DataKind.UNKNOWN and ModelCard.from_dict(odd).to_dict() == odd


def test_today_synthetic_description_is_independent_of_the_legacy_sentence() -> None:
    from cam_core.checkpoints import SYNTHETIC_TEXT
    from cam_core.synth import DATA_DESCRIPTION

    # the warning never hangs on the words: a card written today carries data_kind, whatever the sentence says
    assert DATA_DESCRIPTION != LEGACY_SYNTHETIC_TEXT
    assert _card(trained_on=DATA_DESCRIPTION + " (reworded)", data_kind="synthetic").synthetic_only
    # and every page says it in the same plain words, for old cards and new
    assert _card(trained_on=LEGACY_SYNTHETIC_TEXT).trained_on_text == SYNTHETIC_TEXT
    assert _card(trained_on=DATA_DESCRIPTION, data_kind="synthetic").trained_on_text == SYNTHETIC_TEXT
    assert "cam_core" not in SYNTHETIC_TEXT


def test_defect_and_scored_index_are_the_cards() -> None:
    assert _card().defect_index == 1 and _card().scored_index == 1
    assert _card(defect_class="ok").defect_index == 0
    three = ModelCard.from_dict({"arch": "a", "classes": ["good", "scratch", "dent"], "input_size": [1, 1]})
    assert three.defect_index is None and three.scored_index == 1


def test_arch_label_names_onnx_graphs() -> None:
    assert _card().arch_label == "a"
    assert _card(origin={"format": "onnx", "architecture": "resnet18"}).arch_label == "resnet18 (ONNX)"
    assert ModelCard.from_dict({"arch": "onnx", "classes": ["ok", "ng"], "input_size": [1, 1],
                                "origin": {"format": "onnx"}}).arch_label == "onnx"


def test_card_is_frozen() -> None:
    card = _card()
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.defect_class = "ok"  # type: ignore[misc]


def test_validate_card_messages() -> None:
    good = {"arch": "resnet18", "classes": ["ok", "ng"], "input_size": [64, 64], "mean": [0, 0, 0], "std": [1, 1, 1]}
    validate_card(good, "m", ("resnet18",))
    for change, words in ((dict(arch="vgg"), "unknown architecture"), (dict(classes=["ok"]), "two or more"),
                          (dict(input_size=[8, 8]), "between 16 and 2048"), (dict(resize="crop"), "'resize'"),
                          (dict(mean=[0, 0]), "'mean'"), (dict(map_stride=8), "'map_stride'")):
        with pytest.raises(ModelError, match=words):
            validate_card({**good, **change}, "m", ("resnet18",))
    validate_card({**good, "arch": "onnx"}, "m")                 # no architecture list: any arch
    with pytest.raises(ModelError, match="JSON object"):
        validate_card([1], "m")


def test_bundle_reads_through_the_typed_card(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path / "m.safetensors")
    bundle = load_checkpoint(path, "cpu")
    assert isinstance(bundle.card, ModelCard)                     # parsed once, when the file is opened
    typed = read_model_card(path)
    assert typed.to_dict() == read_card(path) == bundle.card.to_dict()
    assert bundle.card == typed
    assert (bundle.classes, bundle.input_size, bundle.arch) == (typed.classes, typed.input_size, typed.arch)
    aspect = dataclasses.replace(bundle, card=dataclasses.replace(typed, resize="aspect", input_size=(96, 96)))
    assert aspect.input_size_for(np.zeros((100, 300, 3), np.uint8))[1] > aspect.input_size_for(
        np.zeros((100, 100, 3), np.uint8))[1]                        # the card's resize rule decides the size
    assert bundle.trained_on == "not recorded in its model card"


def test_registry_names_and_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    make_checkpoint(shipped / "a.safetensors")
    make_checkpoint(user / "a.safetensors", seed=1)              # never hides the shipped one
    make_checkpoint(user / "b.safetensors")
    (user / ".c.safetensors").write_bytes(b"")                   # hidden: a run in progress
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", shipped)
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(user))
    assert list_models() == {"a": shipped / "a.safetensors", "b": user / "b.safetensors"}
    assert resolve_model_path("b") == user / "b.safetensors"
    assert resolve_model_path("elsewhere/x.safetensors") == Path("elsewhere/x.safetensors")
    with pytest.raises(ModelError, match="no model called 'zzz'. Available: a, b"):
        resolve_model_path("zzz")
    from cam_core.models import load_model

    assert load_model("b", "cpu").name == "b"
    assert load_model(user / "b.safetensors", "cpu").name == "b"


def test_methods_the_card_allows() -> None:
    from cam_core.options import Method

    assert _card().methods == tuple(Method)
    assert _card(origin={"format": "onnx", "architecture": "resnet18"}).methods == (Method.CAM,)
    assert _card(origin={"format": "state_dict", "file": "line7.pt"}).methods == tuple(Method)

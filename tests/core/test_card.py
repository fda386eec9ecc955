"""The typed model card (cam_core.checkpoints.card) and the registry split out of the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT, make_checkpoint

import cam_core.checkpoints.registry as registry
from cam_core.checkpoints import (
    ModelCard,
    list_models,
    load_checkpoint,
    read_card,
    read_model_card,
    resolve_model_path,
    trained_on_of,
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
    card.defect_class = "ok"
    card.extra["note"] = "added"
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


def test_trained_on_of_dicts_and_cards() -> None:
    assert trained_on_of({"trained_on": "tiles"}) == "tiles"
    assert trained_on_of({}) == "not recorded in its model card"
    assert trained_on_of(ModelCard(arch="a", classes=("x", "y"), input_size=(1, 1), trained_on="parts")) == "parts"
    imported = {"origin": {"format": "state_dict", "file": "line7.pt"}}
    assert trained_on_of(imported) == "not recorded in its model card (imported from line7.pt)"
    assert trained_on_of(ModelCard.from_dict({"arch": "a", "classes": ["x", "y"], "input_size": [1, 1], **imported})) \
        == "not recorded in its model card (imported from line7.pt)"
    assert trained_on_of(None) == "not recorded in its model card"


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
    assert isinstance(bundle.card, dict)                          # the raw card stays a dict
    typed = read_model_card(path)
    assert typed.to_dict() == read_card(path) == bundle.card
    assert bundle.model_card == typed
    bundle.card["evidence_range"] = [-2, 2]
    bundle.card["resize"] = "aspect"
    assert bundle.evidence_range == (-2.0, 2.0) and bundle.resize == "aspect"
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

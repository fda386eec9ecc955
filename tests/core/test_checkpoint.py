"""Model files: safetensors + card round trip, refusal of unsafe or inconsistent files, torchvision cache."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from conftest import make_checkpoint
from safetensors.torch import save_file

from cam_core import Explainer, ModelError, load_model
from cam_core.checkpoints import list_models, read_card, save_checkpoint
from cam_core.engine.architectures import build_model
from cam_core.engine.imagenet import torchvision_cache_file


def test_round_trip_keeps_weights_card_and_outputs(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path / "m.safetensors", arch="resnet18", input_size=64)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["arch"] == "resnet18" and card["classes"] == ["ok", "ng"]
    bundle = load_model(str(path), device="cpu")
    assert bundle.classes == ("ok", "ng") and bundle.input_size == (64, 64) and bundle.card.defect_index == 1
    assert read_card(path) == bundle.card.to_dict()
    # fp16 storage: the loaded float weights equal the saved ones rounded to half precision
    torch.manual_seed(0)
    reference = build_model("resnet18", 2)
    assert path.stat().st_size < sum(p.numel() for p in reference.parameters()) * 2.2
    assert not any(p.requires_grad for p in bundle.model.parameters())


def test_interrupted_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cam_core.checkpoints.bundle as checkpoint

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(build_model("squeezenet1_1", 2), tmp_path / "x.safetensors",
                        {"arch": "squeezenet1_1", "classes": ["ok", "ng"], "input_size": [64, 64]})
    assert not (tmp_path / "x.safetensors").exists()
    assert list(tmp_path.iterdir()) == []          # no temporary file left behind either


class _Payload:
    """Unpickling this would create a marker file: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors", ".ckpt"])
def test_pickle_with_payload_is_never_executed(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / f"evil{suffix}"
    evil.write_bytes(pickle.dumps({"state_dict": _Payload(marker)}))
    with pytest.raises(ModelError) as info:
        load_model(str(evil), device="cpu")
    assert not marker.exists()
    assert "safetensors" in str(info.value)


def test_missing_metadata_unknown_arch_and_wrong_shapes_are_clear(tmp_path: Path) -> None:
    model = build_model("squeezenet1_1", 2)
    bare = tmp_path / "bare.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bare))
    with pytest.raises(ModelError, match="no CAM Inspector model card"):
        load_model(str(bare))

    unknown = tmp_path / "unknown.safetensors"
    save_file({"w": torch.zeros(1)}, str(unknown), metadata={"cam_inspector": json.dumps(
        {"arch": "lenet9000", "classes": ["ok", "ng"], "input_size": [64, 64], "mean": [0, 0, 0], "std": [1, 1, 1]})})
    with pytest.raises(ModelError, match="unknown architecture 'lenet9000'"):
        load_model(str(unknown))

    wrong = tmp_path / "wrong.safetensors"
    save_checkpoint(build_model("squeezenet1_1", 2), wrong,
                    {"arch": "resnet18", "classes": ["ok", "ng"], "input_size": [64, 64]})
    with pytest.raises(ModelError, match="do not fit a resnet18"):
        load_model(str(wrong))

    bad_card = tmp_path / "badcard.safetensors"
    save_file({"w": torch.zeros(1)}, str(bad_card), metadata={"cam_inspector": "{not json"})
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(str(bad_card))

    one_class = tmp_path / "one.safetensors"
    save_checkpoint(build_model("squeezenet1_1", 1), one_class,
                    {"arch": "squeezenet1_1", "classes": ["ok"], "input_size": [64, 64]})
    with pytest.raises(ModelError, match="two or more"):
        load_model(str(one_class))

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="not a readable safetensors"):
        load_model(str(garbage))
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "absent.safetensors"))
    with pytest.raises(ModelError, match="no model called"):
        load_model("no-such-model")


def test_three_class_checkpoint_works_and_classes_come_from_the_card(tmp_path: Path, part_images: list) -> None:
    path = make_checkpoint(tmp_path / "three.safetensors", classes=("good", "scratch", "dent"))
    bundle = load_model(str(path), device="cpu")
    assert bundle.classes == ("good", "scratch", "dent") and bundle.card.defect_index is None
    with Explainer(bundle) as explainer:
        result = explainer.explain_one(part_images[0])
    assert result.maps.shape[0] == 3 and set(result.as_record()["probabilities"]) == {"good", "scratch", "dent"}


def test_named_models_from_the_user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(tmp_path))
    make_checkpoint(tmp_path / "my-line.safetensors")
    assert "my-line" in list_models()
    assert load_model("my-line", device="cpu").name == "my-line"


def test_torchvision_weights_load_only_from_the_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            part_images: list) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache_file, weights = torchvision_cache_file("resnet18")
    assert str(cache_file).startswith(str(tmp_path))
    with pytest.raises(ModelError, match="not in the local torch cache"):
        load_model("torchvision:resnet18")
    cache_file.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), cache_file)
    bundle = load_model("torchvision:resnet18", device="cpu")
    assert len(bundle.classes) == 1000 and bundle.classes[0] == weights.meta["categories"][0]
    with Explainer(bundle) as explainer:
        result = explainer.explain_one(part_images[0])
    assert result.maps.shape == (1000, 7, 7)
    with pytest.raises(ModelError, match="no architecture"):
        load_model("torchvision:not_a_net")

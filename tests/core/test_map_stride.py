"""Stride-16 last stage (``map_stride=16``): finer CAM grids for GoogLeNet and ResNet, same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cam_core.checkpoints import read_card, save_checkpoint
from cam_core.engine.architectures import build_model
from cam_core.engine.hooks import registered_hook_count
from cam_core.engine.methods import CAM, GradCAM
from cam_core.errors import InputError, ModelError
from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model
from cam_core.training import TrainConfig, train_model


@pytest.mark.parametrize("arch", ["googlenet", "resnet18", "resnet50"])
def test_stride16_doubles_the_grid_keeps_the_weights_and_the_cam_identity(arch: str) -> None:
    torch.manual_seed(0)
    coarse = build_model(arch, 2, map_stride=32).eval()
    fine = build_model(arch, 2, map_stride=16).eval()
    fine.load_state_dict(coarse.state_dict())            # same names and shapes: ImageNet weights still fit
    x = torch.randn(2, 3, 224, 224)
    with CAM(fine) as cam:
        out = cam(x)
    assert out.maps.shape[-2:] == (14, 14)
    bias = fine.fc.bias.detach()
    torch.testing.assert_close(out.maps.mean(dim=(-2, -1)) + bias, out.logits, rtol=1e-4, atol=1e-4)
    with CAM(coarse) as cam:
        assert cam(x).maps.shape[-2:] == (7, 7)
    with GradCAM(fine) as gradcam:
        assert gradcam(x).maps.shape[-2:] == (14, 14)
    assert registered_hook_count(fine) == 0


def test_stride16_is_refused_where_it_is_not_built() -> None:
    with pytest.raises(ModelError, match="stride"):
        build_model("squeezenet1_1", 2, map_stride=16)
    with pytest.raises(ModelError, match="stride"):
        build_model("resnet18", 2, map_stride=8)
    with pytest.raises(InputError, match="stride"):
        TrainConfig(arch="squeezenet1_1", map_stride=16).validate()


def test_checkpoint_round_trip_keeps_the_stride(tmp_path: Path) -> None:
    model = build_model("resnet18", 2, map_stride=16).eval()
    path = save_checkpoint(model, tmp_path / "fine.safetensors",
                           {"arch": "resnet18", "classes": ["ok", "ng"], "input_size": [128, 128], "map_stride": 16},
                           half=False)
    bundle = load_model(str(path), device="cpu")
    image = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    with Explainer(bundle) as explainer:
        assert explainer.explain_one(image).map_size == (8, 8)
    bad = save_checkpoint(model, tmp_path / "bad.safetensors",
                          {"arch": "squeezenet1_1", "classes": ["ok", "ng"], "input_size": [64, 64], "map_stride": 16})
    with pytest.raises(ModelError, match="map_stride"):
        read_card(bad)


def test_training_records_the_stride(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_training import make_blobs
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    data = make_blobs(tmp_path / "d", n=16)
    result = train_model(data, tmp_path / "r.safetensors",
                         TrainConfig(arch="resnet18", epochs=1, image_size=64, batch_size=8, pretrained="none", require_learning=False,
                                     map_stride=16))
    assert result.path is not None and read_card(result.path)["map_stride"] == 16
    with Explainer(load_model(str(result.path), device="cpu")) as explainer:
        assert explainer.explain_one(np.zeros((64, 64, 3), dtype=np.uint8)).map_size == (4, 4)

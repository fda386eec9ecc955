"""Hook capture (cam_core.engine.hooks): removed after use and after errors, per thread, no .grad on models."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from cam_core.engine.hooks import (
    ActivationCapture,
    linear_weight_product,
    registered_hook_count,
    resolve_module,
)
from cam_core.errors import ModelError


def _net() -> nn.Module:
    """conv → ReLU → global average pool → linear: the CAM shape."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2)).eval()


def test_hook_count_returns_to_zero_after_use() -> None:
    model = _net()
    assert registered_hook_count(model) == 0
    with ActivationCapture(model[1]) as capture:
        assert registered_hook_count(model) == 1
        capture.start()
        model(torch.randn(1, 3, 8, 8))
        assert capture.require(capture.stop()).shape == (1, 4, 8, 8)
    assert registered_hook_count(model) == 0
    capture.close()                                   # idempotent
    assert registered_hook_count(model) == 0


def test_hook_count_returns_to_zero_after_an_exception_inside_the_with() -> None:
    model = _net()
    with pytest.raises(RuntimeError), ActivationCapture(model[1]) as capture:
        capture.start()
        model(torch.randn(1, 5, 8, 8))                # wrong channel count: the forward raises
    assert registered_hook_count(model) == 0
    with pytest.raises(KeyError), ActivationCapture(model[0], make_leaf=True):
        raise KeyError("anything")
    assert registered_hook_count(model) == 0


def test_unarmed_capture_records_nothing_and_require_explains() -> None:
    model = _net()
    with ActivationCapture(model[1]) as capture:
        model(torch.randn(1, 3, 8, 8))                # not started: the hook does nothing
        assert capture.stop() is None
        with pytest.raises(ModelError, match="did not run"):
            capture.require(None)


def test_capture_is_per_thread() -> None:
    """Two threads forward different images through one hooked model at once; each reads its own."""
    model = _net()
    inputs = [torch.full((1, 3, 8, 8), float(i + 1)) for i in range(2)]
    expected = [torch.relu(model[0](x)).detach() for x in inputs]
    barrier = threading.Barrier(2)
    failures: list[str] = []
    with ActivationCapture(model[1]) as capture:

        def worker(i: int) -> None:
            for _ in range(20):
                capture.start()
                barrier.wait()                        # both threads armed before either runs
                model(inputs[i])
                got = capture.stop()
                if got is None or not torch.equal(got, expected[i]):
                    failures.append(f"thread {i} read a foreign capture")
                barrier.wait()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        model(inputs[0])                              # this thread never armed: nothing recorded for it
        assert capture.stop() is None
    assert not failures
    assert registered_hook_count(model) == 0


def test_make_leaf_gives_gradients_without_touching_the_model() -> None:
    model = _net()
    x = torch.randn(2, 3, 8, 8)
    with ActivationCapture(model[1], make_leaf=True) as capture, torch.no_grad():
        capture.start()
        logits = model(x)
        leaf = capture.require(capture.stop())
    torch.set_grad_enabled(True)
    assert leaf.requires_grad and logits.requires_grad
    (grad,) = torch.autograd.grad(logits[:, 1].sum(), leaf)
    # d logit_1 / dA_k(x, y) = W[1, k] / (h·w) through the average pool
    expected = (model[4].weight[1] / 64.0).view(1, 4, 1, 1).expand_as(grad)
    assert torch.allclose(grad, expected, atol=1e-7)
    assert all(p.grad is None for p in model.parameters())


def test_linear_weight_product_satisfies_the_cam_identity() -> None:
    model = _net()
    x = torch.randn(3, 3, 8, 8)
    with ActivationCapture(model[1]) as capture, torch.no_grad():
        capture.start()
        logits = model(x)
        features = capture.require(capture.stop())
    maps = linear_weight_product(features, model[4].weight)
    assert maps.shape == (3, 2, 8, 8)
    assert torch.allclose(maps.mean(dim=(2, 3)) + model[4].bias, logits, atol=1e-5)


def test_transform_and_option_checks() -> None:
    model = _net()
    with ActivationCapture(model[0], transform=torch.relu) as capture, torch.no_grad():
        capture.start()
        model(torch.randn(1, 3, 8, 8))
        assert capture.require(capture.stop()).min() >= 0
    with pytest.raises(ValueError, match="plain captures"):
        ActivationCapture(model[0], make_leaf=True, transform=torch.relu)
    assert registered_hook_count(model) == 0


def test_resolve_module_names_the_top_level_layers() -> None:
    model = _net()
    assert resolve_module(model, "4") is model[4]
    with pytest.raises(ModelError, match="its top-level layers are: 0, 1, 2, 3, 4"):
        resolve_module(model, "head")

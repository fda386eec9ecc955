"""CAM, Grad-CAM and Grad-CAM++: identities, conventions, hooks, threads, an independent check."""

from __future__ import annotations

import gc
import threading

import pytest
import torch
import torchvision
from torch import nn

from cam_core import CAM, GradCAM, GradCAMPlusPlus, ModelError, UnsupportedArchitectureError
from cam_core.engine.architectures import KNOWN_ARCHITECTURES, build_model, resolve_head
from cam_core.engine.hooks import registered_hook_count
from cam_core.engine.methods import make_extractor

SIZE = 96


def _random_model(arch: str, classes: int = 3, seed: int = 0) -> nn.Module:
    """Random weights, with the classifier scaled up so logits are far from zero (a strict identity)."""
    torch.manual_seed(seed)
    model = build_model(arch, classes).eval()
    head = dict(model.named_modules())[resolve_head(model).classifier]
    nn.init.normal_(head.weight, std=0.5)
    if head.bias is not None:
        nn.init.normal_(head.bias, std=0.5)
    return model


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("arch", KNOWN_ARCHITECTURES)
def test_cam_identity_for_every_known_architecture(arch: str, batch: torch.Tensor) -> None:
    """mean over the map of class c + classifier bias = logit c, for every class, one forward pass."""
    model = _random_model(arch)
    with CAM(model) as cam:
        out = cam(batch)
    assert out.maps.shape[:2] == (2, 3)
    assert out.logits.abs().max() > 0.1  # a meaningful check, not 0 == 0
    rebuilt = out.maps.mean(dim=(2, 3)) + out.bias
    torch.testing.assert_close(rebuilt, out.logits, rtol=1e-4, atol=1e-4)
    with torch.inference_mode():
        torch.testing.assert_close(out.logits, model(batch), rtol=1e-4, atol=1e-4)
    assert registered_hook_count(model) == 0


@pytest.mark.parametrize("arch", ["squeezenet1_0", "squeezenet1_1"])
@pytest.mark.parametrize("head_relu", [True, False])
def test_squeezenet_map_is_the_head_output_bias_included_after_relu(arch: str, head_relu: bool,
                                                                    batch: torch.Tensor) -> None:
    """Convention: map_c = act(W_c·A + b_c) from the 1×1 conv head (bias inside, after its ReLU)."""
    torch.manual_seed(0)
    model = build_model(arch, 2, head_relu=head_relu).eval()
    conv = model.classifier[1]
    nn.init.normal_(conv.weight, std=0.5)
    nn.init.constant_(conv.bias, 0.3)
    with CAM(model) as cam:
        out = cam(batch)
    with torch.inference_mode():
        expected = conv(model.features(batch))
        if head_relu:
            expected = torch.relu(expected)
    torch.testing.assert_close(out.maps, expected, rtol=1e-5, atol=1e-5)
    assert torch.count_nonzero(out.bias) == 0
    torch.testing.assert_close(out.maps.mean(dim=(2, 3)), out.logits, rtol=1e-5, atol=1e-5)
    if head_relu:
        assert out.maps.min() >= 0
    else:
        assert out.maps.min() < 0  # signed evidence kept when the head has no ReLU


def test_densenet_maps_use_relu_features(batch: torch.Tensor) -> None:
    model = _random_model("densenet121")
    with CAM(model) as cam:
        out = cam(batch)
    with torch.inference_mode():
        features = torch.relu(model.features(batch))
    expected = torch.einsum("nkhw,ck->nchw", features, model.classifier.weight)
    torch.testing.assert_close(out.maps, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["resnet18", "googlenet", "squeezenet1_1"])
def test_agrees_with_torchcam(arch: str, batch: torch.Tensor) -> None:
    """An independent implementation (torchcam, dev dependency) gives the same raw maps."""
    from torchcam.methods import CAM as TorchCamCAM

    model = _random_model(arch)
    head = resolve_head(model)
    with CAM(model) as cam:
        ours = cam(batch)
    if arch.startswith("squeezenet"):
        # torchcam reads SqueezeNet's 1×1 conv as fc over `features`, without bias or ReLU: compare that part.
        with torch.inference_mode():
            features = model.features(batch)
        conv = model.classifier[1]
        ours_no_bias = torch.relu(torch.einsum("nkhw,ck->nchw", features, conv.weight.flatten(1))
                                  + conv.bias.view(1, -1, 1, 1))
        torch.testing.assert_close(ours.maps, ours_no_bias, rtol=1e-4, atol=1e-4)
        kwargs = {"target_layer": "features", "fc_layer": "classifier.1"}
    else:
        kwargs = {"target_layer": head.feature_layer, "fc_layer": head.classifier}
    with TorchCamCAM(model, input_shape=(3, SIZE, SIZE), **kwargs) as extractor:
        scores = model(batch)
        theirs = extractor(class_idx=[1, 1], scores=scores, normalized=False)[0]
    if arch.startswith("squeezenet"):
        with torch.inference_mode():
            expected = torch.einsum("nkhw,k->nhw", model.features(batch), model.classifier[1].weight[1].flatten())
        torch.testing.assert_close(theirs, expected, rtol=1e-4, atol=1e-4)
    else:
        torch.testing.assert_close(ours.maps[:, 1], theirs, rtol=1e-4, atol=1e-4)
    assert registered_hook_count(model) == 0


@pytest.mark.parametrize("family", ["vgg11", "alexnet", "mobilenet_v3_small"])
def test_multi_fc_networks_are_refused_with_a_pointer_to_gradcam(family: str, batch: torch.Tensor) -> None:
    model = getattr(torchvision.models, family)(weights=None, num_classes=3).eval()
    with pytest.raises(UnsupportedArchitectureError, match="Grad-CAM"):
        CAM(model)
    assert registered_hook_count(model) == 0
    with GradCAM(model) as extractor:  # the suggested alternative does work
        out = extractor(batch[:1])
    assert out.maps.shape[:2] == (1, 3)


def test_wrong_layers_fail_the_identity_check(batch: torch.Tensor) -> None:
    model = _random_model("resnet18")
    with CAM(model, feature_layer="layer3", classifier="fc") as cam, pytest.raises(ModelError):
        cam(batch)
    with pytest.raises(ModelError, match="not found"):
        CAM(model, feature_layer="nope", classifier="fc")


@pytest.mark.parametrize("method", ["cam", "gradcam", "gradcam++"])
@pytest.mark.parametrize("arch", ["squeezenet1_1", "googlenet", "resnet18"])
@pytest.mark.parametrize("n", [1, 3])
def test_method_grid_shapes_and_batch_independence(method: str, arch: str, n: int) -> None:
    """model × method × batch: shapes, finite maps, and each image's maps independent of its batch mates."""
    model = _random_model(arch, classes=2)
    images = torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(n))
    with make_extractor(method, model) as extractor:
        out = extractor(images)
        alone = extractor(images[-1:])
    assert out.maps.shape[:2] == (n, 2) and out.logits.shape == (n, 2)
    assert torch.isfinite(out.maps).all()
    torch.testing.assert_close(out.maps[-1:], alone.maps, rtol=1e-3, atol=1e-4)
    if method != "cam":
        assert out.maps.min() >= 0  # ReLU(Σ α_k A_k), as in the paper
    assert registered_hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())  # nothing written on the shared model


def test_gradcam_matches_a_hand_computation(batch: torch.Tensor) -> None:
    model = _random_model("resnet18")
    with GradCAM(model) as extractor:
        out = extractor(batch, targets=[2])
    trunk = nn.Sequential(*list(model.children())[:-2])
    with torch.enable_grad():
        features = trunk(batch).detach().requires_grad_(True)
        logits = model.fc(torch.flatten(model.avgpool(features), 1))
        (grads,) = torch.autograd.grad(logits[:, 2].sum(), features)
    expected = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * features.detach()).sum(1))
    torch.testing.assert_close(out.maps[:, 0], expected, rtol=1e-4, atol=1e-5)
    assert out.class_indices.tolist() == [[2], [2]]


def test_gradcampp_differs_from_gradcam_and_is_finite(batch: torch.Tensor) -> None:
    model = _random_model("squeezenet1_1")
    with GradCAM(model) as a, GradCAMPlusPlus(model) as b:
        ma, mb = a(batch).maps, b(batch).maps
    assert torch.isfinite(mb).all() and not torch.allclose(ma, mb)


def test_many_classes_gradcam_maps_the_predicted_class() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=1000).eval()
    with GradCAM(model) as extractor:
        out = extractor(torch.randn(2, 3, 64, 64))
    assert out.maps.shape[1] == 1
    assert out.class_indices[:, 0].tolist() == out.logits.argmax(1).tolist()


def test_cam_runs_without_gradients_even_in_inference_mode(batch: torch.Tensor) -> None:
    model = _random_model("resnet18")
    with torch.inference_mode(), CAM(model) as cam:
        out = cam(batch)
    assert not out.maps.requires_grad
    with GradCAM(model) as extractor, torch.inference_mode():  # the gradient family works here too
        assert torch.isfinite(extractor(batch).maps).all()


def test_hooks_are_removed_after_an_exception() -> None:
    model = _random_model("resnet18")
    with pytest.raises(RuntimeError), CAM(model) as cam:
        cam(torch.randn(1, 5, SIZE, SIZE))  # wrong channel count: the forward raises
    assert registered_hook_count(model) == 0
    with pytest.raises(ValueError), GradCAM(model) as extractor:
        extractor(torch.randn(3, SIZE, SIZE))
    assert registered_hook_count(model) == 0
    grad_mode = torch.is_grad_enabled()
    with pytest.raises(RuntimeError), GradCAM(model) as extractor:
        extractor(torch.randn(1, 5, SIZE, SIZE))
    assert torch.is_grad_enabled() == grad_mode and registered_hook_count(model) == 0


def test_closed_extractor_refuses_calls(batch: torch.Tensor) -> None:
    model = _random_model("resnet18")
    cam = CAM(model)
    cam.close()
    cam.close()
    with pytest.raises(ModelError, match="closed"):
        cam(batch)


@pytest.mark.parametrize("method", ["cam", "gradcam"])
def test_two_threads_never_get_each_others_maps(method: str) -> None:
    """One shared model and extractor, two threads explaining different images at the same time."""
    model = _random_model("resnet18", classes=2)
    images = [torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(s)) for s in (10, 20)]
    with make_extractor(method, model) as extractor:
        expected = [extractor(x) for x in images]
        barrier = threading.Barrier(2)
        failures: list[str] = []

        def worker(i: int) -> None:
            barrier.wait()
            for _ in range(15):
                got = extractor(images[i])
                if not (torch.allclose(got.maps, expected[i].maps, atol=1e-5)
                        and torch.allclose(got.logits, expected[i].logits, atol=1e-5)):
                    failures.append(f"thread {i} got foreign maps")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures
    assert registered_hook_count(model) == 0


def test_extractors_in_a_loop_release_memory() -> None:
    """Creating and closing many extractors leaves no hooks and no growing set of live tensors."""
    model = _random_model("squeezenet1_1")
    x = torch.randn(1, 3, SIZE, SIZE)

    def live_tensors() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    for _ in range(3):
        with CAM(model) as cam:
            cam(x)
    baseline = live_tensors()
    for _ in range(50):
        with make_extractor("gradcam", model) as extractor:
            extractor(x)
        with CAM(model) as cam:
            cam(x)
    assert registered_hook_count(model) == 0
    assert live_tensors() - baseline < 10

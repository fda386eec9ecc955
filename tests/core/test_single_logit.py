"""Single-output heads: one logit z, P(defect) = σ(z), stored as the two-class head (±w/2, ±b/2).

The claims checked: softmax gives exactly σ(z); the defect − other map is exactly w·A; the CAM identity
holds per row; and the evidence maps equal those of *any* two-class head with the same logit difference
(the same evidence scale as two-class models).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from cam_core.engine import build_model, single_logit_as_two_class
from cam_core.errors import InputError
from cam_core.explain import Explainer, Explanation
from cam_core.interop import import_weights
from cam_core.models import load_model

IMAGE = Image.fromarray(np.random.default_rng(3).integers(0, 255, (100, 140, 3), dtype=np.uint8))


@pytest.fixture(autouse=True)
def models_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(tmp_path / "user_models"))


def explanation(maps: np.ndarray, logits: np.ndarray) -> Explanation:
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return Explanation(classes=("ok", "ng"), defect_index=1, probabilities=probabilities, logits=logits, maps=maps,
                       class_indices=(0, 1), image_size=(7, 7), method="cam", layer="features")


@pytest.mark.parametrize("positive", [0, 1])
def test_two_class_form_is_exact_and_on_the_two_class_evidence_scale(positive: int) -> None:
    gen = torch.Generator().manual_seed(positive)
    w, b = torch.randn(1, 8, generator=gen), torch.randn(1, generator=gen)
    features = torch.randn(8, 5, 5, generator=gen)
    weight, bias = single_logit_as_two_class(w, b, positive)
    maps = torch.einsum("khw,ck->chw", features, weight)
    logits = maps.mean(dim=(1, 2)) + bias
    z = (w @ features.mean(dim=(1, 2)) + b)[0]
    assert torch.allclose(logits, features.mean(dim=(1, 2)) @ weight.T + bias, atol=1e-6)  # CAM identity per row
    assert torch.isclose(torch.softmax(logits, 0)[positive], torch.sigmoid(z), atol=1e-7)
    direct = torch.einsum("khw,k->hw", features, w[0])
    assert torch.allclose(maps[positive] - maps[1 - positive], direct, atol=1e-5)         # difference map = w·A
    # any other split with W_pos − W_neg = w gives the same probabilities and evidence maps
    shift = torch.randn(1, 8, generator=gen)
    other = torch.zeros(2, 8)
    other[positive], other[1 - positive] = (w + shift)[0], shift[0]
    other_maps = torch.einsum("khw,ck->chw", features, other)
    other_bias = torch.zeros(2)
    other_bias[positive] = b[0]
    ours = explanation(maps.numpy(), logits.numpy())
    theirs = explanation(other_maps.numpy(), (other_maps.mean(dim=(1, 2)) + other_bias).numpy())
    assert np.allclose(ours.probabilities, theirs.probabilities, atol=1e-6)
    assert np.allclose(ours.evidence(), theirs.evidence(), atol=1e-5)
    assert np.allclose(ours.evidence()[positive], direct.numpy() / 2, atol=1e-5)
    assert np.allclose(ours.evidence()[positive], -ours.evidence()[1 - positive], atol=1e-6)


def test_imported_single_logit_resnet_matches_its_sigmoid_and_maps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(4)
    original = torchvision.models.resnet18(num_classes=1).eval()
    torch.nn.init.normal_(original.fc.weight, std=0.2)
    torch.save(original.state_dict(), tmp_path / "binary.pt")
    result = import_weights(tmp_path / "binary.pt", "ok,ng", input_size=96)
    assert result.card["head_type"] == "single-logit" and result.card["defect_class"] == "ng"
    assert "sigmoid(z)" in result.card["origin"]["head"]
    bundle = load_model(result.name, device="cpu")
    with Explainer(bundle) as explainer:
        got = explainer.explain_one(IMAGE)
    features: list[torch.Tensor] = []
    hook = original.layer4.register_forward_hook(lambda m, i, o: features.append(o))
    with torch.no_grad():
        z = original(bundle.preprocess([IMAGE]).contiguous())[0, 0]
    hook.remove()
    w_a = torch.einsum("khw,k->hw", features[0][0], original.fc.weight[0].detach()).numpy()
    assert w_a.std() > 0.05 and abs(z.item()) > 0.05   # maps and logit far from trivial
    assert abs(got.probabilities[1] - torch.sigmoid(z).item()) < 1e-6
    assert abs((got.logits[1] - got.logits[0]) - z.item()) < 1e-4
    assert np.abs((got.maps[1] - got.maps[0]) - w_a).max() < 1e-4
    assert np.abs(got.evidence()[1] - w_a / 2).max() < 1e-4
    bias = bundle.model.state_dict()["fc.bias"].numpy()
    assert np.abs(got.maps.mean(axis=(1, 2)) + bias - got.logits).max() < 1e-4


def test_defect_class_first_and_named_by_the_user(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(5)
    model = build_model("resnet18", 1).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "one.safetensors"))
    result = import_weights(tmp_path / "one.safetensors", "crack,pass", defect_class="crack", input_size=64)
    bundle = load_model(result.name, device="cpu")
    batch = bundle.preprocess([IMAGE])
    with torch.no_grad():
        z = model(batch)[0, 0]
        p = torch.softmax(bundle.model(batch), 1)[0]
    assert result.card["defect_class"] == "crack" and abs(p[0].item() - torch.sigmoid(z).item()) < 1e-6
    with pytest.raises(InputError, match="--defect-class"):
        import_weights(tmp_path / "one.safetensors", "left,right", name="x", input_size=64)
    with pytest.raises(InputError, match="one logit"):
        import_weights(tmp_path / "one.safetensors", "ok,ng,dent", name="y", input_size=64)
    squeeze = build_model("squeezenet1_1", 1)
    save_file({k: v.contiguous() for k, v in squeeze.state_dict().items()}, str(tmp_path / "sq.safetensors"))
    with pytest.raises(InputError, match="followed by a ReLU"):
        import_weights(tmp_path / "sq.safetensors", "ok,ng", input_size=64)

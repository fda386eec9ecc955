"""Evidence maps: centred class maps on a scale symmetric around zero (the default everywhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.checkpoints import ModelBundle, ModelCard, defect_class_index
from cam_core.engine.architectures import build_model
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.explain.render import DEFAULT_MODE, colorbar, normalize_maps, scale_words, symmetric_range


def _bundle(arch: str = "resnet18", classes: tuple[str, ...] = ("ok", "ng"), seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    model = build_model(arch, len(classes), head_relu=False).eval()
    head = dict(model.named_modules())["classifier.1" if arch.startswith("squeezenet") else "fc"]
    torch.nn.init.normal_(head.weight, std=0.2)
    if getattr(head, "bias", None) is not None:
        torch.nn.init.normal_(head.bias, std=1.0)
    for p in model.parameters():
        p.requires_grad_(False)
    return ModelBundle(name="t", model=model, card=ModelCard(arch=arch, classes=classes, input_size=(64, 64)))


def _image(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (70, 90, 3), dtype=np.uint8))


def _explanation(maps: np.ndarray, classes: tuple[str, ...] = ("ok", "ng"), method: str = "cam") -> Explanation:
    logits = maps.mean(axis=(1, 2))
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    return Explanation(classes=classes, defect_index=defect_class_index(classes), probabilities=probs, logits=logits, maps=maps,
                       class_indices=tuple(range(len(classes))), image_size=(32, 32), method=method, layer="x")


@pytest.mark.parametrize(("arch", "classes"), [("resnet18", ("ok", "ng")), ("squeezenet1_1", ("ok", "ng")),
                                               ("resnet18", ("ok", "scratch", "dent"))])
def test_centred_cam_identity_and_softmax_are_kept(arch: str, classes: tuple[str, ...]) -> None:
    bundle = _bundle(arch, classes)
    head = dict(bundle.model.named_modules())["classifier.1" if arch.startswith("squeezenet") else "fc"]
    bias = np.zeros(len(classes)) if arch.startswith("squeezenet") else head.bias.numpy()
    with Explainer(bundle) as explainer:
        e = explainer.explain_one(_image())
    centred = e.evidence()
    np.testing.assert_allclose(centred.mean(axis=(1, 2)) + (bias - bias.mean()), e.logits - e.logits.mean(),
                               atol=1e-4, rtol=1e-4)
    z = e.logits - e.logits.mean()
    np.testing.assert_allclose(np.exp(z) / np.exp(z).sum(), e.probabilities, atol=1e-5)
    np.testing.assert_allclose(centred.sum(axis=0), 0.0, atol=1e-4)


def test_two_class_evidence_is_half_the_difference_and_antisymmetric() -> None:
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(2, 7, 7)).astype(np.float32)
    e = _explanation(maps)
    np.testing.assert_allclose(e.evidence_of(1), (maps[1] - maps[0]) / 2, atol=1e-6)
    np.testing.assert_allclose(e.evidence_of(0), -e.evidence_of(1), atol=1e-6)


def test_a_clean_part_whose_raw_ng_map_is_high_everywhere_reads_cold() -> None:
    """The reported bug: raw NG map in the top of the shared scale although OK wins at every cell."""
    ok = np.full((7, 7), 12.0, dtype=np.float32)
    ok[:, :3] = -40.0                                                           # a strongly negative OK region
    ng = ok - 0.5                                                               # OK wins everywhere by 0.5
    e = _explanation(np.stack([ok, ng]))
    raw_shared, _ = e.normalized("shared")
    assert (raw_shared[1] >= 0.75).mean() > 0.5                                 # raw: NG map mostly "hot"
    scaled, (lo, hi) = e.normalized()                                           # default: positive halves
    assert DEFAULT_MODE == "certainty" and lo == -hi                           # centred, symmetric
    assert (scaled[1] < 0.5).all() and (scaled[0] > 0.5).all()                 # NG against, OK for, everywhere


def test_a_defect_is_the_only_hot_place_of_the_ng_map() -> None:
    ok = np.full((7, 7), 2.0, dtype=np.float32)
    ng = np.full((7, 7), 1.0, dtype=np.float32)
    ng[2, 4] = 6.0                                                              # the defect
    scaled, _ = _explanation(np.stack([ok, ng])).normalized()
    hot = scaled[1] >= 0.75
    assert hot[2, 4] and hot.sum() == 1


def test_gradient_maps_are_not_centred() -> None:
    maps = np.abs(np.random.default_rng(2).normal(size=(2, 5, 5))).astype(np.float32)
    e = _explanation(maps, method="gradcam")
    assert not e.is_centrable and e.evidence() is maps


def test_evidence_scale_puts_zero_in_the_middle() -> None:
    maps = np.array([[[-2.0, 0.0], [1.0, 0.5]]], dtype=np.float32)
    scaled, scale = normalize_maps(maps, "evidence")
    assert scale == symmetric_range(maps) == (-2.0, 2.0)
    np.testing.assert_allclose(scaled[0], [[0.0, 0.5], [0.75, 0.625]])
    flat, _ = normalize_maps(np.zeros((1, 3, 3), dtype=np.float32), "evidence")
    assert np.all(flat == 0.5)
    fixed, used = normalize_maps(maps, "evidence", value_range=(-4.0, 4.0))
    assert used == (-4.0, 4.0) and fixed[0, 0, 0] == pytest.approx(0.25)


def test_colour_bar_and_words() -> None:
    bar = colorbar("jet", (-3.0, 3.0), "evidence", width=200, height=30)
    assert bar.size == (200, 30)
    pixels = np.asarray(bar)
    assert pixels[2, 0, 2] > pixels[2, 0, 0] and pixels[2, -1, 0] > pixels[2, -1, 2]   # blue … red
    assert "evidence for NG" in scale_words("evidence", "NG") and "against" in scale_words("evidence", "NG")

"""The one explain pipeline (cam_core.explain.pipeline): batching, order, the CAM identity through it,
evidence maps, overlays, records, and that its hook is gone when it is closed."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import make_checkpoint
from PIL import Image

from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model


@pytest.fixture(scope="module")
def resnet_bundle(tmp_path_factory: pytest.TempPathFactory):
    path = make_checkpoint(tmp_path_factory.mktemp("pipe") / "resnet-pipe.safetensors", arch="resnet18",
                           classes=("ok", "scratch", "dent"), seed=3)
    return load_model(path, device="cpu")


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_batches_give_the_same_answers_as_one_at_a_time_and_keep_the_order(resnet_bundle,
                                                                            part_images: list[Image.Image]) -> None:
    images = part_images + [im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for im in part_images]
    with Explainer(resnet_bundle, batch_size=4) as batched, Explainer(resnet_bundle, batch_size=1) as single:
        together = batched.explain(images)
        alone = [single.explain_one(im) for im in images]
    assert [e.image_size for e in together] == [im.size for im in images]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.logits, b.logits, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(a.maps, b.maps, rtol=1e-4, atol=1e-4)
    assert len({round(float(e.logits[0]), 4) for e in together}) > 1   # different images, different answers


def test_the_cam_identity_holds_through_the_pipeline(resnet_bundle, part_images: list[Image.Image]) -> None:
    bias = dict(resnet_bundle.model.named_modules())["fc"].bias.detach().numpy()
    with Explainer(resnet_bundle) as explainer:
        for explanation in explainer.explain(part_images):
            assert explanation.maps.shape[0] == 3
            np.testing.assert_allclose(explanation.maps.mean(axis=(1, 2)) + bias, explanation.logits,
                                       rtol=1e-4, atol=1e-4)
            softmax = np.exp(explanation.logits) / np.exp(explanation.logits).sum()
            np.testing.assert_allclose(explanation.probabilities, softmax, rtol=1e-5)


def test_evidence_is_centred_and_keeps_the_identity_of_the_differences(resnet_bundle,
                                                                       part_images: list[Image.Image]) -> None:
    bias = dict(resnet_bundle.model.named_modules())["fc"].bias.detach().numpy()
    with Explainer(resnet_bundle) as explainer:
        explanation = explainer.explain_one(part_images[0])
    evidence = explanation.evidence()
    np.testing.assert_allclose(evidence.sum(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(evidence.mean(axis=(1, 2)) + (bias - bias.mean()),
                               explanation.logits - explanation.logits.mean(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(explanation.evidence_of(1), evidence[1])


def test_overlays_records_and_peaks_are_in_the_image(resnet_bundle, part_images: list[Image.Image]) -> None:
    image = part_images[2]
    with Explainer(resnet_bundle) as explainer:
        explanation = explainer.explain_one(image)
    overlays = explanation.overlays(image, opacity=0.4)
    assert sorted(overlays) == ["dent", "ok", "scratch"]
    assert all(o.size == image.size for o in overlays.values())
    assert not np.array_equal(np.asarray(overlays["ok"]), np.asarray(image.convert("RGB")))
    pictures, (lo, hi) = explanation.class_overlays(image, [0, 1])
    assert sorted(pictures) == [0, 1] and lo < hi
    record = json.loads(json.dumps(explanation.as_record()))
    assert record["predicted"] == explanation.predicted_class
    assert abs(sum(record["probabilities"].values()) - 1) < 1e-4
    for x, y in explanation.peaks().values():
        assert 0 <= x < image.width and 0 <= y < image.height
    assert explanation.upsampled().shape == (3, image.height, image.width)


def test_closing_removes_the_hook_even_after_an_error(resnet_bundle) -> None:
    model = resnet_bundle.model
    before = _hooks(model)
    with pytest.raises(RuntimeError, match="boom"), Explainer(resnet_bundle):
        assert _hooks(model) > before
        raise RuntimeError("boom")
    assert _hooks(model) == before


def test_grey_arrays_and_rgba_pictures_are_explained_as_their_rgb_picture(resnet_bundle,
                                                                          part_images: list[Image.Image]) -> None:
    rgb = part_images[1]
    grey = np.asarray(rgb.convert("L"))
    rgba = rgb.copy()
    rgba.putalpha(255)
    with Explainer(resnet_bundle) as explainer:
        from_grey, from_grey_rgb, from_rgba, from_rgb = explainer.explain(
            [grey, Image.fromarray(grey).convert("RGB"), rgba, rgb])
    np.testing.assert_allclose(from_grey.logits, from_grey_rgb.logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(from_rgba.logits, from_rgb.logits, rtol=1e-4, atol=1e-4)
    assert from_grey.image_size == (grey.shape[1], grey.shape[0])


def test_the_model_cards_defect_class_travels_with_every_explanation(tmp_path, part_images) -> None:
    """A card that names its own defect class ("scratch" is not one of the names the rule knows) decides the
    verdict, the map order, the scores and the report's localization, not the class names."""
    from cam_core.checkpoints import save_checkpoint
    from cam_core.engine.architectures import build_model
    from cam_core.explain import score_row, shown_classes, verdict_of

    torch.manual_seed(1)
    model = build_model("resnet18", 2, head_relu=False)
    path = save_checkpoint(model, tmp_path / "line9.safetensors",
                           {"arch": "resnet18", "classes": ["scratch", "good"], "input_size": [96, 96],
                            "head_relu": False, "defect_class": "scratch"})
    bundle = load_model(path, device="cpu")
    with Explainer(bundle) as explainer:
        explanation = explainer.explain_one(part_images[0])
    assert explanation.defect_index == 0 == bundle.card.defect_index
    verdict = verdict_of(explanation)
    assert verdict.positive_probability == pytest.approx(float(explanation.probabilities[0]))
    assert shown_classes(explanation) == [1, 0]                   # the defect class last: good | scratch
    assert score_row("a.png", explanation)["defect_probability"] == f"{explanation.probabilities[0]:.6f}"
    unnamed = dataclasses.replace(explanation, defect_index=None)   # a model without a defect class
    assert verdict_of(unnamed).positive_probability is None and verdict_of(unnamed).kind == "other"

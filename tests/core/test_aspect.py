"""Aspect-preserving input (``resize="aspect"``): sizing, batching by size, training, augmentation, the card."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import cam_core.training as training
from cam_core.checkpoints import ModelBundle, fitted_input_size, read_card, save_checkpoint
from cam_core.engine.architectures import build_model
from cam_core.engine.hooks import registered_hook_count
from cam_core.errors import InputError, ModelError
from cam_core.evaluation import evaluate
from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model
from cam_core.progress import Progress
from cam_core.training import TrainConfig, train_model


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_download(weights: object) -> dict:
        raise OSError("network disabled in tests")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("CAM_INSPECTOR_OFFLINE", "1")


# --------------------------------------------------------------------------- sizing
def test_square_mode_always_gives_the_base_size() -> None:
    for w, h in [(1, 1), (500, 200), (64, 640), (224, 224)]:
        assert fitted_input_size(w, h, (224, 224), "square") == (224, 224)


@pytest.mark.parametrize("width,height", [(224, 224), (500, 200), (200, 500), (100, 250), (640, 480), (330, 331)])
def test_aspect_mode_keeps_shape_area_and_stride(width: int, height: int) -> None:
    h, w = fitted_input_size(width, height, (224, 224), "aspect")
    assert h % 32 == 0 and w % 32 == 0
    assert abs(math.log((w / h) / (width / height))) < 0.35, (w, h)      # within one step + rounding to 32
    assert 0.7 < (h * w) / 224**2 < 1.35


def test_aspect_mode_clamps_extreme_shapes_and_tiny_images() -> None:
    assert fitted_input_size(20000, 50, (224, 224), "aspect") == fitted_input_size(3000, 1000, (224, 224), "aspect")
    h, w = fitted_input_size(1, 1, (224, 224), "aspect")
    assert (h, w) == (224, 224)
    assert min(fitted_input_size(3, 1, (32, 32), "aspect")) >= 32
    with pytest.raises(ValueError, match="resize"):
        fitted_input_size(10, 10, (224, 224), "stretch")


def test_similar_shapes_share_a_size() -> None:
    """Rounding the aspect ratio is what lets a folder of slightly different crops be batched."""
    sizes = {fitted_input_size(w, 200, (224, 224), "aspect") for w in range(390, 411)}
    assert len(sizes) == 1


# --------------------------------------------------------------------------- explaining
def _aspect_bundle(tmp_path: Path) -> ModelBundle:
    torch.manual_seed(0)
    model = build_model("squeezenet1_1", 2, head_relu=False).eval()
    path = save_checkpoint(model, tmp_path / "aspect.safetensors",
                           {"arch": "squeezenet1_1", "classes": ["ok", "ng"], "input_size": [128, 128],
                            "resize": "aspect", "head_relu": False}, half=False)
    return load_model(str(path), device="cpu")


def _images(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    shapes = [(300, 100), (100, 300), (128, 128), (310, 100), (90, 280), (200, 150)]
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in shapes]


def test_mixed_shapes_are_explained_in_order_with_maps_of_their_own_shape(tmp_path: Path) -> None:
    bundle = _aspect_bundle(tmp_path)
    assert bundle.card.resize == "aspect"
    images = _images()
    with Explainer(bundle, batch_size=2) as explainer:
        together = explainer.explain(images)
        alone = [explainer.explain_one(image) for image in images]
    assert [e.image_size for e in together] == [im.size for im in images]
    wide, tall = together[0].maps.shape[-2:], together[1].maps.shape[-2:]
    assert wide[1] > wide[0] and tall[0] > tall[1], (wide, tall)
    for a, b in zip(together, alone):
        assert a.maps.shape == b.maps.shape
        np.testing.assert_allclose(a.logits, b.logits, rtol=1e-4, atol=1e-4)
    # CAM identity on a non-square map: mean(map_c) + b_c = logit_c
    bias = bundle.model.classifier[1].bias.detach().numpy()
    for e in together:
        np.testing.assert_allclose(e.maps.reshape(2, -1).mean(axis=1) + bias, e.logits, rtol=1e-4, atol=1e-4)
    assert registered_hook_count(bundle.model) == 0


def test_flip_average_works_on_non_square_maps(tmp_path: Path) -> None:
    bundle = _aspect_bundle(tmp_path)
    with Explainer(bundle, flip_average=True) as explainer:
        out = explainer.explain(_images()[:2])
    bias = bundle.model.classifier[1].bias.detach().numpy()
    for e in out:
        np.testing.assert_allclose(e.maps.reshape(2, -1).mean(axis=1) + bias, e.logits, rtol=1e-4, atol=1e-4)


def test_card_with_an_unknown_resize_mode_is_refused(tmp_path: Path) -> None:
    model = build_model("squeezenet1_1", 2, head_relu=False)
    path = save_checkpoint(model, tmp_path / "bad.safetensors",
                           {"arch": "squeezenet1_1", "classes": ["ok", "ng"], "input_size": [64, 64],
                            "resize": "stretch"})
    with pytest.raises(ModelError, match="resize"):
        read_card(path)


# --------------------------------------------------------------------------- augmentation
def test_non_square_augmentation_moves_masks_with_the_image() -> None:
    images = torch.zeros((4, 3, 60, 150), dtype=torch.uint8)
    masks = torch.zeros((4, 1, 60, 150), dtype=torch.uint8)
    for i in range(4):
        y, x = 10 + 8 * i, 20 + 25 * i
        images[i, :, y:y + 14, x:x + 14] = 255
        masks[i, :, y:y + 14, x:x + 14] = 255
    x, m = training.augment_with_masks(images, masks, (64, 160), torch.Generator().manual_seed(5))
    assert x.shape == (4, 3, 64, 160) and m is not None and m.shape == (4, 1, 64, 160)
    bright, inside = x.mean(dim=1) > 0.5, m[:, 0] > 0.5
    for i in range(4):
        overlap = (bright[i] & inside[i]).sum() / (bright[i] | inside[i]).sum()
        assert overlap > 0.8, f"image {i}: overlap {float(overlap):.2f}"
        # a square stays about square: the rotation is a rotation in pixels, not in [-1, 1]² coordinates
        ys, xs = torch.nonzero(inside[i], as_tuple=True)
        ratio = float(xs.max() - xs.min() + 1) / float(ys.max() - ys.min() + 1)
        assert 0.75 < ratio < 1.33, f"image {i}: the square became {ratio:.2f}:1"


# --------------------------------------------------------------------------- training
def _mixed_shape_blobs(root: Path, n: int = 48, seed: int = 0) -> Path:
    """ok = noise, ng = noise + a bright disc (mask in masks/); wide, tall and square images."""
    rng = np.random.default_rng(seed)
    for d in ("ok", "ng", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shapes = [(120, 48), (48, 120), (80, 80)]
    for i in range(n):
        w, h = shapes[i % 3]
        image = Image.fromarray(rng.normal(90, 25, (h, w)).clip(0, 255).astype(np.uint8)).convert("RGB")
        if i % 2:
            r = 6
            cx, cy = int(rng.integers(r + 2, w - r - 2)), int(rng.integers(r + 2, h - r - 2))
            mask = Image.new("L", (w, h), 0)
            ImageDraw.Draw(mask).ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
            image.paste((235, 235, 235), mask=mask)
            mask.save(root / "masks" / f"ng_{i:03d}.png")
            image.save(root / "ng" / f"ng_{i:03d}.png")
        else:
            image.save(root / "ok" / f"ok_{i:03d}.png")
    return root


def test_aspect_training_learns_records_the_mode_and_evaluates(tmp_path: Path) -> None:
    data = _mixed_shape_blobs(tmp_path / "data")
    events: list[Progress] = []
    result = train_model(data, tmp_path / "m.safetensors",
                         TrainConfig(arch="squeezenet1_1", epochs=6, image_size=96, batch_size=8, pretrained="none",
                                     resize="aspect"), progress=events.append)
    assert result.path is not None
    card = read_card(result.path)
    assert card["resize"] == "aspect" and card["training"]["resize"].startswith("aspect")
    assert card["training"]["mask_loss"]["used"]
    assert any("input sizes" in e.message for e in events if e.stage == "message")
    steps = {e.fields["steps"] for e in events if e.stage == "batch"}
    assert len(steps) == 1
    assert sum(1 for e in events if e.stage == "batch" and e.fields["epoch"] == 1) == steps.pop()
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.card["validation"]["auroc"] >= 0.9, [h.val_auroc for h in result.history]
    bundle = load_model(str(result.path), device="cpu")
    with Explainer(bundle) as explainer:
        report = evaluate(data, explainer)
        wide = explainer.explain_one(Image.open(data / "ok" / "ok_000.png"))      # 120×48
    assert report.auroc >= 0.9
    assert report.overall["pointing"] >= 0.6 and report.overall["energy_ratio"] > 3, report.overall
    assert wide.maps.shape[-1] > 2 * wide.maps.shape[-2], wide.maps.shape


def test_config_rejects_an_unknown_resize_mode() -> None:
    with pytest.raises(InputError, match="resize"):
        TrainConfig(arch="squeezenet1_1", resize="stretch").validate()

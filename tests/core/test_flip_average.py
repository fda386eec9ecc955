"""Flip-averaged CAM: two passes (image and mirror), maps and logits averaged, the CAM identity kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_checkpoint
from PIL import Image, ImageOps

from cam_core.cli import main
from cam_core.engine.hooks import registered_hook_count
from cam_core.errors import InputError
from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model


@pytest.mark.parametrize("arch", ["squeezenet1_1", "resnet18"])
def test_flip_average_is_the_mean_of_both_passes_and_keeps_the_identity(
        tmp_path: Path, part_images: list[Image.Image], arch: str) -> None:
    bundle = load_model(str(make_checkpoint(tmp_path / f"{arch}.safetensors", arch=arch)), device="cpu")
    with Explainer(bundle, "cam") as plain, Explainer(bundle, "cam", flip_average=True) as flipped:
        averaged = flipped.explain(part_images)
        for image, result in zip(part_images, averaged):
            a = plain.explain_one(image)
            b = plain.explain_one(ImageOps.mirror(image))
            assert np.allclose(result.maps, (a.maps + b.maps[..., ::-1]) / 2, atol=1e-5)
            assert np.allclose(result.logits, (a.logits + b.logits) / 2, atol=1e-5)
            softmax = np.exp(result.logits) / np.exp(result.logits).sum()
            assert np.allclose(result.probabilities, softmax, atol=1e-6)
            # CAM identity on the averaged maps: mean(map_c) + b_c = logit_c (b = 0 for SqueezeNet's conv head)
            head = dict(bundle.model.named_modules())["classifier.1" if arch.startswith("squeezenet") else "fc"]
            bias = head.bias.detach().numpy() if arch == "resnet18" else np.zeros(2)
            assert np.allclose(result.maps.mean(axis=(1, 2)) + bias, result.logits, atol=1e-4)
            assert not np.allclose(result.maps, a.maps, atol=1e-4)   # the mirror pass really contributed
    assert registered_hook_count(bundle.model) == 0


def test_flip_average_refuses_gradient_methods_without_leaking_hooks(squeeze_checkpoint: Path) -> None:
    bundle = load_model(str(squeeze_checkpoint), device="cpu")
    with pytest.raises(InputError, match="CAM only"):
        Explainer(bundle, "gradcam", flip_average=True)
    assert registered_hook_count(bundle.model) == 0


def test_cli_flip_average(tmp_path: Path, squeeze_checkpoint: Path, part_images: list[Image.Image],
                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "part.png"
    part_images[0].save(path)
    assert main(["explain", str(path), "--model", str(squeeze_checkpoint), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out.splitlines()[0])
    assert main(["explain", str(path), "--model", str(squeeze_checkpoint), "--json", "--flip-average"]) == 0
    flipped = json.loads(capsys.readouterr().out.splitlines()[0])
    assert plain["probabilities"] != flipped["probabilities"]
    assert main(["explain", str(path), "--model", str(squeeze_checkpoint), "--method", "gradcam",
                 "--flip-average"]) == 2
    assert "CAM only" in capsys.readouterr().err

"""The deletion curve: mask-free faithfulness of a map (cam_core.evaluation.deletion), and its place in evaluate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.evaluation import evaluate, format_report
from cam_core.evaluation.deletion import DeletionResult, blurred, deletion_curves, deletion_summary
from cam_core.explain import Explainer
from cam_core.models import load_model
from tests.conftest import make_checkpoint


def test_area_is_the_trapezoid_rule_over_equal_steps() -> None:
    result = DeletionResult(curve=(1.0, 0.5, 0.0), random_curve=(1.0, 1.0, 1.0))
    assert result.auc == pytest.approx((0.75 + 0.25) / 2)
    assert result.random_auc == pytest.approx(1.0)
    summary = deletion_summary([result, DeletionResult(curve=(1.0, 1.0, 1.0), random_curve=(1.0, 0.0, 0.0))])
    assert summary["n"] == 2 and summary["beats_random"] == 0.5
    assert np.isnan(deletion_summary([])["auc"])


def test_blur_keeps_a_flat_image_flat_and_softens_an_edge() -> None:
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(blurred(flat), flat, atol=1e-6)
    edge = torch.zeros(1, 3, 32, 32)
    edge[..., 16:] = 1.0
    soft = blurred(edge)
    assert 0.05 < float(soft[0, 0, 0, 15]) < 0.95 and float(soft[0, 0, 0, 0]) == pytest.approx(0.0, abs=1e-6)


class _SpotModel:
    """P(defect) rises with the brightness of the 8×8 square at (8, 8): what a faithful map should point at."""

    def __init__(self) -> None:
        self.bundle = SimpleNamespace(
            preprocess=lambda images, size: torch.from_numpy(np.stack([np.asarray(i, np.float32) / 255 for i in images])
                                                             ).permute(0, 3, 1, 2),
            input_size_for=lambda image: (32, 32))
        self.batch_size = 5

    def extractor(self, batch: torch.Tensor, targets: Any) -> SimpleNamespace:
        spot = batch[:, :, 8:16, 8:16].mean(dim=(1, 2, 3))
        p = torch.sigmoid(12 * (spot - 0.5))
        return SimpleNamespace(probabilities=torch.stack([1 - p, p], dim=1))


def test_a_map_on_what_the_model_uses_falls_faster_than_random() -> None:
    pixels = np.full((32, 32, 3), 40, np.uint8)
    pixels[8:16, 8:16] = 250
    image = Image.fromarray(pixels)
    model = _SpotModel()
    p0 = float(model.extractor(model.bundle.preprocess([image], None), None).probabilities[0, 1])
    right = np.zeros((4, 4))
    right[1, 1] = 5.0                            # the cell over the bright square (8-px cells)
    wrong = np.zeros((4, 4))
    wrong[3, 3] = 5.0
    good = deletion_curves(model, image, right, 1, p0, seed=1)  # type: ignore[arg-type]
    bad = deletion_curves(model, image, wrong, 1, p0, seed=1)   # type: ignore[arg-type]
    assert len(good.curve) == len(good.random_curve) == 9 and good.curve[0] == p0
    assert good.curve[-1] == pytest.approx(good.random_curve[-1])       # both end at the fully blurred image
    assert good.auc < good.random_auc
    assert good.auc < bad.auc
    assert good.random_curve == bad.random_curve                          # same seed, same random order


def test_evaluate_reports_the_deletion_area(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for label in ("ok", "ng"):
        (tmp_path / "set" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "set" / label / f"{i}.png")
    bundle = load_model(make_checkpoint(tmp_path / "m.safetensors", input_size=48), device="cpu")
    with Explainer(bundle) as explainer:
        report = evaluate(tmp_path / "set", explainer, deletion_images=2)
        off = evaluate(tmp_path / "set", explainer, deletion_images=0)
    assert report.deletion["n"] == 2
    assert 0.0 <= report.deletion["auc"] <= 1.0 and 0.0 <= report.deletion["random_auc"] <= 1.0
    scored = [r for r in report.per_image if r.get("deletion_auc") is not None]
    assert len(scored) == 2 and all(r["label"] == "ng" for r in scored)
    assert "Deletion curve" in format_report(report)
    assert off.deletion["n"] == 0 and "Deletion curve" not in format_report(off)
    assert report.to_json()["deletion"]["n"] == 2

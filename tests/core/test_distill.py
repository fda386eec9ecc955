"""Distillation: the loss terms, the teacher's outputs and their cache, images without labels, the card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cam_core.checkpoints import read_card
from cam_core.engine.architectures import build_model
from cam_core.errors import InputError
from cam_core.explain import Explainer
from cam_core.files import sha256_of
from cam_core.models import load_model
from cam_core.training import PointingLoss, TrainConfig, augment_with_masks, scan_dataset, train_model
from cam_core.training.augment import augment_with_maps
from cam_core.training.distill import UNLABELLED, DistillLoss, DistillSettings, Teacher, distill_terms
from cam_core.training.distill_setup import take_unlabelled
from tests.conftest import make_checkpoint
from tests.core.test_training import make_blobs


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("CAM_INSPECTOR_OFFLINE", "1")


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("teacher") / "teacher.safetensors", input_size=64, seed=3)


# --------------------------------------------------------------------------- the loss terms
def test_kl_term_is_zero_for_equal_logits_and_positive_otherwise() -> None:
    torch.manual_seed(0)
    z = torch.randn(5, 2)
    maps = torch.randn(5, 4, 4)
    kl, _ = distill_terms(z, z.clone(), maps, maps, temperature=4.0)
    assert float(kl) == pytest.approx(0.0, abs=1e-6)
    shifted, _ = distill_terms(z, z + 7.0, maps, maps, temperature=4.0)      # softmax ignores a common shift
    assert float(shifted) == pytest.approx(0.0, abs=1e-5)
    t = 2.0
    teacher = z + torch.tensor([0.0, 3.0])
    kl_other, _ = distill_terms(z, teacher, maps, maps, temperature=t)
    p, q = torch.softmax(z / t, 1), torch.softmax(teacher / t, 1)
    by_hand = (q * (q.log() - p.log())).sum(1).mean() * t * t              # T² · KL(teacher ‖ student)
    assert float(kl_other) > 1e-3
    assert float(kl_other) == pytest.approx(float(by_hand), rel=1e-5)


def test_map_term_is_zero_for_the_same_map_up_to_scale_and_offset() -> None:
    torch.manual_seed(1)
    z = torch.randn(3, 2)
    maps = torch.randn(3, 6, 6)
    _, same = distill_terms(z, z, maps, maps, 1.0)
    _, scaled = distill_terms(z, z, maps, 3.0 * maps + 5.0, 1.0)
    _, opposite = distill_terms(z, z, maps, -maps, 1.0)
    _, other = distill_terms(z, z, maps, torch.randn(3, 6, 6), 1.0)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert float(scaled) == pytest.approx(0.0, abs=1e-6)
    assert float(opposite) == pytest.approx(2.0, abs=1e-5)
    assert 0.3 < float(other) < 1.7


def test_student_evidence_matches_cam_and_the_map_term_vanishes_on_it(teacher_file: Path) -> None:
    """The student's map read by the loss is the app's NG evidence map (CAM, centred) at its own grid."""
    bundle = load_model(teacher_file, device="cpu")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with Explainer(bundle) as explainer:
        explanation = explainer.explain_one(image)
    loss = DistillLoss(bundle.model, 1, DistillSettings(teacher="x", alpha=0.0, map_weight=1.0))
    try:
        loss.start()
        with torch.no_grad():
            logits = bundle.model(bundle.preprocess([image]))
        student = loss.student_evidence()
        assert np.allclose(student[0].numpy(), explanation.evidence_of(1), atol=1e-4)
        loss.start()
        logits = bundle.model(bundle.preprocess([image]))
        value = loss(logits, torch.tensor([UNLABELLED]), torch.ones(2), logits.detach(), student.detach()[:, None])
        assert float(value) == pytest.approx(0.0, abs=1e-5)
    finally:
        loss.close()


def test_unlabelled_images_take_part_through_the_teacher_terms_only() -> None:
    torch.manual_seed(2)
    model = build_model("squeezenet1_1", 2, head_relu=False).eval()     # no dropout: the passes agree
    x = torch.randn(4, 3, 64, 64)
    teacher_maps = torch.randn(4, 1, 3, 3)
    teacher_logits = torch.randn(4, 2)
    labels = torch.full((4,), UNLABELLED)
    with DistillLoss(model, 1, DistillSettings(teacher="x", alpha=0.0, map_weight=0.0)) as loss:   # labels only
        loss.start()
        value = loss(model(x), labels, torch.ones(2), teacher_logits, teacher_maps)
    assert float(value.detach()) == 0.0
    mixed = torch.tensor([0, 1, UNLABELLED, UNLABELLED])
    with DistillLoss(model, 1, DistillSettings(teacher="x", alpha=0.5, map_weight=1.0)) as loss:
        loss.start()
        logits = model(x)
        value = loss(logits, mixed, torch.ones(2), teacher_logits, teacher_maps)
    student = _evidence(model, x)
    target = F.adaptive_avg_pool2d(teacher_maps, (int(student.shape[-2]), int(student.shape[-1])))[:, 0]
    kl, maps_term = distill_terms(logits, teacher_logits, student, target, 4.0)
    ce = F.cross_entropy(logits[:2], mixed[:2])                               # the labelled two only
    assert float(value.detach()) == pytest.approx(float((0.5 * kl + maps_term + 0.5 * ce).detach()), rel=1e-4)
    # the pointing loss ignores images without a label (they are neither OK nor NG)
    with PointingLoss(model, 1) as pointing:
        pointing.start()
        model(x)
        assert pointing(torch.zeros(4, 1, 64, 64), labels) is None


def _evidence(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with DistillLoss(model, 1, DistillSettings(teacher="x")) as loss:
        loss.start()
        with torch.no_grad():
            model(x)
        return loss.student_evidence()


def test_teacher_maps_follow_the_augmentation() -> None:
    """A map given as an image channel moves exactly as that channel does (before the photometric jitter,
    which keeps the order of pixel values); the random numbers drawn are the same as without maps."""
    images = torch.from_numpy(np.random.default_rng(4).integers(0, 255, (3, 3, 40, 40), dtype=np.uint8))
    x_plain, _ = augment_with_masks(images, None, 32, torch.Generator().manual_seed(9))
    gray = images.float().mean(dim=1, keepdim=True)
    x, _, moved = augment_with_maps(images, None, gray, 32, torch.Generator().manual_seed(9))
    assert torch.equal(x, x_plain)
    assert moved is not None and moved.shape == (3, 1, 32, 32)
    warped_gray = x.mean(dim=1, keepdim=True)            # brightness/contrast are affine per image (before clamping)
    for i in range(3):
        a, b = moved[i].flatten(), warped_gray[i].flatten()
        unclipped = (b > 0.01) & (b < 0.99)
        assert torch.corrcoef(torch.stack([a[unclipped], b[unclipped]]))[0, 1] > 0.999


# --------------------------------------------------------------------------- teacher, cache, data, card
def test_teacher_outputs_are_the_explainer_s_and_are_cached(teacher_file: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    teacher = Teacher(DistillSettings(teacher=str(teacher_file), cache_dir=str(tmp_path / "cache")), ("ok", "ng"), 1)
    images = torch.from_numpy(np.random.default_rng(5).integers(0, 255, (3, 3, 70, 70), dtype=np.uint8))
    logits, maps = teacher.cached_outputs(images)
    with Explainer(teacher.bundle) as explainer:
        e = explainer.explain_one(images[1].permute(1, 2, 0).numpy())
    assert np.allclose(logits[1].numpy(), e.logits, atol=1e-5)
    assert np.allclose(maps[1, 0].numpy(), e.evidence_of(1), atol=1e-5)
    assert len(list((tmp_path / "cache").iterdir())) == 1

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the teacher ran again")

    monkeypatch.setattr(teacher, "outputs", refuse)
    again_logits, again_maps = teacher.cached_outputs(images)
    assert torch.equal(again_logits, logits) and torch.equal(again_maps, maps)


def test_teacher_classes_are_matched_by_name(teacher_file: Path, tmp_path: Path) -> None:
    swapped = Teacher(DistillSettings(teacher=str(teacher_file)), ("ng", "ok"), 0)
    assert swapped.order == [1, 0] and swapped.defect == 1
    with pytest.raises(InputError, match="lack"):
        Teacher(DistillSettings(teacher=str(teacher_file)), ("good", "bad"), 1)


def test_unlabelled_folder_becomes_images_without_labels(tmp_path: Path) -> None:
    data = make_blobs(tmp_path / "d", n=8, size=32)
    (data / "unlabelled").mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(data / "unlabelled" / f"u{i}.png")
    index = scan_dataset(data)
    with pytest.raises(InputError, match="teacher"):
        take_unlabelled(index, TrainConfig(arch="squeezenet1_1"))
    kept, unlabelled = take_unlabelled(index, TrainConfig(arch="squeezenet1_1", distill=DistillSettings(teacher="x")))
    assert kept.classes == ("ok", "ng")
    assert kept.counts() == {"ok": 4, "ng": 4}
    assert len(unlabelled) == 3 and all(r.label == UNLABELLED and r.mask is None for r in unlabelled)


@pytest.mark.parametrize("bad", [dict(temperature=0.0), dict(alpha=1.5), dict(map_weight=-1.0)])
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(InputError):
        TrainConfig(arch="squeezenet1_1", distill=DistillSettings(teacher="x", **bad)).validate()  # type: ignore[arg-type]


def test_a_distilled_run_records_its_teacher(teacher_file: Path, tmp_path: Path) -> None:
    data = make_blobs(tmp_path / "d", n=16, size=48)
    extra = tmp_path / "extra"
    extra.mkdir()
    for i in range(4):
        Image.new("RGB", (48, 48), (90, 90, 90 + i)).save(extra / f"x{i}.png")
    settings = DistillSettings(teacher=str(teacher_file), temperature=3.0, alpha=0.7, map_weight=0.5,
                               unlabelled=str(extra))
    config = TrainConfig(arch="squeezenet1_1", epochs=1, image_size=48, batch_size=8, pretrained="none",
                         distill=settings, require_learning=False, calibrate=False)
    result = train_model(data, tmp_path / "student.safetensors", config)
    assert result.path is not None
    card = read_card(result.path)
    record = card["training"]["distillation"]
    assert record["teacher"] == "teacher"
    assert record["sha256"] == sha256_of(teacher_file)
    assert (record["temperature"], record["alpha"], record["map_weight"]) == (3.0, 0.7, 0.5)
    assert record["unlabelled_images"] == 4
    assert sum(card["training"]["data"]["train"].values()) + sum(card["training"]["data"]["val"].values()) == 16
    assert json.loads(json.dumps(card))["training"]["distillation"]["teacher_validation"] == {}


# --------------------------------------------------------------------------- fresh synthetic parts
def test_fresh_parts_are_new_each_epoch_and_repeatable() -> None:
    from cam_core.training.fresh import render_parts

    images, labels, masks = render_parts("mixed", 6, seed=5, epoch=1, size=40)
    again, _, _ = render_parts("mixed", 6, seed=5, epoch=1, size=40)
    other, _, _ = render_parts("mixed", 6, seed=5, epoch=2, size=40)
    assert images.shape == (6, 40, 40, 3) and np.array_equal(images, again)
    assert not np.array_equal(images, other)
    assert all(bool(masks[i].any()) == bool(labels[i]) for i in range(6))     # NG parts, and only they, have masks


def test_a_run_with_fresh_parts_records_them(teacher_file: Path, tmp_path: Path) -> None:
    from cam_core.training.fresh import FreshSynth

    data = make_blobs(tmp_path / "d", n=12, size=40)
    config = TrainConfig(arch="squeezenet1_1", epochs=2, image_size=40, batch_size=8, pretrained="none",
                         require_learning=False, calibrate=False, fresh_synth=FreshSynth(count=6, seed=3),
                         distill=DistillSettings(teacher=str(teacher_file)))
    result = train_model(data, tmp_path / "fresh.safetensors", config)
    assert result.path is not None and len(result.history) == 2
    card = read_card(result.path)
    assert card["training"]["fresh_synth"]["parts_per_epoch"] == 6
    assert result.history[0].images_per_s > 0


def test_epoch_images_draws_that_many_images_per_epoch(tmp_path: Path) -> None:
    from cam_core.progress import Progress

    data = make_blobs(tmp_path / "d", n=20, size=32)
    events: list[Progress] = []
    config = TrainConfig(arch="squeezenet1_1", epochs=2, image_size=32, batch_size=4, pretrained="none",
                         require_learning=False, calibrate=False, epoch_images=6)
    result = train_model(data, tmp_path / "short.safetensors", config, progress=events.append)
    steps = [e for e in events if e.stage == "batch"]
    assert len(steps) == 2 * 2                     # ⌈6 / 4⌉ batches in each of the 2 epochs (16 training images)
    assert result.path is not None and read_card(result.path)["training"]["epoch_images"] == 6

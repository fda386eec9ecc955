"""What a training run writes for trust: the domain reference, the data hashes, the validation judgement, the
source as the user gave it; and the leakage check of evaluate on the training folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cam_core.checkpoints import load_checkpoint, read_card
from cam_core.evaluation import evaluate
from cam_core.explain import Explainer
from cam_core.files import sha256_of
from cam_core.training import TrainConfig, train_model
from cam_core.training.summary import training_summary
from tests.core.test_training import make_blobs


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    root = tmp_path_factory.mktemp("trust")
    data = make_blobs(root / "data", n=40)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(root / "torch-home"))
        mp.setenv("CAM_INSPECTOR_OFFLINE", "1")
        result = train_model(data, root / "out" / "res.safetensors",
                             TrainConfig(arch="resnet18", epochs=1, image_size=64, batch_size=16, seed=0,
                                         pretrained="none", require_learning=False))
    return result, data


def test_training_writes_a_domain_reference_hashes_and_a_judgement(resnet_run) -> None:  # noqa: ANN001
    result, data = resnet_run
    card = read_card(result.path)
    domain = card["domain"]
    assert domain["layer"] == "layer2+layer3" and domain["n_reference"] == 32
    assert domain["n_calibration"] == 8 + 32          # 8 validation images, too few: leave-one-out joins them
    assert domain["calibration"] == "held-out images and the reference's leave-one-out distances"
    assert domain["source"] == str(data)
    files = sorted(p for p in data.rglob("*.png") if "masks" not in p.parts)
    assert sorted(card["data_hashes"]["train"] + card["data_hashes"]["val"]) == sorted(sha256_of(p) for p in files)
    v = card["validation"]
    assert v["judgement"].startswith("too small to judge the model: 8 validation images")
    assert [f["code"] for f in v["flags"]][:2] == ["few_images", "few_images"]
    assert json.loads(result.path.with_suffix(".json").read_text()) == card
    lines = training_summary(result.model_card)
    assert lines[0].endswith("on 8 images") and any("too small" in line for line in lines)
    assert lines[-1].startswith("domain reference: 32 training images")


def test_trained_model_knows_its_kind_of_image_and_not_others(resnet_run) -> None:  # noqa: ANN001
    result, data = resnet_run
    bundle = load_checkpoint(result.path, device="cpu")
    own = [Image.open(p).convert("RGB") for p in sorted((data / "ok").glob("*.png"))[:6]]
    rng = np.random.default_rng(1)
    foreign = [Image.fromarray(np.full((64, 64, 3), rng.integers(0, 255, 3), dtype=np.uint8)) for _ in range(4)]
    with Explainer(bundle) as explainer:
        assert not any(e.domain.outside for e in explainer.explain(own))
        assert all(e.domain.outside for e in explainer.explain(foreign))


def test_evaluating_on_the_training_folder_reports_leakage(resnet_run) -> None:  # noqa: ANN001
    result, data = resnet_run
    bundle = load_checkpoint(result.path, device="cpu")
    with Explainer(bundle) as explainer:
        report = evaluate(data, explainer)
    assert report.leakage is not None and report.leakage["shared"] == report.n_images == 40
    assert report.leakage["n_without"] == 0
    assert "leakage" in [f["code"] for f in report.flags]


def test_a_fresh_set_has_no_leakage(resnet_run, tmp_path: Path) -> None:  # noqa: ANN001
    result, _ = resnet_run
    fresh = make_blobs(tmp_path / "fresh", n=8, seed=9)
    bundle = load_checkpoint(result.path, device="cpu")
    with Explainer(bundle) as explainer:
        report = evaluate(fresh, explainer)
    assert report.leakage is not None and report.leakage["shared"] == 0
    assert "leakage" not in [f["code"] for f in report.flags]


def test_grouped_training_calibrates_the_domain_threshold_on_whole_groups(tmp_path: Path) -> None:
    data = make_blobs(tmp_path / "data", n=40)
    for i, path in enumerate(sorted(p for p in data.rglob("*.png"))):
        if "masks" not in path.parts:                      # 5 acquisition runs, both classes in each
            path.rename(path.with_name(f"exp{i % 5}_{path.name}"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
        mp.setenv("CAM_INSPECTOR_OFFLINE", "1")
        result = train_model(data, tmp_path / "out" / "res.safetensors",
                             TrainConfig(arch="resnet18", epochs=1, image_size=64, batch_size=16, seed=0,
                                         pretrained="none", require_learning=False, group_pattern=r"exp\d+"))
    domain = read_card(result.path)["domain"]
    n_train = domain["n_reference"]
    assert domain["calibration"] == ("held-out groups (leave-one-group-out over 4 reference groups, and 8 held-out "
                                     "images of 1 group; pooled, no group of ≥ 20 images)")
    assert domain["n_calibration"] == n_train + 8 == 40     # every reference row plus the validation run's rows
    assert "calibrated on held-out groups" in training_summary(result.model_card)[-1]


def test_the_reference_holds_the_training_images_as_they_are_explained(resnet_run) -> None:  # noqa: ANN001
    from cam_core.domain import knn_distances, normalised
    from cam_core.reference import image_features

    result, data = resnet_run
    bundle = load_checkpoint(result.path, device="cpu")
    assert bundle.domain is not None
    train = set(read_card(result.path)["data_hashes"]["train"])
    files = [p for p in sorted(data.rglob("*.png")) if "masks" not in p.parts and sha256_of(p) in train]
    features, _ = image_features(bundle, [Image.open(p).convert("RGB") for p in files])
    # each training image, explained, lies on its own reference vector (float16 apart), not beside it
    nearest = knn_distances(normalised(features), bundle.domain.vectors, 1)
    assert len(files) == 32 and float(nearest.max()) < 1e-3

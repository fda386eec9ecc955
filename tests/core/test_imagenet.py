"""ImageNet weights offline: what is present, what is missing, hash-checked import, no downloads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from cam_core.cli import main
from cam_core.engine import imagenet
from cam_core.engine.architectures import KNOWN_ARCHITECTURES
from cam_core.errors import InputError, ModelError
from cam_core.progress import Progress


@pytest.fixture(autouse=True)
def empty_torch_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("CAM_INSPECTOR_OFFLINE", "1")


def test_every_known_architecture_is_listed_and_lite0_comes_from_its_package() -> None:
    statuses = {s.arch: s for s in imagenet.list_weights()}
    assert set(statuses) == set(KNOWN_ARCHITECTURES)
    lite0 = statuses["efficientnet_lite0"]
    assert lite0.available == (imagenet.lite0_file() is not None)
    assert not statuses["resnet18"].available and "weights import resnet18-" in statuses["resnet18"].how_to_get


def test_auto_without_weights_trains_from_scratch_and_says_how_to_get_them() -> None:
    events: list[Progress] = []
    state, source = imagenet.imagenet_state("resnet18", "auto", events.append)
    assert state is None and "from scratch" in source
    assert any("weights download resnet18" in e.message for e in events)


def test_imagenet_mode_refuses_when_missing() -> None:
    with pytest.raises(ModelError, match="not on this machine.*weights download"):
        imagenet.imagenet_state("googlenet", "imagenet")


def test_download_is_refused_offline_with_the_carry_over_recipe() -> None:
    with pytest.raises(ModelError, match="nothing is downloaded.*weights import squeezenet1_1-"):
        imagenet.download("squeezenet1_1")


def _fake_torchvision_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good_hash: bool) -> Path:
    """A real squeezenet1_1 state dict under a name whose hash prefix fits (or not) its SHA-256."""
    import torchvision

    raw = tmp_path / "raw.pth"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()[:8]
    name = f"squeezenet1_1-{digest if good_hash else '00000000'}.pth"
    real = imagenet.torchvision_cache_file

    def fake(arch: str):  # torchvision's own name for squeezenet1_1, with our file's hash in it
        path, weights = real(arch)
        return (path.with_name(name), weights) if arch == "squeezenet1_1" else (path, weights)

    monkeypatch.setattr(imagenet, "torchvision_cache_file", fake)
    carried = tmp_path / "usb" / name
    carried.parent.mkdir()
    raw.rename(carried)
    return carried


def test_import_checks_the_hash_and_then_training_can_use_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    carried = _fake_torchvision_file(tmp_path, monkeypatch, good_hash=True)
    target = imagenet.import_file(carried)
    assert target.is_file() and target.parent.name == "checkpoints"
    state, source = imagenet.imagenet_state("squeezenet1_1", "imagenet")
    assert state is not None and "local cache" in source


def test_import_refuses_a_file_whose_hash_does_not_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    carried = _fake_torchvision_file(tmp_path, monkeypatch, good_hash=False)
    with pytest.raises(InputError, match="SHA-256"):
        imagenet.import_file(carried)
    assert not imagenet.weights_status("squeezenet1_1").available


def test_import_refuses_unknown_names(tmp_path: Path) -> None:
    odd = tmp_path / "my-weights.pth"
    odd.write_bytes(b"x")
    with pytest.raises(InputError, match="not the name of a torchvision ImageNet file"):
        imagenet.import_file(odd)


def test_cli_lists_available_and_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet18: missing" in out
    assert ("efficientnet_lite0: available" in out) == (imagenet.lite0_file() is not None)
    assert main(["weights", "download", "resnet18"]) != 0
    assert "nothing is downloaded" in capsys.readouterr().err

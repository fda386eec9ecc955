"""Importing PyTorch state dicts: the shapes people save, architecture detection, and every refusal.

Pickle-based files are read only by the limited child process (``torch.load(weights_only=True)``); a file
whose pickle would run code must be refused with one line and must never run it (a marker file tells).
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from cam_core.checkpoints import ModelCard
from cam_core.cli import main
from cam_core.engine import KNOWN_ARCHITECTURES, build_model
from cam_core.errors import InputError
from cam_core.explain import Explainer
from cam_core.interop import LoadLimits, fit_architecture, import_weights, read_weights
from cam_core.interop.safe_load import torch_is_recent
from cam_core.models import load_model
from cam_core.report import card_summary

IMAGE = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))


@pytest.fixture(autouse=True)
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "user_models"
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(folder))
    return folder


def calibrated(model: torch.nn.Module) -> torch.nn.Module:
    """BatchNorm statistics from two random batches, so random-init features (and maps) are not flat."""
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 3, 96, 96))
    return model.eval()


@pytest.fixture(scope="module")
def resnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return calibrated(torchvision.models.resnet18(num_classes=2))


@pytest.fixture(scope="module")
def googlenet() -> torch.nn.Module:
    torch.manual_seed(1)
    return calibrated(torchvision.models.googlenet(num_classes=2, aux_logits=False, init_weights=False))


def explain_and_compare(name: str, original: torch.nn.Module) -> tuple[float, float]:
    """(max |mean(map)+b − logit|, max |logit − the original network's logit|) for one image."""
    bundle = load_model(name, device="cpu")
    with Explainer(bundle) as explainer:
        result = explainer.explain_one(IMAGE)
    bias = bundle.model.state_dict()["fc.bias"].numpy()
    identity = float(np.abs(result.maps.mean(axis=(1, 2)) + bias - result.logits).max())
    with torch.no_grad():
        own = original(bundle.preprocess([IMAGE]).contiguous())[0].numpy()
    return identity, float(np.abs(result.logits - own).max())


def test_plain_resnet18_state_dict_is_detected_imported_and_explained(tmp_path: Path, resnet: torch.nn.Module,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(resnet.state_dict(), tmp_path / "line3.pt")
    code = main(["import", str(tmp_path / "line3.pt"), "--classes", "ok,ng", "--input-size", "96"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "resnet18: detected" in out and "--model line3" in out
    card = json.loads((Path(os.environ["CAM_INSPECTOR_MODELS"]) / "line3.json").read_text())
    assert card["origin"]["file"] == "line3.pt" and card["origin"]["architecture_detected"] is True
    assert (card["head_type"], card["classes"], card["defect_class"]) == ("linear", ["ok", "ng"], "ng")
    rows = dict(card_summary(ModelCard.from_dict(card)))                 # what the Models page and the report show
    assert "line3.pt" in rows["Imported from"] and "resnet18 (detected" in rows["Imported from"]
    assert "linear (fc: 2 outputs)" in rows["Imported from"] and rows["Defect class"] == "ng"
    identity, fidelity = explain_and_compare("line3", resnet)
    assert identity < 1e-4 and fidelity < 1e-4


def test_googlenet_with_module_prefix_never_unpickled_here(tmp_path: Path, googlenet: torch.nn.Module,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save({f"module.{k}": v for k, v in googlenet.state_dict().items()}, tmp_path / "ddp.pth")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("this process must never unpickle an imported file")

    with monkeypatch.context() as patch:      # only the child process may unpickle
        for target, attr in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
            patch.setattr(target, attr, forbidden)
        result = import_weights(tmp_path / "ddp.pth", "ok,ng", input_size=96)
    assert result.card["arch"] == "googlenet" and result.card["origin"]["key_prefix"] == "module."
    assert any("'module.' stripped" in note for note in result.notes)
    identity, fidelity = explain_and_compare(result.name, googlenet)
    assert identity < 1e-4 and fidelity < 1e-4


def test_lightning_checkpoint_dict_with_model_prefix(tmp_path: Path, resnet: torch.nn.Module) -> None:
    state = {f"model.{k}": v for k, v in resnet.state_dict().items()}
    state["criterion.pos_weight"] = torch.ones(1)     # a loss module's buffer beside the network
    torch.save({"epoch": 7, "global_step": 70, "state_dict": state, "hyper_parameters": {"lr": 0.01},
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.01}]}]}, tmp_path / "last.ckpt")
    result = import_weights(tmp_path / "last.ckpt", ["good", "bad"], arch="resnet18", name="lightning",
                            input_size=96)
    origin = result.card["origin"]
    assert (origin["container"], origin["key_prefix"], origin["architecture_detected"]) == ("state_dict", "model.",
                                                                                             False)
    assert origin["dropped_keys"] == ["criterion.pos_weight"] and result.card["defect_class"] == "bad"
    assert explain_and_compare("lightning", resnet)[1] < 1e-4


def test_model_entry_and_safetensors_without_card(tmp_path: Path) -> None:
    torch.manual_seed(2)
    squeeze = build_model("squeezenet1_1", 3).eval()
    torch.save({"model": squeeze.state_dict(), "epoch": 1}, tmp_path / "squeeze.pt")
    first = import_weights(tmp_path / "squeeze.pt", "ok,scratch,dent", defect_class="Dent", input_size=96)
    assert (first.card["arch"], first.card["head_type"], first.card["origin"]["container"]) == (
        "squeezenet1_1", "conv1x1", "model")
    assert ModelCard.from_dict(first.card).defect_index == 2
    save_file({k: v.contiguous() for k, v in squeeze.state_dict().items()}, str(tmp_path / "plain.safetensors"))
    second = import_weights(tmp_path / "plain.safetensors", "ok,scratch,dent", input_size=96)
    assert second.card["origin"]["file_format"] == "safetensors" and second.card["defect_class"] is None
    bundles = [load_model(r.name, device="cpu") for r in (first, second)]
    logits = [b.model(b.preprocess([IMAGE])) for b in bundles]
    assert torch.allclose(logits[0], logits[1], atol=1e-6)


def test_a_model_file_of_ours_imports_without_its_domain_tensors(tmp_path: Path) -> None:
    torch.manual_seed(3)
    squeeze = build_model("squeezenet1_1", 2).eval()
    state = {k: v.contiguous() for k, v in squeeze.state_dict().items()}
    save_file({**state, "domain.reference": torch.ones(5, 8), "domain.scale": torch.ones(8)},
              str(tmp_path / "ours.safetensors"))
    result = import_weights(tmp_path / "ours.safetensors", "ok,ng", input_size=96)
    assert sorted(result.card["origin"]["dropped_keys"]) == ["domain.reference", "domain.scale"]
    assert any("not part of the network" in note for note in result.notes)
    bundle = load_model(result.name, device="cpu")
    assert torch.allclose(bundle.model(bundle.preprocess([IMAGE])), squeeze(bundle.preprocess([IMAGE])), atol=1e-6)


def test_detection_tells_every_known_architecture_apart() -> None:
    for arch in KNOWN_ARCHITECTURES:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in build_model(arch, 5).state_dict().items()}
        fit, _ = fit_architecture(shapes)
        assert fit is not None and (fit.arch, fit.num_outputs) == (arch, 5)


class Payload:
    def __init__(self, marker: Path, how: str) -> None:
        self.marker, self.how = marker, how

    def __reduce__(self):  # type: ignore[no-untyped-def]
        if self.how == "system":
            return (os.system, (f"touch {self.marker}",))
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize(("how", "legacy"), [("system", False), ("touch", True)])
def test_a_pickle_payload_is_refused_and_never_runs(tmp_path: Path, resnet: torch.nn.Module, how: str,
                                                    legacy: bool, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "PAYLOAD_RAN"
    evil = tmp_path / "evil.pt"
    torch.save({**resnet.state_dict(), "extra": Payload(marker, how)}, evil, _use_new_zipfile_serialization=not legacy)
    assert main(["import", str(evil), "--classes", "ok,ng"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: evil.pt: refused:") and "\n" not in err and "Traceback" not in err
    assert ("posix.system" if how == "system" else "getattr") in err
    assert not marker.exists() and not list(Path(os.environ["CAM_INSPECTOR_MODELS"]).glob("*"))


def test_refusals_are_one_line(tmp_path: Path, resnet: torch.nn.Module, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(resnet.state_dict(), tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    torch.save(resnet.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    (tmp_path / "cut_legacy.pt").write_bytes((tmp_path / "legacy.pt").read_bytes()[:5000])
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    # (no pickle needed for the checks after reading: safetensors files skip the child process)
    save_file(resnet.state_dict(), str(tmp_path / "good.safetensors"))
    save_file({"encoder.weight": torch.ones(4, 4), "head.weight": torch.ones(2, 4)}, str(tmp_path / "other.safetensors"))
    cases = {
        "cut.pt": ([], "truncated or damaged"), "cut_legacy.pt": ([], "truncated or damaged"),
        "notes.pt": ([], "neither a PyTorch checkpoint"),
        "other.safetensors": ([], "no known architecture fits other.safetensors: closest is"),
        "good.safetensors": (["--classes", "ok,ng,dent"], "has 2 outputs (fc.weight is 2×512)"),
        "good.pt": (["--arch", "googlenet"], "it fits resnet18: leave --arch out"),
    }
    for name, (args, expected) in cases.items():
        assert main(["import", str(tmp_path / name), "--classes", "ok,ng", *args]) == 2, name
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err and "Traceback" not in err, err
    assert not list(Path(os.environ["CAM_INSPECTOR_MODELS"]).glob("*"))


def test_size_memory_and_time_limits(tmp_path: Path) -> None:
    torch.save({"big": torch.ones(8_000_000)}, tmp_path / "big.pt")    # 32 MB of tensor data
    with pytest.raises(InputError, match="more than the 1 MB allowed"):
        read_weights(tmp_path / "big.pt", LoadLimits(max_bytes=1024**2))
    with pytest.raises(InputError, match="more memory than allowed"):
        read_weights(tmp_path / "big.pt", LoadLimits(memory_bytes=8 * 1024**2))
    with pytest.raises(InputError, match="longer than 0.3 s"):
        read_weights(tmp_path / "big.pt", LoadLimits(timeout_s=0.3))
    assert read_weights(tmp_path / "big.pt").tensors["big"].shape == (8_000_000,)


def test_torch_floor_is_past_the_known_weights_only_bypasses() -> None:
    assert torch_is_recent(torch.__version__)
    assert not torch_is_recent("2.9.1") and not torch_is_recent("2.5.1+cu124") and torch_is_recent("2.10.0")
    floor = [line for line in (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
             if line.startswith("torch>=")]
    assert floor == ["torch>=2.10,<3"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_and_whole_pickled_models_are_refused(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    torch.jit.save(torch.jit.script(model), tmp_path / "scripted.pt")
    with pytest.raises(InputError, match="TorchScript"):
        import_weights(tmp_path / "scripted.pt", "ok,ng")
    torch.save(model, tmp_path / "whole.pt")
    with pytest.raises(InputError, match="whole pickled model"):
        import_weights(tmp_path / "whole.pt", "ok,ng")

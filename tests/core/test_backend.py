"""The CPU engine: onnxruntime CAM matches PyTorch, falls back with a note, exports once per model file and
later opens without onnx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cam_core.checkpoints import save_checkpoint
from cam_core.cli import main
from cam_core.engine.architectures import build_model, resolve_head
from cam_core.engine.backend import Backend
from cam_core.errors import InputError
from cam_core.explain.factory import make_explainer, parse_backend
from cam_core.explain.pipeline import Explainer
from cam_core.interop import onnx_cache, onnx_engine
from cam_core.models import load_model

SIZE = 64
ROOT = Path(__file__).resolve().parents[2]


def _checkpoint(path: Path, resize: str = "square", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = build_model("efficientnet_lite0", 2, head_relu=False)
    head = dict(model.named_modules())[resolve_head(model).classifier]
    nn.init.normal_(head.weight, std=0.05)
    nn.init.uniform_(head.bias, -0.5, 0.5)
    return save_checkpoint(model, path, {"arch": "efficientnet_lite0", "classes": ["ok", "ng"],
                                         "input_size": [SIZE, SIZE], "head_relu": False, "resize": resize,
                                         "trained_on": "random weights for a test", "defect_class": "ng"})


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("backend") / "lite.safetensors")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache folder per test, and no verified runtime carried over from another test."""
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "onnx-cache"))
    onnx_engine._runtimes.clear()
    yield tmp_path / "onnx-cache"
    onnx_engine._runtimes.clear()


def _images(count: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (80 + 10 * i, 96, 3), dtype=np.uint8)) for i in range(count)]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("flip", [False, True])
def test_onnx_maps_match_torch(lite: Path, flip: bool) -> None:
    bundle = load_model(str(lite), device="cpu")
    images = _images()
    with make_explainer(bundle, "cam", backend="onnx", flip_average=flip) as engine, \
            Explainer(bundle, "cam", flip_average=flip) as reference:
        assert engine.backend.ran == "onnx" and engine.backend.note == ""
        have, want = engine.explain(images), reference.explain(images)
    for h, w in zip(have, want):
        assert h.backend == "onnx" and w.backend == "torch"
        assert _relative(h.maps, w.maps) <= 1e-5
        np.testing.assert_allclose(h.probabilities, w.probabilities, atol=1e-5)


def test_identity_holds_on_the_engine(lite: Path) -> None:
    bundle = load_model(str(lite), device="cpu")
    with make_explainer(bundle, "cam", backend="auto") as engine:
        out = engine.extractor(bundle.preprocess(_images()))
    rebuilt = out.maps.double().mean(dim=(2, 3)) + out.bias.double()
    torch.testing.assert_close(rebuilt, out.logits.double(), rtol=0, atol=1e-4 * (1 + float(out.logits.abs().max())))


def test_cache_reuse_exports_once(lite: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports: list[Path] = []
    real = onnx_cache.export_onnx

    def counting(bundle, out, **kwargs):  # type: ignore[no-untyped-def]
        exports.append(Path(out))
        return real(bundle, out, **kwargs)

    monkeypatch.setattr(onnx_cache, "export_onnx", counting)
    bundle = load_model(str(lite), device="cpu")
    make_explainer(bundle, "cam").close()
    assert len(exports) == 1 and exports[0].parent == cache
    onnx_engine._runtimes.clear()                          # a new process: opens the file
    second = make_explainer(load_model(str(lite), device="cpu"), "cam")
    assert second.backend.ran == "onnx" and len(exports) == 1
    # the export, the engine's prepared pair and its check's record beside it; no temporary file left behind
    assert sorted(p.name.split(".", 1)[1] for p in cache.iterdir()) == [
        "cam1.npz", "cam1.onnx", "cam1.verified.json", "onnx"]


def test_a_passed_check_is_recorded_and_redone_when_the_graph_or_tolerance_changes(
        lite: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[object] = []
    real = onnx_engine.verify_runtime

    def counting(bundle, runtime):  # type: ignore[no-untyped-def]
        checks.append(runtime)
        return real(bundle, runtime)

    monkeypatch.setattr(onnx_engine, "verify_runtime", counting)
    bundle = load_model(str(lite), device="cpu")

    def open_engine() -> str:
        onnx_engine._runtimes.clear()                      # as a new process would
        return make_explainer(bundle, "cam").backend.ran

    assert open_engine() == "onnx" and len(checks) == 1
    record = json.loads(onnx_cache.engine_files(bundle).verified.read_text())
    assert 0 <= record["worst_map_error"] <= onnx_engine.VERIFY_RTOL
    assert open_engine() == "onnx" and len(checks) == 1     # the same graph: the record stands for the check
    record_file = onnx_cache.engine_files(bundle).verified
    record_file.write_text(json.dumps({**record, "graph_sha256": "0" * 64}))   # a record of another graph
    assert open_engine() == "onnx" and len(checks) == 2
    assert json.loads(record_file.read_text())["graph_sha256"] == record["graph_sha256"]
    monkeypatch.setattr(onnx_engine, "VERIFY_RTOL", 0.0)     # a stricter check is not covered by the old record
    assert open_engine() == "torch" and len(checks) == 3


def test_a_prepared_engine_opens_without_onnx(lite: Path, cache: Path) -> None:
    """A later process opens the engine from the prepared pair: onnx (about a second to import) is not loaded,
    and the maps are those of the first process."""
    bundle = load_model(str(lite), device="cpu")
    with make_explainer(bundle, "cam") as first:
        want = first.explain_one(_images(1)[0]).maps
    np.save(cache.parent / "image.npy", np.asarray(_images(1)[0]))
    code = ("import sys, numpy as np\n"
            "from cam_core.models import load_model\n"
            "from cam_core.explain.factory import make_explainer\n"
            f"explainer = make_explainer(load_model({str(lite)!r}, device='cpu'), 'cam')\n"
            f"np.save({str(cache.parent / 'maps.npy')!r}, explainer.explain_one(np.load("
            f"{str(cache.parent / 'image.npy')!r})).maps)\n"
            "print(explainer.backend.ran, 'onnx' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, onnx_cache.CACHE_ENV: str(cache)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["onnx", "False"]
    np.testing.assert_allclose(np.load(cache.parent / "maps.npy"), want, rtol=0, atol=1e-6 * np.abs(want).max())


def test_damaged_cache_files_are_made_again(lite: Path, cache: Path) -> None:
    bundle = load_model(str(lite), device="cpu")
    make_explainer(bundle, "cam").close()
    files = {p.name.split(".", 1)[1]: p for p in cache.iterdir()}
    for damaged in ("cam1.onnx", "cam1.npz"):    # the engine's prepared pair: prepared again from the export
        files[damaged].write_bytes(b"damaged")
        onnx_engine._runtimes.clear()
        assert make_explainer(bundle, "cam").backend.ran == "onnx"
        assert files[damaged].stat().st_size > 1000
    files["onnx"].write_bytes(b"not a graph")    # the export itself (and no pair): exported again
    files["cam1.onnx"].unlink()
    onnx_engine._runtimes.clear()
    assert make_explainer(bundle, "cam").backend.ran == "onnx"
    assert files["onnx"].stat().st_size > 1000


def test_mismatch_falls_back_to_torch_with_a_note(lite: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(onnx_engine, "VERIFY_RTOL", 0.0)   # any rounding difference now counts as a mismatch
    bundle = load_model(str(lite), device="cpu")
    with make_explainer(bundle, "cam", backend="onnx") as explainer:
        assert explainer.backend.ran == "torch"
        assert "differs from PyTorch" in explainer.backend.note
        assert explainer.explain_one(_images(1)[0]).backend == "torch"
    assert any("running PyTorch" in r.getMessage() for r in caplog.records)


def test_export_failure_falls_back(lite: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_cache, "export_onnx", broken)
    explainer = make_explainer(load_model(str(lite), device="cpu"), "cam")
    assert explainer.backend.ran == "torch" and "exporter exploded" in explainer.backend.note


def test_torch_and_gradient_methods_stay_on_torch(lite: Path, cache: Path) -> None:
    bundle = load_model(str(lite), device="cpu")
    assert make_explainer(bundle, "cam", backend="torch").backend.ran == "torch"
    gradcam = make_explainer(bundle, "gradcam", backend="onnx")
    assert gradcam.backend.ran == "torch" and "gradient" in gradcam.backend.note
    assert make_explainer(bundle, "gradcam", backend="auto").backend.note == ""
    assert not cache.exists() or not any(cache.iterdir())   # nothing was exported for them


def test_aspect_model_one_dynamic_graph(tmp_path: Path) -> None:
    bundle = load_model(str(_checkpoint(tmp_path / "aspect.safetensors", resize="aspect")), device="cpu")
    images = [Image.new("RGB", (w, h), (90, 120, 60)) for w, h in ((200, 60), (64, 64), (50, 150))]
    images = [Image.fromarray(np.asarray(i) + np.random.default_rng(k).integers(0, 40, (i.height, i.width, 3),
                                                                                dtype=np.uint8))
              for k, i in enumerate(images)]
    with make_explainer(bundle, "cam") as engine, Explainer(bundle, "cam") as reference:
        have, want = engine.explain(images), reference.explain(images)
    assert engine.backend.ran == "onnx"
    assert len({h.map_size for h in have}) == 3
    for h, w in zip(have, want):
        assert h.map_size == w.map_size and _relative(h.maps, w.maps) <= 1e-5


def test_parse_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_backend("ONNX") is Backend.ONNX
    monkeypatch.setenv("CAM_INSPECTOR_BACKEND", "torch")
    assert parse_backend(None) is Backend.TORCH
    with pytest.raises(InputError, match="unknown backend"):
        parse_backend("tensorrt")


def test_cli_flag_names_the_engine(lite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "part.png"
    _images(1)[0].save(image)
    assert main(["explain", str(image), "--model", str(lite), "--backend", "torch"]) == 0
    assert "engine: PyTorch" in capsys.readouterr().err
    assert main(["explain", str(image), "--model", str(lite), "--backend", "onnx"]) == 0
    assert "engine: ONNX Runtime" in capsys.readouterr().err

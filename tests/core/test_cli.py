"""`python -m cam_core explain`: outputs, JSON lines, saved maps, and bad files among good ones."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cam_core import Explainer, load_model
from cam_core.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(folder / "sub" / "b.jpg")
    Image.fromarray(rng.integers(0, 255, (50, 80, 3), dtype=np.uint8)).save(folder / "sub" / "a.png")  # same stem
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def test_explain_writes_overlays_csv_maps_and_json(tmp_path: Path, image_folder: Path, squeeze_checkpoint: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out, maps = tmp_path / "out", tmp_path / "maps"
    code = main(["explain", str(image_folder), "--model", str(squeeze_checkpoint), "--out", str(out),
                 "--save-maps", str(maps), "--json", "--target", "all", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1  # two files failed, the others were processed
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and any("broken.png" in e for e in errors) and any("empty.jpg" in e for e in errors)
    assert "Traceback" not in captured.err

    records = [json.loads(line) for line in captured.out.splitlines()]
    assert len(records) == 3
    bundle = load_model(str(squeeze_checkpoint), device="cpu")
    with Explainer(bundle) as explainer:
        for record in records:
            assert {"file", "model", "classes", "probabilities", "predicted", "map_size", "peak"} <= set(record)
            image = Image.open(record["file"]).convert("RGB")
            expected = explainer.explain_one(image)
            assert record["predicted"] == expected.predicted_class
            assert record["probabilities"]["ng"] == pytest.approx(float(expected.probabilities[1]), abs=1e-5)
            assert record["map_size"] == [3, 3] or record["map_size"] == list(expected.map_size)
            x, y = record["peak"]["ng"]
            assert 0 <= x < image.width and 0 <= y < image.height
    assert sum(abs(sum(r["probabilities"].values()) - 1) for r in records) < 1e-4

    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 3 and list(rows[0]) == ["file", "predicted", "verdict", "probability", "defect_probability",
                                                 "p_ok", "p_ng", "method", "map_size", "domain", "domain_distance"]
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 6 and "a_ng.png" in pngs and "a-2_ng.png" in pngs  # no overwrite on equal stems
    saved = np.load(maps / "a.npy")
    assert saved.dtype == np.float32 and saved.shape == (2, 90, 120)


def test_saved_maps_are_raw_upsampled_maps(tmp_path: Path, squeeze_checkpoint: Path) -> None:
    image_path = tmp_path / "one.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(image_path)
    assert main(["explain", str(image_path), "--model", str(squeeze_checkpoint), "--save-maps", str(tmp_path),
                 "--device", "cpu"]) == 0
    saved = np.load(tmp_path / "one.npy")
    with Explainer(load_model(str(squeeze_checkpoint), device="cpu")) as explainer:
        result = explainer.explain_one(Image.open(image_path).convert("RGB"))
    expected = result.upsampled()   # the CLI's engine may differ from PyTorch by 1e-5 of the map's scale
    np.testing.assert_allclose(saved, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))
    # not normalised: the mean of an upsampled map stays close to the raw map's mean
    assert saved[1].mean() == pytest.approx(result.maps[1].mean(), rel=0.2, abs=0.05)


def test_user_errors_are_one_line_without_traceback(tmp_path: Path, squeeze_checkpoint: Path) -> None:
    only_bad = tmp_path / "bad.png"
    only_bad.write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    run = subprocess.run([sys.executable, "-m", "cam_core", "explain", str(only_bad), "--model",
                          str(squeeze_checkpoint)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "bad.png" in run.stderr

    missing = subprocess.run([sys.executable, "-m", "cam_core", "explain", str(only_bad), "--model", "nope"],
                             capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert missing.returncode == 2 and "no model called 'nope'" in missing.stderr and "Traceback" not in missing.stderr


def test_target_class_must_exist(tmp_path: Path, squeeze_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image_path = tmp_path / "one.png"
    Image.new("RGB", (30, 30)).save(image_path)
    assert main(["explain", str(image_path), "--model", str(squeeze_checkpoint), "--target", "scratch"]) == 2
    assert "not a class" in capsys.readouterr().err
    assert main(["explain", str(image_path), "--model", str(squeeze_checkpoint), "--target", "ok",
                 "--out", str(tmp_path / "o"), "--method", "gradcam++"]) == 0
    assert [p.name for p in (tmp_path / "o").glob("*.png")] == ["one_ok.png"]


def test_a_background_training_run_stops_on_sigint_or_sigterm_with_its_best_epoch(tmp_path: Path) -> None:
    """A script's background job starts with SIGINT ignored; `timeout -s INT` (and a scheduler's SIGTERM) must
    still end the run and keep the best epoch, not let it run to its last epoch."""
    import os
    import signal
    import time

    from test_training import make_blobs

    data = make_blobs(tmp_path / "data", n=16, size=48)
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / f"stopped-{sig.name}.safetensors"
        process = subprocess.Popen(
            [sys.executable, "-m", "cam_core", "train", str(data), "--arch", "squeezenet1_1", "--pretrained", "none",
             "--image-size", "48", "--batch-size", "4", "--epochs", "500", "--val-fraction", "0.25",
             "--device", "cpu", "--out", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "CAM_INSPECTOR_OFFLINE": "1"},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))   # as a shell starts a job with &
        assert process.stdout is not None
        lines = []
        for line in process.stdout:          # wait for a finished epoch
            lines.append(line)
            if line.startswith("epoch 2:"):
                break
        process.send_signal(sig)
        started = time.monotonic()
        rest, _ = process.communicate(timeout=120)
        assert process.returncode == 0, "".join(lines) + rest
        assert time.monotonic() - started < 120 and "interrupted: kept the best model" in rest
        card = json.loads(out.with_suffix(".json").read_text())
        assert card["training"]["interrupted"] is True and card["training"]["epochs_run"] < 500

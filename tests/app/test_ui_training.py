"""app_ui.training and app_ui.training_jobs: the background job keeps the training's Progress events, and
checkpoint names never leave the user models folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import app_ui
from cam_core.training import EpochStats
from cam_core.training.events import batch_event, done_event, epoch_event, loading_event, note


def stats(epoch: int) -> EpochStats:
    return EpochStats(epoch=epoch, train_loss=1.0 / epoch, train_acc=0.5 + epoch / 10, val_loss=1.2 / epoch,
                      val_acc=0.4 + epoch / 10, val_auroc=0.6 + epoch / 20, seconds=3.0, images_per_s=50.0)


def test_the_job_keeps_the_run_from_its_events() -> None:
    from app_ui.training_jobs import TrainJob

    job = TrainJob(name="m", options={})
    job.record(note("420 images in 2 classes"))
    job.record(loading_event("train", 3, 10))
    assert job.text == "Reading train images: 3/10" and job.fraction == 0.0
    job.record(batch_event(2, 3, 1, 4, 0.5, 0.6, 10.0, 1e-3))      # step 1 of 4 in epoch 2 of 3: 5 of 12 steps
    assert job.fraction == pytest.approx(5 / 12) and job.text.startswith("epoch 2/3 · step 1/4")
    for epoch in (1, 2):
        job.record(epoch_event(stats(epoch), 3, improved=epoch == 2, best_epoch=2))
    job.record(done_event(Path("m.safetensors"), interrupted=False))
    assert job.status == "420 images in 2 classes" and (job.fraction, job.text) == (1.0, "Done")
    assert [row["epoch"] for row in job.history] == [1, 2]
    assert job.history[1] == pytest.approx({"epoch": 2, "train_loss": 0.5, "train_acc": 0.7, "val_loss": 0.6,
                                            "val_acc": 0.6, "val_auroc": 0.7})
    assert not job.done                                              # no thread: never started


@pytest.mark.parametrize(("wanted", "stem"), [("my model", "my_model"), ("../../etc/passwd", "etc_passwd"),
                                               ("lite0.v2.safetensors", "lite0_v2"), ("///", "model"),
                                               ("a\\b", "a_b")])
def test_model_names_become_files_in_the_user_models_folder(wanted: str, stem: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(tmp_path))
    target = app_ui.target_path(wanted)
    assert target == tmp_path / f"{stem}.safetensors"             # never a sub-folder, never outside


def test_a_cancelled_job_stops_and_says_so(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from app_ui.training_jobs import TrainJob, _work

    rng = np.random.default_rng(0)
    for label in ("ok", "ng"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "data" / label / f"{i}.png")
    options = {"arch": "squeezenet1_1", "epochs": 3, "image_size": 64, "batch_size": 4, "pretrained": "none",
               "seed": 0, "resize": "square", "map_stride": 32, "minutes": 5, "zip_name": "d.zip"}
    job = TrainJob(name="m", options=options)
    job.stop.set()                                   # Cancel pressed before the first epoch ends
    _work(job, tmp_path / "data", tmp_path / "models" / "m.safetensors")
    assert job.error is None and job.outcome is not None
    assert job.outcome["path"] is None and job.outcome["name"] == "m"   # stopped before epoch 1: nothing saved
    assert not (tmp_path / "models" / "m.safetensors").exists()

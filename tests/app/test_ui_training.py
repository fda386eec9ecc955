"""app_ui.training: the Models page's progress view reads the training's Progress events, and checkpoint
names never leave the user models folder."""

from __future__ import annotations

from pathlib import Path

import pytest

import app_ui
from cam_core.training import EpochStats
from cam_core.training.events import batch_event, done_event, epoch_event, loading_event, note


class Slot:
    """Stands in for a Streamlit placeholder: records what was drawn into it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def stats(epoch: int) -> EpochStats:
    return EpochStats(epoch=epoch, train_loss=1.0 / epoch, train_acc=0.5 + epoch / 10, val_loss=1.2 / epoch,
                      val_acc=0.4 + epoch / 10, val_auroc=0.6 + epoch / 20, seconds=3.0, images_per_s=50.0)


def test_the_view_draws_the_run_from_its_events() -> None:
    bar, status, loss, acc = Slot(), Slot(), Slot(), Slot()
    view = app_ui.TrainingView(bar, status, loss, acc)
    view(note("420 images in 2 classes"))
    view(loading_event("train", 3, 10))
    view(batch_event(2, 3, 1, 4, 0.5, 0.6, 10.0, 1e-3))          # step 1 of 4 in epoch 2 of 3: 5 of 12 steps
    for epoch in (1, 2):
        view(epoch_event(stats(epoch), 3, improved=epoch == 2, best_epoch=2))
    view(done_event(Path("m.safetensors"), interrupted=False))
    assert status.calls == [("caption", ("420 images in 2 classes",), {})]
    fractions = [args[0] for name, args, _ in bar.calls]
    texts = [kwargs["text"] for _, _, kwargs in bar.calls]
    assert fractions == [0.0, pytest.approx(5 / 12), 1.0]
    assert texts[0] == "Reading train images: 3/10" and texts[1].startswith("epoch 2/3 · step 1/4") and texts[2] == "Done"
    assert [row["epoch"] for row in view.history] == [1, 2]
    assert view.history[1] == pytest.approx({"epoch": 2, "train_loss": 0.5, "train_acc": 0.7, "val_loss": 0.6,
                                             "val_acc": 0.6, "val_auroc": 0.7})
    assert [name for name, _, _ in loss.calls] == ["line_chart", "line_chart"]   # one redraw per epoch


@pytest.mark.parametrize(("wanted", "stem"), [("my model", "my_model"), ("../../etc/passwd", "etc_passwd"),
                                               ("lite0.v2.safetensors", "lite0_v2"), ("///", "model"),
                                               ("a\\b", "a_b")])
def test_model_names_become_files_in_the_user_models_folder(wanted: str, stem: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(tmp_path))
    target = app_ui.target_path(wanted)
    assert target == tmp_path / f"{stem}.safetensors"             # never a sub-folder, never outside

"""The one progress event (``cam_core.progress``): fraction, text, the stream printer, training's events."""

from __future__ import annotations

import io

import pytest

from cam_core.progress import Progress, TextProgress, bar, ignore_progress
from cam_core.training import EpochStats
from cam_core.training.events import batch_event, done_event, epoch_event, loading_event, note, rejected_event

STATS = EpochStats(epoch=2, train_loss=0.5, train_acc=0.75, val_loss=0.4, val_acc=0.8, val_auroc=0.9,
                   seconds=12.4, images_per_s=33.33)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_fraction_is_done_over_total_clamped_and_none_without_a_count() -> None:
    assert Progress("frame", 3, 12).fraction == 0.25
    assert Progress("frame", 15, 12).fraction == 1.0 and Progress("frame", -1, 12).fraction == 0.0
    assert Progress("message", message="hello").fraction is None
    assert Progress("frame", 0, 0).fraction is None


def test_text_is_the_message_on_one_line_else_the_stage_count_and_fields() -> None:
    assert Progress("message", message="two\nlines").text() == "two lines"
    assert Progress("frame", 3, 12, fields={"fps": 2.5}).text() == "frame 3/12 fps 2.5"
    assert Progress("idle").text() == "idle"


def test_an_event_is_a_value_its_fields_cannot_be_changed() -> None:
    numbers = {"loss": 1.0}
    event = Progress("batch", 1, 2, fields=numbers)
    numbers["loss"] = 9.0                       # the caller's dict is copied
    assert event.fields["loss"] == 1.0
    with pytest.raises(TypeError):
        event.fields["loss"] = 2.0              # type: ignore[index]
    with pytest.raises(AttributeError):
        event.done = 2                          # type: ignore[misc]
    assert event == Progress("batch", 1, 2, fields={"loss": 1.0})
    ignore_progress(event)


def test_bar_marks_the_fraction() -> None:
    assert bar(0.5, 8) == "[####....]" and bar(None, 4) == "[....]" and bar(1.0, 3) == "[###]"


def test_training_batch_events_count_steps_over_the_whole_run() -> None:
    event = batch_event(epoch=2, epochs=3, step=1, steps=4, loss=0.25, acc=0.5, images_per_s=10.0, lr=1e-3)
    assert (event.stage, event.done, event.total) == ("batch", 5, 12)
    assert event.fraction == pytest.approx(5 / 12)
    assert event.fields["epoch"] == 2 and event.fields["steps"] == 4 and event.fields["lr"] == 1e-3
    assert event.text() == "epoch 2/3 · step 1/4 · loss 0.2500 · acc 0.500 · 10.0 images/s"


def test_training_epoch_loading_and_end_events() -> None:
    event = epoch_event(STATS, epochs=4, improved=True, best_epoch=2)
    assert event.fraction == 0.5 and event.fields["val_auroc"] == 0.9 and event.fields["improved"] == 1.0
    assert event.text() == ("epoch 2: train loss 0.5000 acc 0.750 | val loss 0.4000 acc 0.800 AUROC 0.9000 "
                            "(12 s, 33.3 img/s)  best")
    assert not epoch_event(STATS, 4, improved=False, best_epoch=1).text().endswith("best")
    assert loading_event("val", 3, 8).text() == "Reading val images: 3/8"
    assert done_event("m.safetensors", interrupted=True).fields["interrupted"] == 1.0
    assert rejected_event("not saved").text() == "not saved" and note("hi").stage == "message"


def test_text_progress_writes_one_line_per_lasting_event_to_a_log_file() -> None:
    stream = io.StringIO()
    log = TextProgress(stream)
    log(note("100 images"))
    log(loading_event("train", 4, 8))
    log(batch_event(1, 1, 1, 2, loss=1.0, acc=0.5, images_per_s=3.0, lr=1e-3))
    log(epoch_event(STATS, 2, improved=False, best_epoch=1))
    log(done_event("out/m.safetensors", interrupted=False))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines == ["100 images", epoch_event(STATS, 2, False, 1).text(), "saved best model to out/m.safetensors"]


def test_text_progress_on_a_terminal_rewrites_one_live_line_then_clears_it() -> None:
    stream = _Terminal()
    log = TextProgress(stream)
    log(batch_event(1, 1, 1, 4, loss=1.0, acc=0.5, images_per_s=3.0, lr=1e-3))
    log(batch_event(1, 1, 2, 4, loss=0.9, acc=0.5, images_per_s=3.0, lr=1e-3))
    log(note("stopped"))
    out = stream.getvalue()
    assert out.startswith("\r[######..................] epoch 1/1 · step 1/4")
    assert "\r[############............] epoch 1/1 · step 2/4" in out
    last = out.split("\r")[-1]
    assert last.startswith("stopped") and last.endswith("\n") and len(last.rstrip("\n")) >= len("stopped") + 20
    assert out.count("\n") == 1


def test_transient_stages_are_configurable() -> None:
    stream = io.StringIO()
    TextProgress(stream, transient=("frame",))(Progress("frame", 1, 10))
    TextProgress(stream, transient=("frame",))(Progress("batch", 1, 10, "a batch"))
    assert stream.getvalue() == "a batch\n"


def test_synthetic_data_sets_report_parts_written(tmp_path) -> None:
    from cam_core.synth import generate_dataset

    events: list[Progress] = []
    generate_dataset(tmp_path / "d", count=3, seed=0, size=32, progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [("synth", 1, 3), ("synth", 2, 3), ("synth", 3, 3)]
    assert events[-1].fraction == 1.0 and events[-1].text() == "3/3 parts"

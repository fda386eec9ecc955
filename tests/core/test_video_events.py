"""One verdict per event on video: NG runs of frames, and one verdict per part on the built-in conveyor clip."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cam_core.checkpoints import DEFAULT_MODEL, list_models
from cam_core.explain.factory import make_explainer
from cam_core.models import load_model
from cam_core.synth import conveyor_frames
from cam_core.synth.samples import sample_clip_parts
from cam_core.video import explain_video, make_sample_clip
from cam_core.video.events import events_csv_path
from cam_core.video.parts import PartTrack, PartTracker, find_parts


def test_parts_are_found_and_followed_from_the_frames() -> None:
    tracker = PartTracker()
    tracks: list[PartTrack] = []
    for frame, info in conveyor_frames(seed=3, n_frames=60, fps=15):
        boxes = find_parts(frame)
        big = [p for p in info["parts"] if p["bbox"][2] - p["bbox"][0] > 60]   # clearly in view
        for part in big:   # every clearly visible part overlaps one found box
            x0, _, x1, _ = part["bbox"]
            assert any(min(x1, b.x1) - max(x0, b.x0) > 0 for b in boxes), (info["index"], part, boxes)
        tracker.add(info["index"], info["time_s"], frame)
        tracks.extend(tracker.take_finished())          # parts that left the view are handed over at once
    tracks.extend(tracker.finish())
    assert [t.number for t in tracks] == list(range(1, len(tracks) + 1))
    fully_seen = [t for t in tracks if t.crop is not None]
    truth = list(sample_clip_parts(seconds=4, fps=15, seed=3))
    assert len(fully_seen) == len(truth)
    for track, part in zip(fully_seen, truth):   # in order of entry, each crop near the truth's best frame
        assert abs(track.crop_frame - part.frame_index) <= 3


def test_no_parts_on_an_empty_belt() -> None:
    flat = np.full((270, 480, 3), 40, np.uint8)
    assert find_parts(flat) == []


@pytest.mark.skipif(DEFAULT_MODEL not in list_models(), reason="the shipped default model is not present")
def test_builtin_clip_one_verdict_per_part(tmp_path: Path) -> None:
    clip = make_sample_clip(tmp_path / "clip.mp4")
    bundle = load_model(DEFAULT_MODEL, device="cpu")
    with make_explainer(bundle, "cam") as explainer:
        result = explain_video(clip, tmp_path / "out.mp4", explainer, csv_path=tmp_path / "frames.csv",
                               track_parts=True, max_side=480)
    labels = [part.label for part in sample_clip_parts()]
    assert len(labels) == 4
    assert [p.verdict for p in result.parts] == labels
    assert all(p.thumbnail is not None and p.thumbnail.ndim == 3 for p in result.parts)
    ng = {f.index for f in result.frames if f.predicted == "ng"}
    for event in result.events:   # every NG run is maximal, and its peak is its most defective frame
        run = set(range(event.start_frame, event.end_frame + 1))
        assert run <= ng and event.start_frame - 1 not in ng and event.end_frame + 1 not in ng
        probs = {f.index: f.probabilities["ng"] for f in result.frames if f.index in run}
        assert event.peak_frame in run and probs[event.peak_frame] == pytest.approx(max(probs.values()), abs=1e-6)
        assert event.max_p_defect == pytest.approx(max(probs.values()), abs=1e-6)
    assert sum(e.end_frame - e.start_frame + 1 for e in result.events) == len(ng)
    rows = list(csv.DictReader(events_csv_path(tmp_path / "frames.csv").open()))
    assert [r["kind"] for r in rows] == ["ng-run"] * len(result.events) + ["part"] * 4
    assert [r["verdict"] for r in rows if r["kind"] == "part"] == labels
    assert {r["trusted"] for r in rows} == {"yes"}   # the conveyor's parts are what the model was trained on

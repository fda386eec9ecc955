"""The report of an explained video: one verdict per part, NG runs, the timeline, flagged events counted apart."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cam_core.checkpoints import DEFAULT_MODEL, ModelCard, list_models
from cam_core.cli import main
from cam_core.report.video import build_video_report, parts_line
from cam_core.synth.samples import sample_clip_parts
from cam_core.video import make_sample_clip
from cam_core.video.events import VideoEvent
from cam_core.video.probe import VideoInfo
from cam_core.video.records import FrameRecord
from cam_core.video.results import VideoResult

OUTSIDE = "unlike training data"


def _event(kind: str, number: int, verdict: str, p: float, start: int, end: int, trusted: bool,
           sure: bool = True) -> VideoEvent:
    return VideoEvent(kind=kind, number=number, verdict=verdict, max_p_defect=p, start_frame=start, end_frame=end,
                      start_s=start / 10, end_s=end / 10, peak_frame=start, peak_s=start / 10,
                      thumbnail=np.full((24, 32, 3), 90, np.uint8), trusted=trusted, sure=sure)  # type: ignore[arg-type]


def _result(domains: list[str], parts: tuple[VideoEvent, ...], events: tuple[VideoEvent, ...]) -> VideoResult:
    frames = [FrameRecord(index=i, time_s=i / 10, predicted="ng" if i % 3 else "ok",
                          probabilities={"ok": 0.3, "ng": 0.7}, domain=d) for i, d in enumerate(domains)]
    info = VideoInfo(width=64, height=48, fps=10.0, frame_count=len(frames), duration_s=len(frames) / 10,
                     codec="h264", rotation=0)
    return VideoResult(output=Path("out.mp4"), frames=frames, info=info, value_range=(-1.0, 1.0),
                       scale_source="model card", events=events, parts=parts)


def test_parts_outside_the_domain_are_counted_apart_and_greyed() -> None:
    card = ModelCard(arch="squeezenet1_1", classes=("ok", "ng"), input_size=(64, 64))
    parts = (_event("part", 1, "ng", 0.9, 0, 3, True), _event("part", 2, "ok", 0.1, 4, 6, True),
             _event("part", 3, "ng", 0.99, 7, 9, False))
    runs = (_event("ng-run", 1, "ng", 0.9, 1, 3, True), _event("ng-run", 2, "ng", 0.99, 7, 9, False))
    domains = ["known"] * 7 + [OUTSIDE] * 3 + ["known", OUTSIDE]
    page = build_video_report(_result(domains, parts, runs), card, video_name="<line 3>.mp4")
    assert parts_line(parts, "ng") == "3 parts: 1 not trusted (unlike the training data); of the other 2, 1 NG"
    assert parts_line(parts[:2], "ng") == "2 parts: 1 NG, 1 OK"
    assert "3 parts: 1 not trusted" in page and "2 runs of NG frames" in page and "1 of them not trusted" in page
    assert "&lt;line 3&gt;.mp4" in page and "<line 3>" not in page
    assert page.count("class='verdict untrusted'") == 2 and page.count("class='verdict ng'") == 2
    assert page.count("class='verdict ok'") == 1
    assert page.count("fill='#d0d7de'") == 2                 # two runs of frames outside the domain, shaded
    assert "4 of 12 (their verdicts are not to be trusted)" in page
    assert "<script" not in page and "http" not in page and page.count("<img") == 5 + 1   # + the colour bar


def test_verdicts_the_model_is_unsure_of_say_so_and_are_counted() -> None:
    card = ModelCard(arch="squeezenet1_1", classes=("ok", "ng"), input_size=(64, 64))
    parts = (_event("part", 1, "ng", 0.97, 0, 3, True), _event("part", 2, "ok", 0.45, 4, 6, True, sure=False),
             _event("part", 3, "ng", 0.6, 7, 9, False, sure=False))
    runs = (_event("ng-run", 1, "ng", 0.53, 1, 1, True, sure=False), _event("ng-run", 2, "ng", 0.99, 7, 9, True))
    page = build_video_report(_result(["known"] * 10, parts, runs), card)
    assert parts[1].title == "Part 2: OK (unsure)" and runs[0].title == "NG run 1 (unsure)"
    assert parts[2].title == "Part 3: NG (not trusted)"       # not trusted says it all: no second mark
    assert "(1 of them unsure: less than 80% sure)" in parts_line(parts, "ng")
    assert "1 unsure (never 80% sure)" in page
    assert page.count("class='verdict ok unsure'") == 1 and page.count("class='verdict ng unsure'") == 1
    assert [e.row()[-1] for e in (*parts, *runs)] == ["yes", "no", "no", "no", "yes"]


@pytest.mark.skipif(DEFAULT_MODEL not in list_models(), reason="the shipped default model is not present")
def test_the_builtin_clip_report_gives_each_part_its_verdict(tmp_path: Path) -> None:
    clip = make_sample_clip(tmp_path / "clip.mp4")
    report = tmp_path / "clip.html"
    assert main(["video", str(clip), "--out", str(tmp_path / "out.mp4"), "--parts", "--max-side", "480",
                 "--report", str(report)]) == 0
    page = report.read_text()
    labels = [part.label for part in sample_clip_parts()]
    titles = re.findall(r"<div class='verdict [\w ]+'>(Part \d+: \w+)(?: \(unsure\))?</div>", page)
    assert titles == [f"Part {i}: {label.upper()}" for i, label in enumerate(labels, start=1)]
    ng = labels.count("ng")
    assert f"4 parts: {ng} NG, {len(labels) - ng} OK" in page and "<svg" in page and "<polyline" in page


def test_a_report_path_that_is_a_folder_is_refused_before_any_work(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4"),
                 "--report", str(tmp_path)]) != 0
    assert "--report" in capsys.readouterr().err and not (tmp_path / "o.mp4").exists()

"""app_ui.video_view: the Video page's info line, progress text and timeline, from the core's video types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app_ui
from cam_core.video import FrameRecord, VideoInfo, VideoProgress


def test_info_line_names_what_is_known() -> None:
    source = app_ui.VideoSource(name="line3.mp4", path=Path("line3.mp4"), digest="d")
    info = VideoInfo(width=1280, height=720, fps=29.97, frame_count=None, duration_s=125.4, codec="h264", rotation=90)
    assert app_ui.video_info_text(source, info) == \
        "line3.mp4 · 1280×720 px · 30 frames/s · 2 min 05 s · codec h264 · rotated 90°"
    short = VideoInfo(width=64, height=48, fps=10, frame_count=4, duration_s=0.4, codec="gif", rotation=0)
    assert app_ui.video_info_text(source, short) == "line3.mp4 · 64×48 px · 10 frames/s · ~4 frames · 0.40 s · codec gif"


@pytest.mark.parametrize(("event", "fraction", "text"), [
    (VideoProgress.of(0, 90, 0.0, None), 0.0, "0/90 frames"),
    (VideoProgress.of(30, 90, 15.0, 4.0), 1 / 3, "30/90 frames · 15.0 frames/s · about 4 s left"),
    (VideoProgress.of(95, 90, 15.0, None), 1.0, "95/90 frames · 15.0 frames/s"),    # the header under-counted
    (VideoProgress.of(12, None, 6.0, None), 0.0, "12 frames · 6.0 frames/s"),
])
def test_progress_bar_and_text(event: VideoProgress, fraction: float, text: str) -> None:
    assert app_ui.video_progress(event) == (pytest.approx(fraction), text)


def test_timeline_shows_p_ng_with_the_threshold_and_the_selected_frame() -> None:
    frames = [FrameRecord(index=i, time_s=i / 10, explained=True, predicted="ng" if i % 3 == 2 else "ok",
                          probabilities={"ok": 1 - i / 10, "ng": i / 10}) for i in range(5)]
    figure = json.loads(app_ui.timeline_figure(frames, ("ok", "ng"), 1, selected=3).to_json())
    (trace,) = figure["data"]
    assert trace["name"] == "P(NG)" and trace["y"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert trace["customdata"] == [0, 1, 2, 3, 4]
    lines = {shape["y0"] if shape["type"] == "line" and shape.get("y0") == shape.get("y1") else None
             for shape in figure["layout"]["shapes"]}
    assert app_ui.VIDEO_THRESHOLD in lines                                  # the decision threshold
    assert any(shape.get("x0") == pytest.approx(0.3) for shape in figure["layout"]["shapes"])   # frame 3

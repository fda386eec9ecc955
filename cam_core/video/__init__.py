"""Video in, explained video out (``python -m cam_core video`` and the app's Video page).

One job per module:

- :mod:`~cam_core.video.probe`: is this a playable video, and what does it hold (:func:`probe_video`);
- :mod:`~cam_core.video.decode`: frames upright and downscaled, with timestamps (:func:`read_frames`);
- :mod:`~cam_core.video.frames`: one output frame: map overlay(s) and the verdict box;
- :mod:`~cam_core.video.scale`: the fixed colour scale of a video's raw maps;
- :mod:`~cam_core.video.encode`: MP4 / WebM / GIF writing, timestamps kept;
- :mod:`~cam_core.video.workers`: the decoder and encoder threads and their queues;
- :mod:`~cam_core.video.pipeline`: :func:`explain_video` and :func:`convert_video`;
- :mod:`~cam_core.video.records`: per-frame records and their CSV;
- :mod:`~cam_core.video.results`: progress events, the result, cancellation;
- :mod:`~cam_core.video.outputs`: atomic output files;
- :mod:`~cam_core.video.sample_clip`: the built-in sample clip.

Names are imported on first use (:mod:`cam_core.lazy`): probing a video and reading its results need no
network library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from cam_core.explain.scale import auto_evidence_range
    from cam_core.video.decode import read_frame, read_frames
    from cam_core.video.encode import GIF_MAX_FPS, GIF_MAX_WIDTH, OUTPUT_EXTENSIONS
    from cam_core.video.frames import Layout
    from cam_core.video.pipeline import (
        CALIBRATION_FRAMES,
        MAX_PENDING_FRAMES,
        QUEUE_SIZE,
        convert_video,
        explain_video,
    )
    from cam_core.video.probe import (
        MAX_VIDEO_PIXELS,
        MAX_VIDEO_SIDE,
        VIDEO_EXTENSIONS,
        VideoInfo,
        probe_video,
    )
    from cam_core.video.records import (
        MAX_RECORDED_CLASSES,
        TOP_CLASSES_RECORDED,
        FrameRecord,
        write_frames_csv,
    )
    from cam_core.video.results import VideoCancelled, VideoProgress, VideoResult
    from cam_core.video.sample_clip import make_sample_clip
    from cam_core.video.scale import auto_value_range

_HOMES: dict[str, str] = {
    **dict.fromkeys(("read_frame", "read_frames"), "cam_core.video.decode"),
    **dict.fromkeys(("GIF_MAX_FPS", "GIF_MAX_WIDTH", "OUTPUT_EXTENSIONS"), "cam_core.video.encode"),
    "Layout": "cam_core.video.frames",
    **dict.fromkeys(("CALIBRATION_FRAMES", "MAX_PENDING_FRAMES", "QUEUE_SIZE", "convert_video",
                     "explain_video"),
                    "cam_core.video.pipeline"),
    **dict.fromkeys(("MAX_VIDEO_PIXELS", "MAX_VIDEO_SIDE", "VIDEO_EXTENSIONS", "VideoInfo", "probe_video"),
                    "cam_core.video.probe"),
    **dict.fromkeys(("MAX_RECORDED_CLASSES", "TOP_CLASSES_RECORDED", "FrameRecord", "write_frames_csv"),
                    "cam_core.video.records"),
    **dict.fromkeys(("VideoCancelled", "VideoProgress", "VideoResult"), "cam_core.video.results"),
    "make_sample_clip": "cam_core.video.sample_clip",
    "auto_evidence_range": "cam_core.explain.scale",
    "auto_value_range": "cam_core.video.scale",
}

__all__ = [
    "CALIBRATION_FRAMES", "GIF_MAX_FPS", "GIF_MAX_WIDTH", "MAX_PENDING_FRAMES", "MAX_RECORDED_CLASSES",
    "MAX_VIDEO_PIXELS", "MAX_VIDEO_SIDE", "OUTPUT_EXTENSIONS", "QUEUE_SIZE", "TOP_CLASSES_RECORDED",
    "VIDEO_EXTENSIONS", "FrameRecord", "Layout", "VideoCancelled", "VideoInfo", "VideoProgress", "VideoResult",
    "auto_evidence_range", "auto_value_range", "convert_video", "explain_video", "make_sample_clip", "probe_video",
    "read_frame", "read_frames", "write_frames_csv",
]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)

"""The built-in sample clip: hex nuts on a conveyor, every third one NG."""

from __future__ import annotations

import os
from pathlib import Path

import av

from cam_core.errors import InputError
from cam_core.video.encode import add_video_stream, encoder_for
from cam_core.video.outputs import atomic_output

SAMPLE_CLIP_SIZE = (480, 270)


def make_sample_clip(path: str | os.PathLike[str], *, seed: int = 0, seconds: float = 4, fps: int = 15) -> Path:
    """The built-in sample: hex nuts on a conveyor (every third one NG), 480×270 H.264 MP4 (~50 kB for 4 s),
    from :func:`cam_core.synth.conveyor_frames`. Written atomically."""
    from cam_core.synth import conveyor_frames

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise InputError(f"the sample clip is an MP4; name it *.mp4, not {path.name}")
    if not (0 < seconds <= 600 and 1 <= fps <= 60):
        raise InputError("the sample clip needs 0 < seconds ≤ 600 and 1 ≤ fps ≤ 60")
    encoder = encoder_for(path)
    with atomic_output(path) as tmp, av.open(str(tmp), "w", options={"movflags": "+faststart"}) as container:
        stream = add_video_stream(container, encoder, fps, SAMPLE_CLIP_SIZE, "yuv420p")
        for image, _ in conveyor_frames(seed=seed, n_frames=max(1, round(seconds * fps)), fps=fps):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path

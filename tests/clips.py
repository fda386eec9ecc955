"""Clips made on the fly with PyAV for the video tests (no binaries in the repo)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_frames(n: int, width: int = 160, height: int = 96, grey: int | None = None) -> list[np.ndarray]:
    """A bright square sliding over a gradient (or a flat grey frame when ``grey`` is given)."""
    frames = []
    for i in range(n):
        if grey is not None:
            frames.append(np.full((height, width, 3), grey, dtype=np.uint8))
            continue
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 2] = np.linspace(40, 200, width, dtype=np.uint8)[None, :]
        x = (i * 7) % max(1, width - 24)
        frame[height // 3:height // 3 + 24, x:x + 24] = (240, 240, 60)
        frames.append(frame)
    return frames


def write_clip(path: Path, frames: Sequence[np.ndarray], *, fps: int = 15, codec: str = "libx264",
               rotation: int | None = None, times_s: Sequence[float] | None = None,
               options: dict[str, str] | None = None) -> Path:
    """Encode RGB frames; ``rotation`` writes a display matrix (counter-clockwise degrees), ``times_s``
    gives each frame its own timestamp (variable frame rate, ms time base)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if times_s is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if times_s is not None:
                frame.pts, frame.time_base = round(times_s[i] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def truncated_without_moov(tmp_path: Path) -> Path:
    full = write_clip(tmp_path / "full.mp4", moving_frames(20))   # no faststart: moov written last
    data = full.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
    full.unlink()
    return tmp_path / "cut.mp4"


def audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path

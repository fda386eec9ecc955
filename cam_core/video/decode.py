"""Decoding: every frame of a video as ``H×W×3`` uint8, rotated upright and downscaled, with its timestamp.

:func:`make_plan` fixes the frame geometry once per video; :func:`iter_decoded` streams the frames (and one
:class:`EndOfStream` that may carry a truncation warning). :func:`read_frames` / :func:`read_frame` give the
frames exactly as :func:`cam_core.video.explain_video` sees them.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from cam_core.errors import InputError
from cam_core.video.probe import VideoInfo, open_input, probe_video, video_stream


@dataclass(frozen=True)
class Plan:
    """Frame geometry fixed before the threads start: ``size`` is the processed (displayed) frame,
    ``decode_size`` the size asked of swscale before rotation."""

    size: tuple[int, int]
    decode_size: tuple[int, int]
    rotation: int


NO_PIXELS = np.zeros((0, 0, 3), dtype=np.uint8)


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    pts: int            # in ``time_base``, first frame at 0
    duration: int       # in ``time_base``; 0 when unknown
    time_base: Fraction
    image: np.ndarray   # H×W×3 uint8, rotated and downscaled

    def timing(self) -> Frame:
        """This frame without its pixels (:data:`NO_PIXELS`): what the encoder needs once the frame is drawn, so
        the frames waiting to be encoded do not keep their decoded images alive."""
        return replace(self, image=NO_PIXELS)


@dataclass(frozen=True)
class EndOfStream:
    """The end of the frames: ``warning`` when the stream broke off or ended short, and then
    ``frames_declared``, the count the file's index lists (None when it lists none or all were decoded)."""

    warning: str | None = None
    frames_declared: int | None = None



def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def make_plan(info: VideoInfo, max_side: int, max_width: int | None = None) -> Plan:
    """Scale ``s = min(1, max_side / max(W, H), max_width / W)``; sides rounded down to even numbers
    (``yuv420p`` needs them)."""
    scale = min(1.0, max_side / max(info.width, info.height))
    if max_width is not None:
        scale = min(scale, max_width / info.width)
    width, height = _even(info.width * scale), _even(info.height * scale)
    decode = (height, width) if info.rotation in (90, 270) else (width, height)
    return Plan(size=(width, height), decode_size=decode, rotation=info.rotation)


def _to_rgb(frame: av.VideoFrame, plan: Plan) -> np.ndarray:
    """Decoded frame → ``H×W×3`` uint8 at ``plan.size``: swscale resize (area filter when shrinking),
    then ``np.rot90`` by the counter-clockwise rotation."""
    width, height = plan.decode_size
    shrink = width < frame.width or height < frame.height
    rgb: np.ndarray = frame.to_ndarray(width=width, height=height, format="rgb24",
                           interpolation="AREA" if shrink else "BILINEAR")
    if plan.rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=plan.rotation // 90))
    return rgb


def iter_decoded(path: Path, plan: Plan, fps: float, start: int = 0) -> Generator[Frame | EndOfStream, None, None]:
    """Every frame of ``path`` from index ``start`` on as :class:`Frame`, then one :class:`EndOfStream`
    (with a warning when the stream broke off after at least one frame, or ended well short of the frames
    its index lists). Frames before ``start`` are decoded (for their timestamps) but not converted."""
    with open_input(path) as container:
        stream = video_stream(container, path.name)
        stream.thread_type = "AUTO"
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1000)
        step = max(1, round(1 / (fps * time_base)))
        first: int | None = None
        last = -1
        index = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None:       # no timestamp: one nominal frame after the previous one
                    pts = last + step if index else 0
                else:                       # rebased to the first frame; strictly increasing
                    first = frame.pts if first is None else first
                    pts = max(frame.pts - first, last + 1) if index else 0
                last = pts
                if index >= start:
                    yield Frame(index=index, time_s=float(pts * time_base), pts=pts,
                                 duration=int(frame.duration or 0), time_base=time_base,
                                 image=_to_rgb(frame, plan))
                index += 1
        except av.FFmpegError as exc:
            if index == 0:
                raise InputError(f"{path.name}: no frame could be decoded; the video is damaged "
                                 f"({getattr(exc, 'strerror', None) or exc})") from None
            listed = int(stream.frames or 0)
            yield EndOfStream(f"{path.name} is damaged or truncated: decoding stopped after {index} frames "
                              f"({getattr(exc, 'strerror', None) or exc}); the output holds those frames",
                              listed if listed > index else None)
            return
        if index == 0:
            raise InputError(f"{path.name} has a video stream but no frames")
        listed = int(stream.frames or 0)
    warning = _shortfall_warning(path.name, index, listed)
    yield EndOfStream(warning, listed if warning else None)


def _shortfall_warning(name: str, decoded: int, listed: int) -> str | None:
    """A warning when the index lists clearly more frames than could be decoded (a file cut short
    after its index was written); a couple of frames may legitimately be dropped by edit lists."""
    if listed and listed - decoded > max(2, listed // 100):
        return (f"{name} is damaged or truncated: its index lists {listed} frames but only {decoded} could be "
                "decoded; the output holds those frames")
    return None


def read_frames(path: str | os.PathLike[str], *, max_side: int = 1280) -> Iterator[tuple[float, np.ndarray]]:
    """``(time_s, H×W×3 uint8)`` for every frame, decoded exactly as :func:`explain_video` sees them
    (rotation applied, downscaled so the longer side is at most ``max_side``). Synchronous, streaming."""
    path = Path(path)
    info = probe_video(path)
    with closing(iter_decoded(path, make_plan(info, max_side), info.fps)) as frames:
        for item in frames:
            if isinstance(item, Frame):
                yield item.time_s, item.image


def read_frame(path: str | os.PathLike[str], index: int, *, max_side: int = 1280) -> tuple[float, np.ndarray]:
    """Frame ``index`` (0-based) as :func:`read_frames` yields it: ``(time_s, H×W×3 uint8)``.

    Decodes from the start without converting the frames before ``index`` (the cost grows with the
    index). Raises :class:`InputError` when the video has no such frame.
    """
    path = Path(path)
    if index < 0:
        raise InputError(f"frame numbers start at 0, not {index}")
    info = probe_video(path)
    with closing(iter_decoded(path, make_plan(info, max_side), info.fps, start=index)) as frames:
        for item in frames:
            if isinstance(item, Frame):
                return item.time_s, item.image
    raise InputError(f"{path.name} has no frame {index} (it has fewer frames)")


"""Probing: is this file a playable video, and what does it hold (size as displayed, rate, rotation)?

:func:`probe_video` refuses, with one clear :class:`InputError` line, everything that is not a video this
FFmpeg build can decode: missing files, images or text under a video name, damaged or truncated files,
audio-only files and absurd resolutions. :func:`open_input` and :func:`video_stream` are shared with the
decoder (:mod:`cam_core.video.decode`).
"""

from __future__ import annotations

import math
import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av

from cam_core.errors import InputError
from cam_core.options import VIDEO_EXTENSIONS

# Per frame. 8K UHD, not 4K: DCI 4K (4096×2160) and 5K/6K cameras exist; frames are downscaled to
# ``max_side`` in the decoder thread (one full-size frame alive at a time), so only headers claiming
# absurd sizes (e.g. 100000×100000) are refused.
MAX_VIDEO_PIXELS = 7680 * 4320
MAX_VIDEO_SIDE = 16384


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds, as displayed: ``width``/``height`` after rotation and pixel aspect ratio.

    ``frame_count`` is the header's count or ``duration × fps`` (an estimate; None when unknown);
    ``rotation`` is the counter-clockwise angle (0, 90, 180, 270) applied to decoded frames.
    """

    width: int
    height: int
    fps: float
    frame_count: int | None
    duration_s: float | None
    codec: str
    rotation: int
    container: str = ""


def codec_available(name: str, mode: Literal["r", "w"]) -> bool:
    """Whether this PyAV build has codec ``name`` for ``mode`` ``"r"`` (decode) or ``"w"`` (encode)."""
    try:
        av.codec.Codec(name, mode)
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False
    return True


def _decoder_available(name: str) -> bool:
    return codec_available(name, "r")


def _sniff_non_video(head: bytes) -> str | None:
    """A name for files that are obviously not videos (images, documents, archives, text)."""
    signatures = {b"\x89PNG\r\n\x1a\n": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"%PDF": "a PDF document",
                  b"PK\x03\x04": "a ZIP archive", b"II*\x00": "a TIFF image",
                  b"MM\x00*": "a TIFF image"}
    for magic, label in signatures.items():
        if head.startswith(magic):
            return label
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":
        return "a BMP image"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "a text file"
    return None


def _mp4_missing_moov(path: Path) -> bool:
    """True for an MP4/MOV whose top-level boxes end without a ``moov`` (the index written last).

    Walks box headers only: ``size`` (4 bytes, big-endian; 1 → 64-bit size follows; 0 → to EOF) + type.
    """
    size_total = path.stat().st_size
    with path.open("rb") as fh:
        offset, first = 0, True
        while offset + 8 <= size_total:
            fh.seek(offset)
            header = fh.read(16)
            box_size, box_type = int.from_bytes(header[:4], "big"), header[4:8]
            if first and box_type not in (b"ftyp", b"wide", b"free", b"mdat", b"skip"):
                return False
            first = False
            if box_type == b"moov":
                return False
            if box_size == 1 and len(header) >= 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                break
            if box_size < 8:
                return False
            offset += box_size
    return not first


def _open_error_message(path: Path, exc: BaseException) -> str:
    name = path.name
    if path.suffix.lower() in (".mp4", ".mov") and path.is_file() and _mp4_missing_moov(path):
        return (f"{name} is incomplete: its 'moov' index is missing, which happens when a recording is cut off "
                "or the file is still being written or copied. Re-export or re-copy the video.")
    detail = getattr(exc, "strerror", None) or str(exc)
    return f"{name} cannot be read as a video; it is damaged or not a video file ({detail})"


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"video not found: {path}")
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise InputError(f"{path.name}: unsupported video type {path.suffix or '(no extension)'!r}; "
                         f"use one of {', '.join(VIDEO_EXTENSIONS)}")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(4096)
    kind = _sniff_non_video(head)
    if kind is not None:
        raise InputError(f"{path.name} is {kind}, not a video (despite its {path.suffix} name)")


def open_input(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise InputError(_open_error_message(path, exc)) from None
    except OSError as exc:
        raise InputError(f"{path.name} cannot be opened ({exc.strerror or exc})") from None


def video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    fmt = container.format.name
    if fmt.endswith("_pipe") or fmt in ("image2", "image2pipe"):
        raise InputError(f"{name} is a still image ({fmt.removesuffix('_pipe').upper()}), not a video")
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        audio = len(container.streams.audio)
        what = f"only audio ({audio} audio stream{'s' if audio != 1 else ''})" if audio else "no video stream"
        raise InputError(f"{name} has {what}; there is no picture to explain")
    return streams[0]


def _codec_name(stream: av.video.stream.VideoStream) -> str:
    ctx = stream.codec_context
    return str(getattr(ctx, "name", "") or "unknown")


def _check_resolution(width: int, height: int, name: str) -> None:
    if width > MAX_VIDEO_SIDE or height > MAX_VIDEO_SIDE or width * height > MAX_VIDEO_PIXELS:
        raise InputError(f"{name}: {width}×{height} frames are too large (limit {MAX_VIDEO_PIXELS:,} pixels and "
                         f"{MAX_VIDEO_SIDE} px a side); re-encode the video at a lower resolution")


def _stream_rotation(stream: av.video.stream.VideoStream, frame: av.VideoFrame) -> int:
    """Counter-clockwise degrees to apply, snapped to 0/90/180/270.

    The display matrix (``frame.rotation``, counter-clockwise) wins; else the legacy ``rotate`` tag,
    which is clockwise (as FFmpeg reads it), hence the minus sign.
    """
    degrees = float(frame.rotation or 0)
    if degrees == 0:
        tags = {k.lower(): v for k, v in (stream.metadata or {}).items()}
        with suppress(ValueError, TypeError):
            degrees = -float(tags.get("rotate", 0))
    return int(round(degrees / 90.0)) % 4 * 90


def _fps_of(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0 and math.isfinite(float(rate)):
            return float(rate)
    return 25.0


def _duration_of(stream: av.video.stream.VideoStream, container: av.container.InputContainer) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _display_size(width: int, height: int, stream: av.video.stream.VideoStream, rotation: int) -> tuple[int, int]:
    sar = stream.sample_aspect_ratio
    if sar is not None and sar > 0 and sar != 1:
        width = max(1, round(width * float(sar)))
    return (height, width) if rotation in (90, 270) else (width, height)


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 name: str) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise InputError(f"{name}: no frame could be decoded; the video is damaged "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    raise InputError(f"{name} has a video stream but no frames")


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Check that ``path`` is a playable video and describe it; decodes the first frame.

    Raises :class:`InputError` (message names the problem) for: missing file, unsupported extension,
    an image/text/document under a video name, damaged or truncated file (incl. an MP4 without its
    ``moov`` index), no video stream (audio only), no frames, a codec this FFmpeg build cannot decode,
    and resolutions above ``MAX_VIDEO_PIXELS`` / ``MAX_VIDEO_SIDE``.
    """
    path = Path(path)
    _check_path(path)
    with open_input(path) as container:
        stream = video_stream(container, path.name)
        codec = _codec_name(stream)
        if stream.codec_context is None or not _decoder_available(codec):
            raise InputError(f"{path.name}: its video codec {codec!r} cannot be decoded by this FFmpeg build; "
                             "re-encode it as H.264 (MP4) or VP9 (WebM)")
        ctx = stream.codec_context
        if ctx.width and ctx.height:
            _check_resolution(ctx.width, ctx.height, path.name)
        frame = _first_frame(container, stream, path.name)
        _check_resolution(frame.width, frame.height, path.name)
        rotation = _stream_rotation(stream, frame)
        width, height = _display_size(frame.width, frame.height, stream, rotation)
        fps = _fps_of(stream)
        duration = _duration_of(stream, container)
        count = int(stream.frames) if stream.frames else (round(duration * fps) if duration else None)
        return VideoInfo(width=width, height=height, fps=fps, frame_count=count or None, duration_s=duration,
                         codec=codec, rotation=rotation, container=container.format.name)


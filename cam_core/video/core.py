"""Video in, explained video out: the CAM overlay and the verdict burned into every frame.

Used by ``python -m cam_core video`` and by the app's Video page. Three threads, two bounded queues::

    decoder thread  --in_queue(QUEUE_SIZE)-->  caller's thread  --out_queue(QUEUE_SIZE)-->  encoder thread
    demux + decode, rotate,                    batches frames, runs the explainer,           draws overlay + verdict,
    downscale to max_side                      fixes the colour scale, verdicts, CSV rows    encodes, muxes a temp file

Memory stays flat however long the video is: at most ``2·QUEUE_SIZE + MAX_PENDING_FRAMES + 3`` frames
are alive at any time (both queues full, the caller's pending batch, one frame in each worker). Decoding
and encoding (FFmpeg, which releases the GIL) overlap with inference.

Choices worth knowing:

- ``every=N`` explains frames ``0, N, 2N, …``; the frames in between reuse the maps and verdict of the
  last explained frame, so the output keeps the input's frame count and timing.
- Timing: each output frame keeps its input timestamp (``pts`` rebased to start at 0, in the input
  stream's time base), so variable-frame-rate clips keep their timing. GIF output is capped at
  ``GIF_MAX_FPS``: one frame per ``1/GIF_MAX_FPS`` s slot, timestamps snapped to that grid.
- Rotation: the display matrix (phones) or a legacy ``rotate`` tag is applied to the pixels; the output
  carries no rotation of its own. Non-square pixels are resampled to square ones. Audio is dropped.
- Colour scale: the evidence maps (:meth:`~cam_core.explain.pipeline.Explanation.evidence`) on one fixed symmetric
  ``(−A, A)`` for the whole video, never per-frame (which flickers): the ``value_range`` argument, else the
  model card's ``evidence_range``, else a robust range fixed from the first ``CALIBRATION_FRAMES``
  explained frames (:func:`auto_evidence_range`).
- A stream that breaks mid-way (a truncated recording) keeps the frames decoded so far and says so in
  :attr:`VideoResult.warnings`; a file with no decodable frame is an :class:`InputError`.
- Output is atomic: written to ``.<stem>.<random>.partial<ext>`` beside ``dst`` and moved into place only
  when complete. On any error, ``should_stop()`` or Ctrl-C, the temporary file is deleted and ``dst`` is
  left as it was (absent, or the previous file). Same for the CSV.
"""

from __future__ import annotations

import csv
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cam_core.errors import CamInspectorError, InputError
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.explain.render import COLORMAPS, normalize_maps, overlay

__all__ = [
    "CALIBRATION_FRAMES", "GIF_MAX_FPS", "GIF_MAX_WIDTH", "MAX_PENDING_FRAMES", "MAX_RECORDED_CLASSES",
    "MAX_VIDEO_PIXELS", "MAX_VIDEO_SIDE", "TOP_CLASSES_RECORDED", "OUTPUT_EXTENSIONS", "QUEUE_SIZE", "VIDEO_EXTENSIONS", "FrameRecord", "VideoCancelled",
    "VideoInfo", "VideoProgress", "VideoResult", "auto_evidence_range", "auto_value_range", "convert_video", "explain_video",
    "make_sample_clip", "probe_video", "read_frame", "read_frames", "write_frames_csv",
]

Layout = Literal["overlay", "side-by-side"]

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")
OUTPUT_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".gif")
# Per frame. 8K UHD, not 4K: DCI 4K (4096×2160) and 5K/6K cameras exist; frames are downscaled to
# ``max_side`` in the decoder thread (one full-size frame alive at a time), so only headers claiming
# absurd sizes (e.g. 100000×100000) are refused.
MAX_VIDEO_PIXELS = 7680 * 4320
MAX_VIDEO_SIDE = 16384
QUEUE_SIZE = 8                 # frames per queue (decoder→caller, caller→encoder)
MAX_PENDING_FRAMES = 64        # frames the caller's thread holds while it fills a batch
CALIBRATION_FRAMES = 16        # explained frames used to fix the colour scale when none is given
GIF_MAX_WIDTH = 480
# FrameRecord keeps every class's probability for models with up to this many classes; above (e.g. an
# ImageNet model), only each frame's TOP_CLASSES_RECORDED, so records stay small on long videos.
MAX_RECORDED_CLASSES = 32
TOP_CLASSES_RECORDED = 5
GIF_MAX_FPS = 10
_POLL_S = 0.1                  # how often blocked threads look at the stop flag
_JOIN_TIMEOUT_S = 30.0
_VERDICT_COLOURS = {"ng": (205, 30, 30), "ok": (25, 140, 60), "other": (45, 45, 45)}


class VideoCancelled(CamInspectorError):
    """``should_stop()`` returned True: the run stopped and nothing was written."""


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


@dataclass(frozen=True)
class FrameRecord:
    """Verdict of one input frame. With ``every > 1``, ``explained`` is False for frames that reuse
    the previous explained frame's verdict."""

    index: int
    time_s: float
    predicted: str
    probabilities: dict[str, float]
    explained: bool = True


@dataclass(frozen=True)
class VideoProgress:
    """Passed to the ``progress`` callback (in the caller's thread) after each batch.

    ``frames_done`` counts frames explained and handed to the encoder; ``frames_total`` is the header's
    estimate (None if unknown; the last call has the exact count). ``fps`` is the average end-to-end
    rate since the start; ``eta_s = (frames_total − frames_done) / fps`` when both are known.
    """

    frames_done: int
    frames_total: int | None
    fps: float
    eta_s: float | None


@dataclass(frozen=True)
class VideoResult:
    """A finished run: the written file, one record per input frame and the colour scale used."""

    output: Path
    frames: list[FrameRecord]
    info: VideoInfo
    value_range: tuple[float, float]
    scale_source: str          # "value_range argument", "model card" or "first N frames of the video"
    csv: Path | None = None
    warnings: tuple[str, ...] = ()
    frames_written: int = 0    # frames in the output (fewer than ``frames`` for GIF, see GIF_MAX_FPS)


# ---------------------------------------------------------------------------------------------
# probing
# ---------------------------------------------------------------------------------------------
def _codec_available(name: str, mode: str) -> bool:
    """Whether this PyAV build has codec ``name`` for ``mode`` ``"r"`` (decode) or ``"w"`` (encode)."""
    try:
        av.codec.Codec(name, mode)
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False
    return True


def _decoder_available(name: str) -> bool:
    return _codec_available(name, "r")


def _encoder_available(name: str) -> bool:
    return _codec_available(name, "w")


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


def _open_input(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise InputError(_open_error_message(path, exc)) from None
    except OSError as exc:
        raise InputError(f"{path.name} cannot be opened ({exc.strerror or exc})") from None


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
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
    with _open_input(path) as container:
        stream = _video_stream(container, path.name)
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


# ---------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """Frame geometry fixed before the threads start: ``size`` is the processed (displayed) frame,
    ``decode_size`` the size asked of swscale before rotation."""

    size: tuple[int, int]
    decode_size: tuple[int, int]
    rotation: int


@dataclass(frozen=True)
class _Frame:
    index: int
    time_s: float
    pts: int            # in ``time_base``, first frame at 0
    duration: int       # in ``time_base``; 0 when unknown
    time_base: Fraction
    image: np.ndarray   # H×W×3 uint8, rotated and downscaled


@dataclass(frozen=True)
class _EndOfStream:
    warning: str | None = None


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_END_JOBS = object()


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _make_plan(info: VideoInfo, max_side: int, max_width: int | None = None) -> _Plan:
    """Scale ``s = min(1, max_side / max(W, H), max_width / W)``; sides rounded down to even numbers
    (``yuv420p`` needs them)."""
    scale = min(1.0, max_side / max(info.width, info.height))
    if max_width is not None:
        scale = min(scale, max_width / info.width)
    width, height = _even(info.width * scale), _even(info.height * scale)
    decode = (height, width) if info.rotation in (90, 270) else (width, height)
    return _Plan(size=(width, height), decode_size=decode, rotation=info.rotation)


def _to_rgb(frame: av.VideoFrame, plan: _Plan) -> np.ndarray:
    """Decoded frame → ``H×W×3`` uint8 at ``plan.size``: swscale resize (area filter when shrinking),
    then ``np.rot90`` by the counter-clockwise rotation."""
    width, height = plan.decode_size
    shrink = width < frame.width or height < frame.height
    rgb = frame.to_ndarray(width=width, height=height, format="rgb24",
                           interpolation="AREA" if shrink else "BILINEAR")
    if plan.rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=plan.rotation // 90))
    return rgb


def _iter_decoded(path: Path, plan: _Plan, fps: float, start: int = 0) -> Iterator[_Frame | _EndOfStream]:
    """Every frame of ``path`` from index ``start`` on as :class:`_Frame`, then one :class:`_EndOfStream`
    (with a warning when the stream broke off after at least one frame, or ended well short of the frames
    its index lists). Frames before ``start`` are decoded (for their timestamps) but not converted."""
    with _open_input(path) as container:
        stream = _video_stream(container, path.name)
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
                    yield _Frame(index=index, time_s=float(pts * time_base), pts=pts,
                                 duration=int(frame.duration or 0), time_base=time_base,
                                 image=_to_rgb(frame, plan))
                index += 1
        except av.FFmpegError as exc:
            if index == 0:
                raise InputError(f"{path.name}: no frame could be decoded; the video is damaged "
                                 f"({getattr(exc, 'strerror', None) or exc})") from None
            yield _EndOfStream(f"{path.name} is damaged or truncated: decoding stopped after {index} frames "
                               f"({getattr(exc, 'strerror', None) or exc}); the output holds those frames")
            return
        if index == 0:
            raise InputError(f"{path.name} has a video stream but no frames")
        listed = int(stream.frames or 0)
    yield _EndOfStream(_shortfall_warning(path.name, index, listed))


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
    with closing(_iter_decoded(path, _make_plan(info, max_side), info.fps)) as frames:
        for item in frames:
            if isinstance(item, _Frame):
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
    with closing(_iter_decoded(path, _make_plan(info, max_side), info.fps, start=index)) as frames:
        for item in frames:
            if isinstance(item, _Frame):
                return item.time_s, item.image
    raise InputError(f"{path.name} has no frame {index} (it has fewer frames)")


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Panel:
    values01: np.ndarray   # h×w in [0, 1], feature resolution
    caption: str


@dataclass(frozen=True)
class _Verdict:
    label: str
    probability: float
    kind: str              # key of _VERDICT_COLOURS
    panels: tuple[_Panel, ...]


@dataclass(frozen=True)
class _Job:
    frame: _Frame
    verdict: _Verdict


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_box(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int,
              fill: tuple[int, int, int], anchor_bottom: bool = False) -> None:
    font = _font(size)
    pad = max(2, size // 4)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width, height = right - left + 2 * pad, bottom - top + 2 * pad
    x, y = xy
    if anchor_bottom:
        y -= height
    draw.rectangle((x, y, x + width, y + height), fill=fill)
    draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 255), font=font)


def _render(job: _Job, opacity: float, colormap: str) -> Image.Image:
    """One output frame: overlay panel(s) side by side, captions when there are several, verdict box
    (top-left, red for NG, green for OK) on the first."""
    base = Image.fromarray(job.frame.image)
    width, height = base.size
    panels = [overlay(base, p.values01, opacity, colormap) for p in job.verdict.panels]
    if len(panels) == 1:
        out = panels[0]
    else:
        out = Image.new("RGB", (width * len(panels), height))
        for i, panel in enumerate(panels):
            out.paste(panel, (i * width, 0))
    draw = ImageDraw.Draw(out)
    size = max(10, round(0.06 * height))
    margin = max(2, size // 3)
    if len(panels) > 1:
        for i, panel in enumerate(job.verdict.panels):
            _text_box(draw, (i * width + margin, height - margin), panel.caption, max(8, size * 3 // 4),
                      (30, 30, 30), anchor_bottom=True)
    verdict = job.verdict
    _text_box(draw, (margin, margin), f"{verdict.label.upper()} {verdict.probability:.2f}", size,
              _VERDICT_COLOURS[verdict.kind])
    return out


# ---------------------------------------------------------------------------------------------
# verdicts and colour scale
# ---------------------------------------------------------------------------------------------
def _predicted_index(probabilities: np.ndarray, positive: int | None, threshold: float) -> int:
    """NG when ``p(ng) ≥ threshold`` (models with an NG class), else the most probable other class."""
    if positive is None:
        return int(np.argmax(probabilities))
    if probabilities[positive] >= threshold:
        return positive
    others = probabilities.copy()
    others[positive] = -np.inf
    return int(np.argmax(others))


def _panel_classes(explanation: Explanation, positive: int | None, layout: Layout) -> list[int]:
    """Classes shown: overlay → the NG class (else the predicted one); side-by-side → OK | NG for an
    OK/NG model, else the two most probable classes (most probable first). Only classes with a map."""
    available = set(explanation.class_indices)
    by_probability = [int(c) for c in np.argsort(-explanation.probabilities) if int(c) in available]
    if layout == "overlay":
        wanted = positive if positive is not None and positive in available else explanation.predicted
        return [wanted if wanted in available else by_probability[0]]
    if positive is not None and len(explanation.classes) == 2 and len(available) == 2:
        return [1 - positive, positive]
    if len(explanation.classes) == 2 and len(available) == 2:
        return [0, 1]
    return by_probability[:2]


def auto_evidence_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """A fixed symmetric colour scale ``(−A, A)`` from a few frames' evidence maps.

    ``A`` = 1.25 × the 99th percentile of ``|value|`` (robust to a stray hot pixel, with room for a
    hotter defect than the first frames hold); at least 1e-3.
    """
    values = np.concatenate([np.abs(np.asarray(m, dtype=np.float32)).ravel() for m in maps]) if maps else np.zeros(1)
    values = values[np.isfinite(values)]
    top = 1.25 * float(np.percentile(values, 99.0)) if values.size else 1.0
    top = max(top, 1e-3)
    return -top, top


def auto_value_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """A fixed colour scale from a few frames' raw maps.

    ``lo, hi`` = 1st and 99th percentiles of all values (robust to a stray hot pixel); the range is
    widened by 10 % of ``hi − lo`` below and 25 % above, because the first frames rarely hold the
    hottest defect. A flat map gets ``±max(1, |v|)`` around its value.
    """
    values = np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, [1.0, 99.0]))
    span = hi - lo
    if span <= 1e-6 * max(1.0, abs(hi)):
        half = max(1.0, abs(hi))
        return lo - half, hi + half
    return lo - 0.10 * span, hi + 0.25 * span


def _recorded_probabilities(explanation: Explanation) -> dict[str, float]:
    """Every class's probability in model order (top ``TOP_CLASSES_RECORDED`` for very large models)."""
    probabilities, classes = explanation.probabilities, explanation.classes
    if len(classes) <= MAX_RECORDED_CLASSES:
        return {c: float(p) for c, p in zip(classes, probabilities)}
    top = sorted(np.argsort(-probabilities)[:TOP_CLASSES_RECORDED].tolist())
    return {classes[i]: float(probabilities[i]) for i in top}


def _verdict(explanation: Explanation, positive: int | None, layout: Layout, threshold: float,
             value_range: tuple[float, float]) -> _Verdict:
    classes = explanation.classes
    predicted = _predicted_index(explanation.probabilities, positive, threshold)
    if positive is None:
        kind = "other"
    else:
        kind = "ng" if predicted == positive else "ok"
    shown = _panel_classes(explanation, positive, layout)
    shown_maps = explanation.display_maps(shown, "evidence")
    scaled, _ = normalize_maps(shown_maps, "evidence", value_range)
    panels = tuple(_Panel(values01=scaled[i], caption=f"{classes[c]} map") for i, c in enumerate(shown))
    return _Verdict(label=classes[predicted], probability=float(explanation.probabilities[predicted]),
                    kind=kind, panels=panels)


# ---------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------
def _encoder_for(dst: Path) -> str:
    """The FFmpeg encoder for ``dst``'s extension; :class:`InputError` when this build lacks it."""
    suffix = dst.suffix.lower()
    if suffix not in OUTPUT_EXTENSIONS:
        raise InputError(f"output {dst.name}: choose a name ending in {', '.join(OUTPUT_EXTENSIONS)} "
                         "(.mp4 = H.264, plays in every browser)")
    candidates = {".mp4": ("libx264",), ".webm": ("libvpx-vp9", "libvpx"), ".gif": ("gif",)}[suffix]
    for name in candidates:
        if _encoder_available(name):
            return name
    alternatives = [s for s in OUTPUT_EXTENSIONS if s != suffix]
    raise InputError(f"this PyAV/FFmpeg build has no {' or '.join(candidates)} encoder, so {suffix} output "
                     f"cannot be written; choose {' or '.join(alternatives)}")


# x264 "superfast": 1.7× faster than "veryfast" at 720p on this project's CPUs (28 vs 49 ms/frame) for
# files ~40 % larger (~2.2 Mbit/s at 720p with overlays); encoding is the largest cost after the network.
_ENCODER_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "superfast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "33", "b": "0"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "2M"},
    "gif": {},
}


class _Writer:
    """Encodes rendered frames into ``path`` (muxer chosen by its extension)."""

    def __init__(self, path: Path, encoder: str, size: tuple[int, int], fps: float) -> None:
        self.encoder = encoder
        self.gif = encoder == "gif"
        options = {"movflags": "+faststart"} if path.suffix.lower() == ".mp4" else {}
        self.container = av.open(str(path), "w", options=options)
        try:
            rate = Fraction(GIF_MAX_FPS) if self.gif else Fraction(fps).limit_denominator(1001)
            self.stream = self.container.add_stream(encoder, rate=rate, options=_ENCODER_OPTIONS[encoder])
            self.stream.width, self.stream.height = size
            self.stream.pix_fmt = "pal8" if self.gif else "yuv420p"
        except BaseException:
            self.abort()
            raise
        self.time_base: Fraction | None = Fraction(1, 100) if self.gif else None
        if self.gif:
            self.stream.codec_context.time_base = self.time_base
        self.last_pts = -1
        self.last_slot = -1
        self.written = 0

    def wants(self, frame: _Frame) -> bool:
        """GIF keeps one frame per ``1/GIF_MAX_FPS`` s slot; other formats keep every frame."""
        if not self.gif:
            return True
        return math.floor(frame.time_s * GIF_MAX_FPS + 1e-6) > self.last_slot

    def write(self, image: Image.Image, frame: _Frame) -> None:
        if self.gif:
            slot = math.floor(frame.time_s * GIF_MAX_FPS + 1e-6)
            self.last_slot = slot
            pts, duration = slot * (100 // GIF_MAX_FPS), 100 // GIF_MAX_FPS
            out = _pal8_frame(image)
        else:
            if self.time_base is None:  # the input's time base keeps its timestamps exact
                self.time_base = frame.time_base
                self.stream.codec_context.time_base = frame.time_base
            pts, duration = frame.pts, frame.duration
            out = av.VideoFrame.from_image(image)
        out.pts = max(pts, self.last_pts + 1)
        out.time_base = self.time_base
        if duration > 0:
            out.duration = duration
        self.last_pts = out.pts
        self._mux(self.stream.encode(out))
        self.written += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self.container.mux(packet)

    def finish(self) -> None:
        self._mux(self.stream.encode(None))
        self.container.close()

    def abort(self) -> None:
        with suppress(av.FFmpegError, OSError, ValueError):
            self.container.close()


def _pal8_frame(image: Image.Image) -> av.VideoFrame:
    """RGB → 256-colour adaptive palette (per frame, no dithering: smaller files) as a ``pal8`` frame;
    PyAV wants the palette as 256 ARGB rows."""
    quantized = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    rgb = np.frombuffer(bytes(quantized.getpalette("RGB") or []), dtype=np.uint8).reshape(-1, 3)[:256]
    palette = np.zeros((256, 4), dtype=np.uint8)
    palette[:, 0] = 255
    palette[:len(rgb), 1:] = rgb
    return av.VideoFrame.from_ndarray((np.asarray(quantized), palette), format="pal8")


# ---------------------------------------------------------------------------------------------
# threads
# ---------------------------------------------------------------------------------------------
class _Worker(threading.Thread):
    """A daemon thread that keeps the exception that ended it, for the caller to re-raise."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, re-raised there
            self.error = exc


def _put(q: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Blocking put that gives up (False) once ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _decode_worker(path: Path, plan: _Plan, fps: float, q: queue.Queue[object], stop: threading.Event) -> None:
    try:
        with closing(_iter_decoded(path, plan, fps)) as frames:
            for item in frames:
                if not _put(q, item, stop):
                    return
    except BaseException as exc:  # noqa: BLE001 - sent to the caller's thread through the queue
        _put(q, _Failure(exc), stop)


def _encode_worker(writer_factory: Callable[[], _Writer], q: queue.Queue[object], stop: threading.Event,
                   opacity: float, colormap: str, result: list[int]) -> None:
    writer = writer_factory()
    try:
        while True:
            try:
                job = q.get(timeout=_POLL_S)
            except queue.Empty:
                if stop.is_set():
                    writer.abort()
                    return
                continue
            if job is _END_JOBS:
                writer.finish()
                result.append(writer.written)
                return
            assert isinstance(job, _Job)
            if writer.wants(job.frame):
                writer.write(_render(job, opacity, colormap), job.frame)
    except BaseException:
        writer.abort()
        raise


class _Pipeline:
    """State of one run in the caller's thread: pending frames, colour scale, records, progress."""

    def __init__(self, explainer: Explainer, *, layout: Layout, every: int, batch_size: int, threshold: float,
                 value_range: tuple[float, float] | None, scale_source: str, frames_total: int | None,
                 progress: Callable[[VideoProgress], None] | None) -> None:
        self.explainer = explainer
        self.bundle = explainer.bundle
        self.positive = self.bundle.positive_index
        self.layout: Layout = layout
        self.every = every
        self.batch_size = batch_size
        self.threshold = threshold
        self.value_range = value_range
        self.scale_source = scale_source
        self.frames_total = frames_total
        self.progress = progress
        self.records: list[FrameRecord] = []
        self.current: tuple[_Verdict, dict[str, float]] | None = None
        self.started = time.perf_counter()

    def batch_target(self) -> int:
        """Explained frames to gather before a batch runs (more for the first when calibrating)."""
        return self.batch_size if self.value_range is not None else max(self.batch_size, CALIBRATION_FRAMES)

    def flush(self, pending: list[_Frame], out_q: queue.Queue[object], stop: threading.Event,
              encoder: _Worker) -> None:
        """Explain the pending frames due (``index % every == 0``), then queue all of them for encoding."""
        if not pending:
            return
        due = [f for f in pending if f.index % self.every == 0]
        explanations = self.explainer.explain([f.image for f in due]) if due else []
        if self.value_range is None:
            shown = [e.display_maps(_panel_classes(e, self.positive, self.layout), "evidence") for e in explanations]
            self.value_range = auto_evidence_range(shown)
            self.scale_source = f"first {len(explanations)} frames of the video"
        by_index = dict(zip((f.index for f in due), explanations))
        for frame in pending:
            explanation = by_index.get(frame.index)
            if explanation is not None:
                verdict = _verdict(explanation, self.positive, self.layout, self.threshold, self.value_range)
                probs = _recorded_probabilities(explanation)
                self.current = (verdict, probs)
            if self.current is None:
                raise RuntimeError("internal error: a frame before the first explained frame")
            verdict, probs = self.current
            self.records.append(FrameRecord(index=frame.index, time_s=frame.time_s, predicted=verdict.label,
                                            probabilities=probs, explained=explanation is not None))
            _put_or_raise(out_q, _Job(frame=frame, verdict=verdict), stop, encoder)
        self.report()

    def report(self, final: bool = False) -> None:
        if self.progress is None:
            return
        done = len(self.records)
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        total = done if final else (max(self.frames_total, done) if self.frames_total else None)
        fps = done / elapsed
        eta = (total - done) / fps if total is not None and fps > 0 else None
        self.progress(VideoProgress(frames_done=done, frames_total=total, fps=fps, eta_s=eta))


def _put_or_raise(q: queue.Queue[object], item: object, stop: threading.Event, consumer: _Worker) -> None:
    while True:
        try:
            q.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            _raise_if_dead(consumer, "encoder")
            if stop.is_set():
                raise RuntimeError("video pipeline stopped") from None


def _raise_if_dead(worker: _Worker, role: str) -> None:
    if worker.error is not None:
        raise worker.error
    if not worker.is_alive():
        raise RuntimeError(f"the video {role} thread ended unexpectedly")


def _take(q: queue.Queue[object], producer: _Worker, should_stop: Callable[[], bool] | None) -> object:
    while True:
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            if should_stop is not None and should_stop():
                raise VideoCancelled("stopped before the video was finished; nothing was written") from None
            if producer.error is not None or not producer.is_alive():
                with suppress(queue.Empty):
                    return q.get_nowait()
                _raise_if_dead(producer, "decoder")


def _run(src: Path, writer_factory: Callable[[], _Writer], plan: _Plan, info: VideoInfo, state: _Pipeline, *,
         opacity: float, colormap: str, should_stop: Callable[[], bool] | None) -> tuple[str | None, int]:
    """Run the three stages; returns (decoder warning, frames written). Always stops and joins both workers."""
    stop = threading.Event()
    in_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    out_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    written: list[int] = []
    decoder = _Worker("cam-video-decode", lambda: _decode_worker(src, plan, info.fps, in_q, stop))
    encoder = _Worker("cam-video-encode",
                      lambda: _encode_worker(writer_factory, out_q, stop, opacity, colormap, written))
    decoder.start()
    encoder.start()
    try:
        state.report()
        pending: list[_Frame] = []
        due = 0
        while True:
            item = _take(in_q, decoder, should_stop)
            if should_stop is not None and should_stop():
                raise VideoCancelled("stopped before the video was finished; nothing was written")
            if isinstance(item, _Failure):
                raise item.error
            if isinstance(item, _EndOfStream):
                break
            assert isinstance(item, _Frame)
            pending.append(item)
            due += item.index % state.every == 0
            if due >= state.batch_target() or len(pending) >= MAX_PENDING_FRAMES:
                state.flush(pending, out_q, stop, encoder)
                pending, due = [], 0
        state.flush(pending, out_q, stop, encoder)
        _put_or_raise(out_q, _END_JOBS, stop, encoder)
        while encoder.is_alive():
            encoder.join(_POLL_S)
        if encoder.error is not None:
            raise encoder.error
        state.report(final=True)
        warning = item.warning if isinstance(item, _EndOfStream) else None
        return warning, (written[0] if written else 0)
    finally:
        stop.set()
        decoder.join(_JOIN_TIMEOUT_S)
        encoder.join(_JOIN_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------------------------
def _temp_beside(path: Path) -> Path:
    """An empty, uniquely named ``.<stem>.<random>.partial<ext>`` in ``path``'s folder (same filesystem,
    so ``os.replace`` is atomic; the real extension last, so FFmpeg picks the right muxer)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    os.close(handle)
    return Path(name)


def _remove(path: Path | None) -> None:
    if path is not None:
        with suppress(FileNotFoundError):
            path.unlink()


def _check_options(layout: str, opacity: float, colormap: str, every: int, max_side: int, batch_size: int,
                   threshold: float, value_range: tuple[float, float] | None) -> None:
    problems = []
    if layout not in ("overlay", "side-by-side"):
        problems.append(f"layout must be 'overlay' or 'side-by-side', not {layout!r}")
    if not 0.0 <= opacity <= 1.0:
        problems.append(f"opacity must be between 0 and 1, not {opacity}")
    if colormap not in COLORMAPS:
        problems.append(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    if every < 1:
        problems.append(f"every must be 1 or more, not {every}")
    if max_side < 16:
        problems.append(f"max_side must be at least 16 pixels, not {max_side}")
    if batch_size < 1:
        problems.append(f"batch_size must be 1 or more, not {batch_size}")
    if not 0.0 <= threshold <= 1.0:
        problems.append(f"threshold must be between 0 and 1, not {threshold}")
    if value_range is not None and not (math.isfinite(value_range[0]) and math.isfinite(value_range[1])
                                        and value_range[0] < value_range[1]):
        problems.append(f"value_range must be two finite numbers lo < hi, not {value_range}")
    if problems:
        raise InputError("; ".join(problems))


def explain_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    explainer: Explainer,
    *,
    layout: Layout = "overlay",
    opacity: float = 0.5,
    colormap: str = "jet",
    every: int = 1,
    max_side: int = 1280,
    csv_path: str | os.PathLike[str] | None = None,
    batch_size: int = 8,
    value_range: tuple[float, float] | None = None,
    progress: Callable[[VideoProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threshold: float = 0.5,
) -> VideoResult:
    """Explain every frame of ``src`` and write the annotated video to ``dst`` (``.mp4``/``.webm``/``.gif``).

    ``layout="overlay"``: the NG map (or the predicted class's map for a model without an NG class) over
    the frame; ``"side-by-side"``: OK map | NG map (two most probable classes for other models), so the
    output is twice as wide. Each frame gets its verdict box ("NG 0.97" red / "OK 0.99" green); the
    verdict is NG when ``p(ng) ≥ threshold``. Frames are downscaled so the longer side is ≤ ``max_side``
    (GIF: output ≤ ``GIF_MAX_WIDTH`` wide, ≤ ``GIF_MAX_FPS`` frames/s). ``batch_size`` frames go through
    the network at once (capped by ``MAX_PENDING_FRAMES``). ``progress`` and ``should_stop`` are called
    in the caller's thread. See the module docstring for timing, rotation, colour-scale and atomicity.

    Raises :class:`InputError` (bad input, options or output name), :class:`VideoCancelled`
    (``should_stop()``), and whatever the explainer or ``progress`` raise; nothing is left at ``dst``.
    """
    _check_options(layout, opacity, colormap, every, max_side, batch_size, threshold, value_range)
    src, dst = Path(src), Path(dst)
    csv_target = Path(csv_path) if csv_path is not None else None
    encoder = _encoder_for(dst)
    if dst.resolve() == src.resolve() or (csv_target is not None and csv_target.resolve() in (src.resolve(),
                                                                                               dst.resolve())):
        raise InputError(f"the output {dst.name} must not overwrite the input or the CSV")
    info = probe_video(src)
    panels = 2 if layout == "side-by-side" else 1
    plan = _make_plan(info, max_side, GIF_MAX_WIDTH // panels if encoder == "gif" else None)
    out_size = (plan.size[0] * panels, plan.size[1])
    if value_range is not None:
        scale, source = (float(value_range[0]), float(value_range[1])), "value_range argument"
    elif explainer.bundle.evidence_range is not None:
        scale, source = explainer.bundle.evidence_range, "model card"
    else:
        scale, source = None, ""
    state = _Pipeline(explainer, layout=layout, every=every, batch_size=min(batch_size, MAX_PENDING_FRAMES),
                      threshold=threshold, value_range=scale, scale_source=source, frames_total=info.frame_count,
                      progress=progress)
    tmp_video = _temp_beside(dst)
    tmp_csv: Path | None = None
    try:
        warning, written = _run(src, lambda: _Writer(tmp_video, encoder, out_size, info.fps), plan, info, state,
                                opacity=opacity, colormap=colormap, should_stop=should_stop)
        if csv_target is not None:
            tmp_csv = _temp_beside(csv_target)
            _write_csv(state.records, tmp_csv)
            os.replace(tmp_csv, csv_target)
        os.replace(tmp_video, dst)
    except BaseException:
        _remove(tmp_video)
        _remove(tmp_csv)
        raise
    assert state.value_range is not None
    return VideoResult(output=dst, frames=state.records, info=info, value_range=state.value_range,
                       scale_source=state.scale_source, csv=csv_target,
                       warnings=(warning,) if warning else (), frames_written=written)


def _write_csv(frames: Sequence[FrameRecord], path: Path) -> None:
    classes = list(dict.fromkeys(c for record in frames for c in record.probabilities))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame", "time_s", "predicted", *(f"p_{c}" for c in classes)])
        for record in frames:
            probabilities = record.probabilities
            writer.writerow([record.index, f"{record.time_s:.6f}", record.predicted,
                             *(f"{probabilities[c]:.6f}" if c in probabilities else "" for c in classes)])


def write_frames_csv(frames: Sequence[FrameRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``frame,time_s,predicted,p_<class>…`` (one row per frame, classes in model order), atomically.

    With ``every > 1`` the rows of frames that were not explained repeat the last explained frame's values.
    For models above ``MAX_RECORDED_CLASSES`` classes the columns are the classes that made some frame's
    top ``TOP_CLASSES_RECORDED`` (blank where a frame did not record that class).
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        _write_csv(frames, tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def convert_video(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, max_side: int = 1280) -> Path:
    """Re-encode ``src`` in ``dst``'s format (``.mp4``/``.webm``/``.gif``), e.g. an explained MP4 as a GIF.

    Decoded as :func:`explain_video` decodes (rotation applied, longer side ≤ ``max_side``) and written by
    the same writer: timestamps kept; GIF ≤ ``GIF_MAX_WIDTH`` wide and ≤ ``GIF_MAX_FPS`` frames/s; audio
    dropped. Written atomically; raises :class:`InputError` for bad input or output names.
    """
    src, dst = Path(src), Path(dst)
    if max_side < 16:
        raise InputError(f"max_side must be at least 16 pixels, not {max_side}")
    encoder = _encoder_for(dst)
    if dst.resolve() == src.resolve():
        raise InputError(f"the output {dst.name} must not overwrite the input")
    info = probe_video(src)
    plan = _make_plan(info, max_side, GIF_MAX_WIDTH if encoder == "gif" else None)
    tmp = _temp_beside(dst)
    writer: _Writer | None = None
    try:
        writer = _Writer(tmp, encoder, plan.size, info.fps)
        with closing(_iter_decoded(src, plan, info.fps)) as frames:
            for item in frames:
                if isinstance(item, _Frame) and writer.wants(item):
                    writer.write(Image.fromarray(item.image), item)
        writer.finish()
        os.replace(tmp, dst)
    except BaseException:
        if writer is not None:
            writer.abort()
        _remove(tmp)
        raise
    return dst


def make_sample_clip(path: str | os.PathLike[str], *, seed: int = 0, seconds: float = 4, fps: int = 15) -> Path:
    """The built-in sample: hex nuts on a conveyor (every third one NG), 480×270 H.264 MP4 (~50 kB for 4 s),
    from :func:`cam_core.synth.parts.conveyor_frames`. Written atomically."""
    from cam_core.synth.parts import conveyor_frames

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise InputError(f"the sample clip is an MP4; name it *.mp4, not {path.name}")
    if not (0 < seconds <= 600 and 1 <= fps <= 60):
        raise InputError("the sample clip needs 0 < seconds ≤ 600 and 1 ≤ fps ≤ 60")
    encoder = _encoder_for(path)
    tmp = _temp_beside(path)
    try:
        with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream(encoder, rate=fps, options=_ENCODER_OPTIONS[encoder])
            stream.width, stream.height, stream.pix_fmt = 480, 270, "yuv420p"
            for image, _ in conveyor_frames(seed=seed, n_frames=max(1, round(seconds * fps)), fps=fps):
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path

"""Encoding: rendered frames into an MP4 (H.264), WebM (VP9/VP8) or GIF, timestamps kept.

:func:`encoder_for` picks the FFmpeg encoder for an output name (an :class:`InputError` when this build lacks
it); :class:`Writer` encodes and muxes frames, keeping each input timestamp (GIF: at most ``GIF_MAX_FPS``
frames/s, one per ``1/GIF_MAX_FPS`` s slot, with a per-frame 256-colour palette).
"""

from __future__ import annotations

import math
from contextlib import suppress
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from cam_core.errors import InputError
from cam_core.video.decode import Frame
from cam_core.video.probe import codec_available

OUTPUT_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".gif")
GIF_MAX_WIDTH = 480
GIF_MAX_FPS = 10


def _encoder_available(name: str) -> bool:
    return codec_available(name, "w")


def encoder_for(dst: Path) -> str:
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
ENCODER_OPTIONS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "superfast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "33", "b": "0"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "2M"},
    "gif": {},
}


class Writer:
    """Encodes rendered frames into ``path`` (muxer chosen by its extension)."""

    def __init__(self, path: Path, encoder: str, size: tuple[int, int], fps: float) -> None:
        self.encoder = encoder
        self.gif = encoder == "gif"
        options = {"movflags": "+faststart"} if path.suffix.lower() == ".mp4" else {}
        self.container = av.open(str(path), "w", options=options)
        try:
            rate = Fraction(GIF_MAX_FPS) if self.gif else Fraction(fps).limit_denominator(1001)
            self.stream = add_video_stream(self.container, encoder, rate, size, "pal8" if self.gif else "yuv420p")
        except BaseException:
            self.abort()
            raise
        self.time_base: Fraction | None = None
        if self.gif:
            self.time_base = self.stream.codec_context.time_base = Fraction(1, 100)
        self.last_pts = -1
        self.last_slot = -1
        self.written = 0

    def wants(self, frame: Frame) -> bool:
        """GIF keeps one frame per ``1/GIF_MAX_FPS`` s slot; other formats keep every frame."""
        return not self.gif or gif_slot(frame) > self.last_slot

    def write(self, image: Image.Image, frame: Frame) -> None:
        self.write_prepared(prepare_frame(image, self.gif), frame)

    def write_prepared(self, out: av.VideoFrame, frame: Frame) -> None:
        """Encode a frame already converted by :func:`prepare_frame` (another thread may have done that)."""
        if self.gif:
            slot = gif_slot(frame)
            self.last_slot = slot
            pts, duration = slot * (100 // GIF_MAX_FPS), 100 // GIF_MAX_FPS
        else:
            if self.time_base is None:  # the input's time base keeps its timestamps exact
                self.time_base = self.stream.codec_context.time_base = frame.time_base
            pts, duration = frame.pts, frame.duration
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


def gif_slot(frame: Frame) -> int:
    """The ``1/GIF_MAX_FPS`` s slot of ``frame``: a GIF keeps the first frame of each slot."""
    return math.floor(frame.time_s * GIF_MAX_FPS + 1e-6)


def prepare_frame(image: Image.Image, gif: bool) -> av.VideoFrame:
    """A rendered RGB frame in the encoder's pixel format: ``pal8`` for GIF, else ``yuv420p`` (swscale)."""
    return _pal8_frame(image) if gif else av.VideoFrame.from_image(image).reformat(format="yuv420p")


def _pal8_frame(image: Image.Image) -> av.VideoFrame:
    """RGB → 256-colour adaptive palette (per frame, no dithering: smaller files) as a ``pal8`` frame;
    PyAV wants the palette as 256 ARGB rows."""
    quantized = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    rgb = np.frombuffer(bytes(quantized.getpalette("RGB") or []), dtype=np.uint8).reshape(-1, 3)[:256]
    palette = np.zeros((256, 4), dtype=np.uint8)
    palette[:, 0] = 255
    palette[:len(rgb), 1:] = rgb
    # PyAV takes an (indices, palette) pair for pal8; its type stub only lists plain arrays.
    return av.VideoFrame.from_ndarray((np.asarray(quantized), palette), format="pal8")  # type: ignore[arg-type]



def add_video_stream(container: av.container.OutputContainer, encoder: str, rate: Fraction | int,
                     size: tuple[int, int], pix_fmt: str) -> av.video.stream.VideoStream:
    """A ``size`` (width, height) video stream of ``encoder`` in ``container``, with its tuned options."""
    stream = container.add_stream(encoder, rate=rate, options=ENCODER_OPTIONS[encoder])
    if not isinstance(stream, av.video.stream.VideoStream):
        raise TypeError(f"{encoder} is not a video encoder")
    stream.width, stream.height = size
    stream.pix_fmt = pix_fmt
    return stream

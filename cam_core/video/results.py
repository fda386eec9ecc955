"""What a video run tells its caller: progress while it runs, the result when done, or that it was cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cam_core.errors import CamInspectorError
from cam_core.progress import Progress
from cam_core.video.events import VideoEvent
from cam_core.video.probe import VideoInfo
from cam_core.video.records import FrameRecord


class VideoCancelled(CamInspectorError):
    """``should_stop()`` returned True: the run stopped and nothing was written."""


@dataclass(frozen=True)
class VideoProgress(Progress):
    """The one progress event (:class:`cam_core.progress.Progress`, stage ``"frame"``) of a video run, passed
    to the ``progress`` callback (in the caller's thread) after each batch, with the video's names for its
    numbers.

    ``frames_done`` (= ``done``) counts frames explained and handed to the encoder; ``frames_total``
    (= ``total``, None when 0) is the header's estimate (the last call has the exact count). ``fps`` is the
    average end-to-end rate since the start; ``eta_s = (frames_total − frames_done) / fps`` when both are known.
    ``message``: ``"frame 12/90 at 14.2 frames/s, ETA 5 s"``.
    """

    @classmethod
    def of(cls, frames_done: int, frames_total: int | None, fps: float, eta_s: float | None) -> VideoProgress:
        total = f"/{frames_total}" if frames_total else ""
        eta = f", ETA {eta_s:.0f} s" if eta_s is not None else ""
        fields = {"fps": fps} if eta_s is None else {"fps": fps, "eta_s": eta_s}
        return cls(stage="frame", done=frames_done, total=frames_total or 0,
                   message=f"frame {frames_done}{total} at {fps:.1f} frames/s{eta}", fields=fields)

    @property
    def frames_done(self) -> int:
        return self.done

    @property
    def frames_total(self) -> int | None:
        return self.total or None

    @property
    def fps(self) -> float:
        return float(self.fields["fps"])

    @property
    def eta_s(self) -> float | None:
        eta = self.fields.get("eta_s")
        return None if eta is None else float(eta)


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
    frames_declared: int | None = None   # the file's own frame count, when it ended before it (truncated)

    @property
    def ended_early(self) -> bool:
        """The file broke off before the frames its index declares (a truncated or damaged recording)."""
        return self.frames_declared is not None and self.frames_declared > len(self.frames)

    @property
    def frames_text(self) -> str:
        """``"60 frames"``, or ``"30 of 60 declared frames; the file ends early"`` for a truncated file."""
        if self.ended_early:
            return f"{len(self.frames)} of {self.frames_declared} declared frames; the file ends early"
        return f"{len(self.frames)} frames"
    events: tuple[VideoEvent, ...] = ()   # runs of NG frames (cam_core.video.events)
    parts: tuple[VideoEvent, ...] = ()    # one verdict per part followed across frames (track_parts)
    events_csv: Path | None = None

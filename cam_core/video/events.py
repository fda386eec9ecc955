"""One verdict per event, not per frame: runs of NG frames, and (for a conveyor) one verdict per part.

- **NG runs**: contiguous frames whose verdict is the defect class become one event: first and last frame
  and time, the peak frame (highest ``P(defect)``), that maximum, and a thumbnail of the peak frame with its
  defect map (the map panel drawn last in the video) on the video's colour scale.
- **Parts** (``track_parts``): each part that crossed the view fully is found and followed from the frames
  (:mod:`cam_core.video.parts`, which says how and what it assumes); the crop where it was most centred is
  explained on its own, so a clean part beside a defective one gets its own OK, and each part gets one
  verdict (NG when ``P(defect) ≥ threshold``) with its crop's map as the thumbnail.

An event the domain check flags (a part, or an NG run with any frame, unlike the model's training data) is marked
``trusted = no``: its title says "not trusted" and its thumbnail has no alarm colours
(:func:`~cam_core.explain.certainty.untrusted_values`), as in the video's frames.

An event whose verdict the model is less than :data:`~cam_core.explain.certainty.P_HOT` sure of (a part's
``P(called class)``, an NG run's highest ``P(defect)``: the certainty at which a map turns orange) is marked
``sure = no`` and its title says "unsure": a one-frame run at P(NG) 0.53 is not read as a found defect.

:func:`write_events_csv` writes both kinds to one CSV (``<frames CSV stem>.events.csv`` from the CLI).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from cam_core.explain.certainty import P_HOT, is_trusted, untrusted_values
from cam_core.explain.layers import drawn_colormap, styled_overlay
from cam_core.explain.render import normalize_maps
from cam_core.explain.verdict import overlay_class, verdict_of
from cam_core.options import Layout
from cam_core.video.decode import Frame
from cam_core.video.frames import LAYOUT_STYLES, FrameView
from cam_core.video.outputs import atomic_output
from cam_core.video.parts import PartTrack

__all__ = ["EVENT_COLUMNS", "THUMBNAIL_WORDS", "EventLog", "VideoEvent", "events_csv_path", "part_events",
           "thumbnail_colormap", "write_events_csv"]

THUMB_WIDTH = 192
#: What a thumbnail's colours mean, for the report and the Video page (one sentence for both).
THUMBNAIL_WORDS = ("Each thumbnail, like each frame of the overlay video, is the defect map over the part on the "
                   "video's one fixed scale: red where the "
                   "model sees evidence of a defect, blue where it sees evidence against one, no colour where it "
                   "sees neither. A part or run not to trust is drawn in pale colours only.")
THUMBNAIL_STYLE = LAYOUT_STYLES[Layout.OVERLAY]   # a thumbnail is drawn as an overlay frame, whatever the layout
THUMB_MIN_OPACITY = 0.6    # a thumbnail is small: its colours must read even when the video was made faint
EVENT_COLUMNS = ("event", "kind", "verdict", "max_p_defect", "start_frame", "end_frame", "start_s", "end_s",
                 "peak_frame", "peak_s", "trusted", "sure")
EventKind = Literal["ng-run", "part"]


@dataclass(frozen=True)
class VideoEvent:
    """An NG run of frames or one part's verdict (see the module docstring)."""

    kind: EventKind
    number: int
    verdict: str               # the class called, e.g. "ng" (always the defect class for an NG run)
    max_p_defect: float        # highest P(defect) over the run; the part's P(defect)
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    peak_frame: int
    peak_s: float
    thumbnail: np.ndarray | None = field(default=None, compare=False, repr=False)   # h×w×3 uint8
    trusted: bool = True       # False: the domain check flags the part (or a frame of the run)
    sure: bool = True          # False: less than P_HOT sure of the verdict (see the module docstring)

    @property
    def title(self) -> str:
        """``Part 2: NG``, ``NG run 1``, with `` (not trusted)`` when the domain check flags it, else
        `` (unsure)`` when the model is less than P_HOT sure."""
        name = f"Part {self.number}: {self.verdict.upper()}" if self.kind == "part" else f"NG run {self.number}"
        if not self.trusted:
            return f"{name} (not trusted)"
        return name if self.sure else f"{name} (unsure)"

    def row(self) -> list[str]:
        return [str(self.number), self.kind, self.verdict, f"{self.max_p_defect:.6f}", str(self.start_frame),
                str(self.end_frame), f"{self.start_s:.3f}", f"{self.end_s:.3f}", str(self.peak_frame),
                f"{self.peak_s:.3f}", "yes" if self.trusted else "no", "yes" if self.sure else "no"]


def thumbnail_colormap(colormap: str) -> str:
    """The colour map of the thumbnails: a diverging one with a quiet middle (the video's own when it is one)."""
    return drawn_colormap(THUMBNAIL_STYLE, colormap)


def _thumbnail(image: np.ndarray, values01: np.ndarray, opacity: float, colormap: str) -> np.ndarray:
    """The part with its map drawn signed (:mod:`cam_core.explain.layers`), as the overlay frames are: "neither"
    transparent, evidence against the defect in the cold colours, for it in the warm ones."""
    height, width = image.shape[:2]
    size = (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / width)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(styled_overlay(small, values01, max(opacity, THUMB_MIN_OPACITY), thumbnail_colormap(colormap),
                                     THUMBNAIL_STYLE))


class EventLog:
    """Builds the NG-run events of one video from its frames, in order (the pipeline's caller thread)."""

    def __init__(self, defect_class: str | None, opacity: float = 0.5, colormap: str = "jet") -> None:
        self.defect_class = defect_class
        self.opacity, self.colormap = opacity, colormap
        self.events: list[VideoEvent] = []
        self._open: dict[str, Any] | None = None

    def add(self, frame: Frame, view: FrameView) -> None:
        """One frame and its view (its own, or the last explained frame's)."""
        verdict = view.verdict
        if verdict.kind != "ng":
            self.close()
            return
        p = float(verdict.positive_probability or 0.0)
        run = self._open
        if run is None:
            run = self._open = {"start": frame, "peak": frame, "p": -1.0, "thumb": None, "trusted": True}
        run["end"] = frame
        run["trusted"] = run["trusted"] and view.trusted
        if p > run["p"]:
            run["p"], run["peak"] = p, frame
            run["thumb"] = _thumbnail(frame.image, view.panels[-1].values01, self.opacity, self.colormap)

    def close(self) -> None:
        """End the open run, if any (at an OK frame and at the end of the video)."""
        run, self._open = self._open, None
        if run is None:
            return
        start, end, peak = run["start"], run["end"], run["peak"]
        self.events.append(VideoEvent(kind="ng-run", number=len(self.events) + 1,
                                      verdict=self.defect_class or "", max_p_defect=run["p"],
                                      start_frame=start.index, end_frame=end.index, start_s=start.time_s,
                                      end_s=end.time_s, peak_frame=peak.index, peak_s=peak.time_s,
                                      thumbnail=run["thumb"], trusted=run["trusted"], sure=run["p"] >= P_HOT))


def part_events(tracks: Sequence[PartTrack], explainer: Any, threshold: float, value_range: tuple[float, float],
                opacity: float = 0.5, colormap: str = "jet", first: int = 1) -> list[VideoEvent]:
    """One verdict per part fully seen: its best crop explained (``explainer``: an
    :class:`~cam_core.explain.pipeline.Explainer`), NG when ``P(defect) ≥ threshold``; numbered from ``first``."""
    seen = [t for t in tracks if t.crop is not None]
    explanations = explainer.explain([t.crop for t in seen]) if seen else []
    events = []
    for number, (track, explanation) in enumerate(zip(seen, explanations), start=first):
        verdict = verdict_of(explanation, threshold)
        shown = overlay_class(explanation)
        values, _ = normalize_maps(explanation.display_maps([shown], "evidence"), "evidence", value_range)
        trusted = is_trusted(explanation)
        if not trusted:
            values = untrusted_values(values)
        assert track.crop is not None
        events.append(VideoEvent(kind="part", number=number, verdict=verdict.class_name,
                                 max_p_defect=float(verdict.positive_probability or 0.0),
                                 start_frame=track.first_frame, end_frame=track.last_frame, start_s=track.first_s,
                                 end_s=track.last_s, peak_frame=track.crop_frame, peak_s=track.crop_s,
                                 thumbnail=_thumbnail(track.crop, values[0], opacity, colormap), trusted=trusted,
                                 sure=verdict.probability >= P_HOT))
    return events


def events_csv_path(frames_csv: str | os.PathLike[str]) -> Path:
    """``frames.csv`` → ``frames.events.csv`` (beside it)."""
    path = Path(frames_csv)
    return path.with_name(f"{path.stem}.events.csv")


def write_events_csv(events: Sequence[VideoEvent], path: str | os.PathLike[str]) -> Path:
    """``event,kind,verdict,max_p_defect,start_frame,end_frame,start_s,end_s,peak_frame,peak_s,trusted,sure``,
    atomically."""
    path = Path(path)
    with atomic_output(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EVENT_COLUMNS)
        writer.writerows(event.row() for event in events)
    return path

"""Parts that pass through the view (a conveyor), found and followed from the frames alone.

**How a part is found** in a frame (``H×W×3``, worked on a copy at most ``WORK_WIDTH`` wide):

1. luminance ``L``; the belt's level is the frame's median ``m`` (the belt fills most of the view);
2. foreground ``F = |L − m| > FOREGROUND_DELTA`` (parts differ from the belt: brighter or darker);
3. rows where more than ``STRUCTURE_ROW_SHARE`` of the pixels are foreground are fixed structure (rails,
   belt edges running across the whole view) and are left out;
4. a column is occupied when at least ``OCCUPIED_SHARE`` of the remaining rows are foreground; runs of
   occupied columns (gaps up to ``GAP_SHARE·W`` bridged) at least ``MIN_PART_SHARE·W`` wide are parts, with
   the rows of their foreground as their vertical extent.

**How a part is followed**: a part in frame ``t`` continues the track whose last interval ``[x0, x1]`` it
overlaps most, by at least ``MIN_OVERLAP`` of the narrower of the two; otherwise it starts a new track. A
track not seen for ``MAX_MISSED`` frames ends.

**What this assumes**: a fixed camera; parts cross the view along x (any direction) and do not overlap
along x; parts differ from a fairly uniform belt by more than ``FOREGROUND_DELTA`` grey levels; a part
moves less than about half its width between two frames (true for anything a 15 frames/s camera can see
sharply). Parts stacked above each other, touching parts or a busy background break it.

Each track keeps the crop of the frame where it was most centred while fully in view (not touching the
left or right edge); the video pipeline explains those crops, so each part gets one verdict
(:mod:`cam_core.video.events`). A track never fully in view (entering or leaving at the clip's ends) gets none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PartTrack", "PartTracker", "find_parts"]

WORK_WIDTH = 320
FOREGROUND_DELTA = 25.0
STRUCTURE_ROW_SHARE = 0.6
OCCUPIED_SHARE = 0.08
GAP_SHARE = 0.03
MIN_PART_SHARE = 0.05
MIN_OVERLAP = 0.3
MAX_MISSED = 2
CROP_PAD = 1.3        # the crop is a square 1.3× the part's larger side (the part with some belt around it)


@dataclass(frozen=True)
class Box:
    """A part in full-frame pixels: ``x0 ≤ x < x1``, ``y0 ≤ y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int


def _runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """``[start, end)`` runs of True in a 1-D mask, gaps of up to ``gap`` False bridged."""
    runs: list[tuple[int, int]] = []
    for x in np.flatnonzero(mask):
        if runs and x - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], int(x) + 1)
        else:
            runs.append((int(x), int(x) + 1))
    return runs


def find_parts(frame: np.ndarray) -> list[Box]:
    """The parts in ``frame`` (``H×W×3`` uint8), left to right (see the module docstring)."""
    height, width = frame.shape[:2]
    step = max(1, width // WORK_WIDTH)
    small = frame[::step, ::step].astype(np.float32)
    lum = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    fg = np.abs(lum - np.median(lum)) > FOREGROUND_DELTA
    rows = fg.mean(axis=1) <= STRUCTURE_ROW_SHARE
    if not rows.any():
        return []
    fg = fg & rows[:, None]
    occupied = fg[rows].mean(axis=0) >= OCCUPIED_SHARE
    w = fg.shape[1]
    boxes = []
    for x0, x1 in _runs(occupied, max(1, round(GAP_SHARE * w))):
        if x1 - x0 < MIN_PART_SHARE * w:
            continue
        ys = np.flatnonzero(fg[:, x0:x1].any(axis=1))
        boxes.append(Box(x0 * step, int(ys[0]) * step, min(width, x1 * step), min(height, (int(ys[-1]) + 1) * step)))
    return boxes


@dataclass
class PartTrack:
    """One part followed across frames; ``crop`` is its most centred fully visible view (None: never fully seen)."""

    number: int
    first_frame: int
    first_s: float
    last_frame: int
    last_s: float
    box: Box
    missed: int = 0
    crop: np.ndarray | None = field(default=None, repr=False)
    crop_frame: int = -1
    crop_s: float = 0.0
    crop_offset: float = float("inf")


def _overlap(a: Box, b: Box) -> float:
    """Overlap of the x-intervals of ``a`` and ``b``, as a share of the narrower one."""
    inter = min(a.x1, b.x1) - max(a.x0, b.x0)
    return max(0.0, inter) / max(1, min(a.x1 - a.x0, b.x1 - b.x0))


def _square_crop(frame: np.ndarray, box: Box) -> np.ndarray:
    height, width = frame.shape[:2]
    side = round(CROP_PAD * max(box.x1 - box.x0, box.y1 - box.y0))
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, max(0, width - side)))
    y0 = int(np.clip(round(cy - side / 2), 0, max(0, height - side)))
    return frame[y0:y0 + side, x0:x0 + side].copy()


class PartTracker:
    """Feed it every frame in order (:meth:`add`); :meth:`take_finished` hands over the parts that have left
    the view (so memory does not grow with the clip's length), :meth:`finish` the rest at the end."""

    def __init__(self) -> None:
        self.count = 0
        self._open: list[PartTrack] = []
        self._finished: list[PartTrack] = []

    def take_finished(self) -> list[PartTrack]:
        """The tracks that ended since the last call, in order of their first frame."""
        done, self._finished = self._finished, []
        return sorted(done, key=lambda t: t.number)

    def finish(self) -> list[PartTrack]:
        """End every open track (the clip is over) and return all tracks not handed over yet."""
        self._finished.extend(self._open)
        self._open = []
        return self.take_finished()

    def add(self, index: int, time_s: float, frame: np.ndarray) -> None:
        boxes = find_parts(frame)
        taken: set[int] = set()
        for box in boxes:
            scores = [(_overlap(box, t.box), i) for i, t in enumerate(self._open) if i not in taken]
            best = max(scores, default=(0.0, -1))
            if best[0] >= MIN_OVERLAP:
                taken.add(best[1])
                track = self._open[best[1]]
                track.box, track.last_frame, track.last_s, track.missed = box, index, time_s, 0
            else:
                self.count += 1
                track = PartTrack(self.count, index, time_s, index, time_s, box)
                self._open.append(track)
                taken.add(len(self._open) - 1)
            self._keep_crop(track, index, time_s, frame)
        for i, track in enumerate(self._open):
            if i not in taken:
                track.missed += 1
        self._finished.extend(t for t in self._open if t.missed > MAX_MISSED)
        self._open = [t for t in self._open if t.missed <= MAX_MISSED]

    @staticmethod
    def _keep_crop(track: PartTrack, index: int, time_s: float, frame: np.ndarray) -> None:
        width = frame.shape[1]
        box = track.box
        if box.x0 <= 0 or box.x1 >= width:      # touching an edge: not fully in view
            return
        offset = abs((box.x0 + box.x1) / 2 - width / 2)
        if offset < track.crop_offset:
            track.crop, track.crop_frame, track.crop_s, track.crop_offset = _square_crop(frame, box), index, time_s, offset

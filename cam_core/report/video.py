"""The report of an explained video: one self-contained HTML page a manager reads without the app.

At a glance: the video, one verdict per part (when parts were followed), the runs of NG frames, how many frames
were unlike the model's training data, and the model. Then P(defect) over time as an inline SVG (the decision
line dashed, frames outside the model's domain shaded grey), one card per part and per NG run with its thumbnail
(the peak frame or the part's crop with its defect map), its time, its peak frame and its maximum P(defect).
A part or run the domain check flags is greyed, struck through and not counted as NG or OK, as in every report.
Like :mod:`cam_core.report.html`: no scripts, no external resources, all text from files escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cam_core.checkpoints.card import ModelCard
from cam_core.explain.certainty import P_HOT
from cam_core.report.cards import card_summary, format_value, model_line
from cam_core.report.html import REPORT_CSS, SYNTHETIC_ONLY_WARNING, image_data_uri, rows_table
from cam_core.video.outputs import atomic_output

if TYPE_CHECKING:
    from cam_core.video.events import VideoEvent
    from cam_core.video.records import FrameRecord
    from cam_core.video.results import VideoResult

__all__ = ["build_video_report", "parts_line", "write_video_report"]

CARDS_CSS = (".cards{display:flex;flex-wrap:wrap;gap:12px}.cards .item{flex:0 1 230px;margin:0}"
             ".verdict.unsure{border:2px dashed currentColor;font-weight:600}")
TIMELINE_SIZE = (860, 140)      # the SVG's width and height in pixels
TIMELINE_POINTS = 1200          # at most this many points on the curve (each the highest P(defect) of its slice)


def parts_line(parts: Sequence[VideoEvent], defect: str | None) -> str:
    """``4 parts: 1 NG, 3 OK``; flagged parts counted apart: ``4 parts: 2 not trusted …; of the other 2, 1 NG``;
    parts the model is less than P_HOT sure of counted: ``… (2 of them unsure: less than 80% sure)``."""
    trusted = [p for p in parts if p.trusted]
    ng = sum(1 for p in trusted if _is_defect(p, defect))
    flagged = len(parts) - len(trusted)
    unsure = sum(1 for p in trusted if not p.sure)
    tail = f" ({unsure} of them unsure: less than {P_HOT:.0%} sure)" if unsure else ""
    if not flagged:
        return f"{len(parts)} parts: {ng} NG, {len(parts) - ng} OK{tail}"
    return (f"{len(parts)} parts: {flagged} not trusted (unlike the training data); of the other {len(trusted)}, "
            f"{ng} NG{tail}")


def _is_defect(event: VideoEvent, defect: str | None) -> bool:
    """An NG run, or a part called the defect class."""
    return event.kind == "ng-run" or (defect is not None and event.verdict == defect)


def _defect_curve(frames: Sequence[FrameRecord], defect: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, P(defect) and "outside the domain" per point, at most :data:`TIMELINE_POINTS` (slice maxima)."""
    times = np.asarray([f.time_s for f in frames], dtype=np.float64)
    p = np.asarray([f.probabilities.get(defect, np.nan) for f in frames], dtype=np.float64)
    outside = np.asarray([f.outside for f in frames], dtype=bool)
    if len(frames) <= TIMELINE_POINTS:
        return times, p, outside
    slices = np.array_split(np.arange(len(frames)), TIMELINE_POINTS)
    return (np.asarray([times[s[0]] for s in slices]), np.asarray([np.nanmax(p[s]) for s in slices]),
            np.asarray([bool(outside[s].any()) for s in slices]))


def _outside_spans(times: np.ndarray, outside: np.ndarray) -> list[tuple[float, float]]:
    """``(start, end)`` times of each run of points outside the domain; a run ends where the next point starts."""
    spans, i = [], 0
    while i < len(times):
        if not outside[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(times) and outside[j + 1]:
            j += 1
        spans.append((float(times[i]), float(times[j + 1] if j + 1 < len(times) else times[-1])))
        i = j + 1
    return spans


def timeline_svg(frames: Sequence[FrameRecord], defect: str, threshold: float) -> str:
    """P(defect) over time as an inline SVG: the curve, the decision line, grey where frames were outside."""
    width, height = TIMELINE_SIZE
    left, right, top, bottom = 44, 10, 8, 24
    times, p, outside = _defect_curve(frames, defect)
    span = max(float(times[-1] - times[0]), 1e-6) if len(times) else 1.0
    inner_w, inner_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + inner_w * (t - float(times[0])) / span

    def y(v: float) -> float:
        return top + inner_h * (1.0 - v)

    shades = "".join(f"<rect x='{x(a):.1f}' y='{top}' width='{max(x(b) - x(a), 1.0):.1f}' height='{inner_h}' "
                     "fill='#d0d7de' opacity='.6'/>" for a, b in _outside_spans(times, outside))
    finite = np.isfinite(p)
    points = " ".join(f"{x(float(t)):.1f},{y(float(v)):.1f}" for t, v in zip(times[finite], p[finite]))
    axis = "".join(f"<text x='{left - 6}' y='{y(v) + 4:.1f}' text-anchor='end' font-size='11'>{v:g}</text>"
                   for v in (0.0, 0.5, 1.0))
    end = float(times[-1]) if len(times) else 0.0
    return (f"<svg width='{width}' height='{height}' role='img' "
            f"aria-label='P(defect) over time'>{shades}"
            f"<rect x='{left}' y='{top}' width='{inner_w}' height='{inner_h}' fill='none' stroke='#d0d7de'/>"
            f"<line x1='{left}' x2='{left + inner_w}' y1='{y(threshold):.1f}' y2='{y(threshold):.1f}' "
            "stroke='#a40e26' stroke-dasharray='4 3'/>"
            f"<polyline points='{points}' fill='none' stroke='#0550ae' stroke-width='1.5'/>{axis}"
            f"<text x='{left}' y='{height - 6}' font-size='11'>0 s</text>"
            f"<text x='{left + inner_w}' y='{height - 6}' font-size='11' text-anchor='end'>{end:.1f} s</text></svg>")


def _event_card(event: VideoEvent, defect: str | None) -> str:
    esc = html.escape
    kind = ("untrusted" if not event.trusted else "ng" if _is_defect(event, defect) else "ok") + \
        ("" if event.sure or not event.trusted else " unsure")
    picture = ("" if event.thumbnail is None else
               f"<figure><img src='{image_data_uri(Image.fromarray(event.thumbnail), fmt='JPEG')}' "
               f"alt='{esc(event.title)}'></figure>")
    where = (f"{event.start_s:.2f}–{event.end_s:.2f} s · peak frame {event.peak_frame} ({event.peak_s:.2f} s) · "
             f"max P(defect) {event.max_p_defect:.2f}")
    return (f"<section class='item{'' if event.trusted else ' outside'}'><div class='verdict {kind}'>"
            f"{esc(event.title)}</div>{picture}<p class='meta'>{esc(where)}</p></section>")


def _cards(events: Sequence[VideoEvent], defect: str | None) -> str:
    return f"<div class='cards'>{''.join(_event_card(e, defect) for e in events)}</div>"


def _thumbnail_words(colormap: str) -> str:
    """What a thumbnail's colours mean: its diverging bar, "against … for" the defect class, no colour for neither."""
    from cam_core.video.events import THUMBNAIL_WORDS, thumbnail_colormap
    from cam_core.video.frames import colour_bar

    bar = image_data_uri(colour_bar(200, 10, thumbnail_colormap(colormap)), fmt="PNG")
    return (f"<p class='meta'>{html.escape(THUMBNAIL_WORDS)} Scale: against <img src='{bar}' alt='colour bar' "
            "style='display:inline;vertical-align:middle;width:200px'> for.</p>")


def _glance(result: VideoResult, card: ModelCard, model_name: str | None, threshold: float,
            defect: str | None, video_name: str | None) -> list[tuple[str, str]]:
    frames = result.frames
    duration = frames[-1].time_s if frames else 0.0
    outside = sum(f.outside for f in frames)
    ng_frames = sum(e.end_frame - e.start_frame + 1 for e in result.events)
    named = f"{video_name} · " if video_name else ""
    rows = [("Video", f"{named}{result.frames_text} · {duration:.1f} s · {result.info.width}×{result.info.height} px · "
                      f"{result.info.fps:.3g} frames/s")]
    if result.parts:
        rows.append(("Parts (one verdict each)", parts_line(result.parts, defect)))
    flagged_runs = sum(1 for e in result.events if not e.trusted)
    unsure_runs = sum(1 for e in result.events if e.trusted and not e.sure)
    runs = (f"{len(result.events)} run{'' if len(result.events) == 1 else 's'} of NG frames, {ng_frames} frames in "
            f"all (NG when P(defect) ≥ {threshold:g})")
    rows.append(("NG runs", runs + (f"; {flagged_runs} of them not trusted" if flagged_runs else "") +
                 (f"; {unsure_runs} unsure (never {P_HOT:.0%} sure)" if unsure_runs else "")))
    rows.append(("Frames unlike the training data", f"{outside} of {len(frames)}" +
                 (" (their verdicts are not to be trusted)" if outside else "")))
    rows.append(("Model", model_line(card, model_name)))
    rows.append(("Model trained on", card.trained_on_text))
    return rows


def _warnings(result: VideoResult, card: ModelCard) -> str:
    lines = [*result.warnings, *([SYNTHETIC_ONLY_WARNING] if card.synthetic_only else [])]
    outside = sum(f.outside for f in result.frames)
    if outside:
        lines.append(f"{outside} of {len(result.frames)} frames are unlike anything this model was trained on: the "
                     "parts and runs they make are greyed and struck through, and are not counted as NG or OK.")
    return "".join(f"<div class='warn'>{html.escape(line)}</div>" for line in lines)


def build_video_report(result: VideoResult, card: ModelCard, *, threshold: float = 0.5,
                       model_name: str | None = None, video_name: str | None = None,
                       title: str = "CAM Inspector video report", colormap: str = "jet",
                       settings: Mapping[str, Any] | None = None, generated_at: datetime | None = None) -> str:
    """A complete, self-contained HTML document for one explained video (see the module docstring)."""
    esc = html.escape
    when = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    defect = card.classes[card.defect_index] if card.defect_index is not None else None
    parts = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title><style>{REPORT_CSS}{CARDS_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<div class='meta'>Generated {esc(when)} by CAM Inspector · model {esc(model_name or '?')}</div>",
        "<h2>At a glance</h2>", rows_table(_glance(result, card, model_name, threshold, defect, video_name)), _warnings(result, card),
    ]
    if defect is not None and result.frames:
        parts += [f"<h2>P({esc(defect.upper())}) over time</h2>",
                  "<p class='meta'>Dashed: the decision line. Grey: frames unlike the model's training data.</p>",
                  timeline_svg(result.frames, defect, threshold)]
    if result.parts or result.events:
        parts.append(_thumbnail_words(colormap))
    if result.parts:
        parts += ["<h2>Parts, one verdict each</h2>", _cards(result.parts, defect)]
    parts += ["<h2>Runs of NG frames</h2>", _cards(result.events, defect) if result.events else "<p>No NG frames.</p>"]
    lo, hi = result.value_range
    details = [("Colour scale of the maps", f"{lo:.3g} … {hi:.3g} ({result.scale_source})"),
               *((str(k), format_value(v)) for k, v in (settings or {}).items())]
    parts += ["<h2>Details</h2>", rows_table(details), f"<h3>Model{': ' + esc(model_name) if model_name else ''}</h3>",
              rows_table(card_summary(card)), "</body></html>"]
    return "\n".join(parts)


def write_video_report(result: VideoResult, card: ModelCard, path: str | Path, **options: Any) -> Path:
    """:func:`build_video_report` written to ``path`` (replaced only once complete)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(build_video_report(result, card, **options), encoding="utf-8")
    return path

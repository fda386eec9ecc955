"""How the Video page shows a clip: its info line, the progress text and the P(NG) timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from app_ui.video_jobs import VIDEO_THRESHOLD, VideoSource
from cam_core.video import FrameRecord, VideoInfo, VideoProgress
from cam_core.video.events import THUMBNAIL_WORDS


def _duration_text(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def video_info_text(source: VideoSource, info: VideoInfo) -> str:
    """``name · W×H px · fps · ~frames · duration · codec · rotation`` (what is known)."""
    parts = [source.name, f"{info.width}×{info.height} px", f"{info.fps:.3g} frames/s"]
    if info.frame_count:
        parts.append(f"~{info.frame_count} frames")
    if info.duration_s:
        parts.append(_duration_text(info.duration_s) if info.duration_s >= 1 else f"{info.duration_s:.2f} s")
    parts.append(f"codec {info.codec}")
    if info.rotation:
        parts.append(f"rotated {info.rotation}°")
    return " · ".join(parts)


def video_progress(progress: VideoProgress) -> tuple[float, str]:
    """Progress bar fraction and text: frames done, frames/s and time left."""
    done, total = progress.frames_done, progress.frames_total
    fraction = min(1.0, done / total) if total else 0.0
    text = f"{done}/{total} frames" if total else f"{done} frames"
    if done:
        text += f" · {progress.fps:.1f} frames/s"
        if progress.eta_s is not None:
            text += f" · about {_duration_text(progress.eta_s)} left"
    return fraction, text


def _shown_classes(frames: Sequence[FrameRecord], classes: Sequence[str], positive: int | None) -> list[str]:
    """The defect class, else (models without one) the first 8 classes the frames recorded."""
    if positive is not None:
        return [classes[positive]]
    recorded = {c for record in frames for c in record.probabilities}
    return [c for c in classes if c in recorded][:8]


def timeline_figure(frames: Sequence[FrameRecord], classes: Sequence[str], defect_index: int | None,
                    threshold: float = VIDEO_THRESHOLD, selected: int | None = None) -> Any:
    """Plotly timeline: P(defect class) per frame with the decision threshold (every class's probability for
    models without a defect class, ``defect_index`` None: the card's :attr:`ModelCard.defect_index`); a vertical
    line marks the selected frame. Points carry their frame index."""
    import plotly.graph_objects as go

    positive = defect_index
    times = [record.time_s for record in frames]
    indices = [record.index for record in frames]
    figure = go.Figure()
    for name in _shown_classes(frames, classes, positive):
        label = f"P({name.upper()})"
        figure.add_trace(go.Scatter(
            x=times, y=[record.probabilities.get(name) for record in frames], customdata=indices,
            mode="lines+markers", marker={"size": 5}, name=label,
            hovertemplate=f"frame %{{customdata}} · %{{x:.2f}} s<br>{label} %{{y:.3f}}<extra></extra>"))
    if positive is not None:
        figure.add_hline(y=threshold, line_dash="dash", line_color="#c62828",
                         annotation_text=f"threshold {threshold:g}", annotation_position="top left")
    if selected is not None and 0 <= selected < len(frames):
        figure.add_vline(x=frames[selected].time_s, line_color="#555", line_width=1)
    figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=positive is None,
                         clickmode="event+select", title="NG probability per frame" if positive is not None
                         else "Class probabilities per frame")
    figure.update_xaxes(title_text="time (s)")
    figure.update_yaxes(title_text="probability", range=[-0.02, 1.02])
    return figure


MAX_EVENTS_SHOWN = 12


def show_events(result: Any) -> None:
    """Under the timeline: one verdict per part (when parts were followed), then the runs of NG frames, each
    with its peak frame's map as a thumbnail (:mod:`cam_core.video.events`)."""
    if result.parts or result.events:
        st.caption(THUMBNAIL_WORDS)
    for title, events in (("Parts", result.parts), ("NG events", result.events)):
        if not events:
            continue
        st.markdown(f"**{title}** ({len(events)})")
        shown = events[:MAX_EVENTS_SHOWN]
        for column, event in zip(st.columns(min(len(shown), 6)) * 2, shown):
            column.image(event.thumbnail, width="stretch",
                         caption=f"{event.title} · {event.start_s:.2f}–{event.end_s:.2f} s · peak frame {event.peak_frame} · "
                                 f"max P(defect) {event.max_p_defect:.2f}")
        if len(events) > len(shown):
            st.caption(f"{len(events) - len(shown)} more in the events CSV.")
    if not result.parts and not result.events:
        st.caption("No NG events: every frame reads OK.")

"""Video in, explained video out: the CAM overlay and the verdict burned into every frame.

Used by ``python -m cam_core video`` and by the app's Video page. Four stages, each in its own thread, joined
by three bounded queues, so the slowest stage sets the pace::

    decoder --in_queue--> caller's thread --out_queue--> renderer --encode_queue--> encoder
    demux, decode,        batches frames, runs the       overlay (map coloured at    H.264/VP9/GIF encode,
    rotate, downscale     explainer, colour scale,       4× map resolution, scaled   muxes a temp file
                          verdicts, CSV rows, events     once), verdict box, yuv420p

Memory stays flat however long the video is: at most ``2·QUEUE_SIZE + MAX_PENDING_FRAMES + 4`` decoded frames
are alive at any time (two queues full, the caller's pending batch, one in each worker), plus ``QUEUE_SIZE``
frames converted for the encoder (yuv420p, half the bytes; the encoder gets a frame's timing, not its pixels).
The ONNX engine runs two images at a time (:data:`cam_core.interop.onnx_cam.RUN_CHUNK`), and the memory the
threads freed goes back to the system after every batch (:mod:`cam_core.memory`). What grows with the clip is
one small record per frame (the CSV) and one per event and part. FFmpeg (decode, swscale, x264),
onnxruntime/PyTorch and PIL's resize/blend release the GIL, so the stages overlap.

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
  explained frames (:func:`~cam_core.explain.scale.auto_evidence_range`).
- Verdicts: :func:`cam_core.explain.verdict.verdict_of` with the ``threshold`` (NG when ``p(ng) ≥ threshold``).
- A stream that breaks mid-way (a truncated recording) keeps the frames decoded so far and says so in
  :attr:`VideoResult.warnings`; a file with no decodable frame is an :class:`InputError`.
- Output is atomic (:mod:`cam_core.video.outputs`): on any error, ``should_stop()`` or Ctrl-C, ``dst`` and the
  CSV are left as they were (absent, or the previous file).
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from PIL import Image

from cam_core.errors import InputError
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.explain.scale import auto_evidence_range
from cam_core.memory import release_free_memory
from cam_core.options import VideoSettings
from cam_core.video.decode import EndOfStream, Frame, Plan, iter_decoded, make_plan
from cam_core.video.encode import GIF_MAX_WIDTH, Writer, encoder_for
from cam_core.video.events import EventLog, VideoEvent, events_csv_path, part_events, write_events_csv
from cam_core.video.frames import FrameView, Job, Layout, frame_view, panel_classes
from cam_core.video.outputs import atomic_output
from cam_core.video.parts import PartTrack, PartTracker
from cam_core.video.probe import VideoInfo, probe_video
from cam_core.video.records import FrameRecord, recorded_probabilities, write_frames_csv
from cam_core.video.results import VideoCancelled, VideoProgress, VideoResult
from cam_core.video.workers import (
    CANCELLED,
    END_JOBS,
    JOIN_TIMEOUT_S,
    POLL_S,
    Failure,
    Worker,
    decode_worker,
    encode_worker,
    put_or_raise,
    render_worker,
    take,
)

# Frames per queue (decoder→caller, caller→renderer, renderer→encoder). 4 keeps every stage fed (720p: the same
# frames/s as 8, measured) with twelve 720p frames (about 30 MB) fewer held.
QUEUE_SIZE = 4
MAX_PENDING_FRAMES = 64        # frames the caller's thread holds while it fills a batch
CALIBRATION_FRAMES = 16        # explained frames used to fix the colour scale when none is given


class _RunState:
    """State of one run in the caller's thread: colour scale, current view, records, progress."""

    def __init__(self, explainer: Explainer, *, layout: Layout, every: int, batch_size: int, threshold: float,
                 value_range: tuple[float, float] | None, scale_source: str, frames_total: int | None,
                 progress: Callable[[VideoProgress], None] | None) -> None:
        self.explainer = explainer
        self.layout: Layout = layout
        self.every = every
        self.batch_size = batch_size
        self.threshold = threshold
        self.value_range = value_range
        self.scale_source = scale_source
        self.frames_total = frames_total
        self.progress = progress
        self.records: list[FrameRecord] = []
        self.events = EventLog(None)
        self.tracker: PartTracker | None = None
        self.parts: list[VideoEvent] = []
        self.current: tuple[FrameView, dict[str, float], str] | None = None
        self.started = time.perf_counter()

    def batch_target(self) -> int:
        """Explained frames to gather before a batch runs (more for the first when calibrating)."""
        return self.batch_size if self.value_range is not None else max(self.batch_size, CALIBRATION_FRAMES)

    def _calibrate(self, explanations: list[Explanation]) -> tuple[float, float]:
        """The fixed colour scale; on the first batch without one, :func:`auto_evidence_range` of its maps."""
        if self.value_range is None:
            shown = [e.display_maps(panel_classes(e, self.layout), "evidence") for e in explanations]
            self.value_range = auto_evidence_range(shown)
            self.scale_source = f"first {len(explanations)} frames of the video"
        return self.value_range

    def flush(self, pending: list[Frame], out_q: queue.Queue[object], stop: threading.Event,
              renderer: Worker) -> None:
        """Explain the pending frames due (``index % every == 0``), then queue all of them for encoding."""
        if not pending:
            return
        due = [f for f in pending if f.index % self.every == 0]
        explanations = self.explainer.explain([f.image for f in due]) if due else []
        value_range = self._calibrate(explanations)
        by_index = dict(zip((f.index for f in due), explanations))
        for frame in pending:
            explanation = by_index.get(frame.index)
            if explanation is not None:
                self.current = (frame_view(explanation, self.layout, self.threshold, value_range),
                                recorded_probabilities(explanation), explanation.domain.verdict.value)
            if self.current is None:
                raise RuntimeError("internal error: a frame before the first explained frame")
            view, probs, domain = self.current
            self.events.add(frame, view)
            if self.tracker is not None:
                self.tracker.add(frame.index, frame.time_s, frame.image)
            self.records.append(FrameRecord(index=frame.index, time_s=frame.time_s, predicted=view.verdict.class_name,
                                            probabilities=probs, explained=explanation is not None,
                                            domain=domain))
            put_or_raise(out_q, Job(frame=frame, view=view), stop, renderer)
        if self.tracker is not None:
            self.judge_parts(self.tracker.take_finished())
        release_free_memory()   # the frames of this batch were freed in other threads (cam_core.memory)
        self.report()

    def judge_parts(self, tracks: list[PartTrack]) -> None:
        """One verdict for each part that has left the view (its crop is dropped after)."""
        if tracks and self.value_range is not None:
            self.parts.extend(part_events(tracks, self.explainer, self.threshold, self.value_range,
                                          self.events.opacity, self.events.colormap, first=len(self.parts) + 1))

    def report(self, final: bool = False) -> None:
        """Call ``progress``: ``fps`` = frames done / seconds since the start, ``eta_s = (total − done) / fps``."""
        if self.progress is None:
            return
        done = len(self.records)
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        total = done if final else (max(self.frames_total, done) if self.frames_total else None)
        fps = done / elapsed
        eta = (total - done) / fps if total is not None and fps > 0 else None
        self.progress(VideoProgress.of(frames_done=done, frames_total=total, fps=fps, eta_s=eta))


def _explain_stream(in_q: queue.Queue[object], out_q: queue.Queue[object], stop: threading.Event,
                    decoder: Worker, renderer: Worker, state: _RunState,
                    should_stop: Callable[[], bool] | None) -> EndOfStream:
    """The caller's stage: take decoded frames, explain them in batches, queue them for the encoder.
    Returns the decoder's end of stream (its warning, and the declared count of a truncated file)."""
    pending: list[Frame] = []
    due = 0
    while True:
        item = take(in_q, decoder, should_stop)
        if should_stop is not None and should_stop():
            raise VideoCancelled(CANCELLED)
        if isinstance(item, Failure):
            raise item.error
        if isinstance(item, EndOfStream):
            state.flush(pending, out_q, stop, renderer)
            return item
        assert isinstance(item, Frame)
        pending.append(item)
        due += item.index % state.every == 0
        if due >= state.batch_target() or len(pending) >= MAX_PENDING_FRAMES:
            state.flush(pending, out_q, stop, renderer)
            pending, due = [], 0


def _run(src: Path, writer_factory: Callable[[], Writer], plan: Plan, info: VideoInfo, state: _RunState, *,
         gif: bool, opacity: float, colormap: str,
         should_stop: Callable[[], bool] | None) -> tuple[EndOfStream, int]:
    """Run the four stages; returns (the decoder's end of stream, frames written). Always stops and joins every
    worker."""
    stop = threading.Event()
    in_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    out_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    encode_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    written: list[int] = []
    decoder = Worker("cam-video-decode", lambda: decode_worker(src, plan, info.fps, in_q, stop))
    encoder = Worker("cam-video-encode", lambda: encode_worker(writer_factory, encode_q, stop, written))
    renderer = Worker("cam-video-render",
                      lambda: render_worker(out_q, encode_q, stop, encoder, gif, opacity, colormap))
    workers = (decoder, renderer, encoder)
    for worker in workers:
        worker.start()
    try:
        state.report()
        end = _explain_stream(in_q, out_q, stop, decoder, renderer, state, should_stop)
        put_or_raise(out_q, END_JOBS, stop, renderer)
        for worker in (renderer, encoder):
            while worker.is_alive():
                worker.join(POLL_S)
            if worker.error is not None:
                raise worker.error
        state.report(final=True)
        return end, (written[0] if written else 0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(JOIN_TIMEOUT_S)


def _settings_of(settings: VideoSettings | None, overrides: dict[str, Any]) -> VideoSettings:
    """``settings`` (default :class:`VideoSettings`) with ``overrides`` by field name; checked on creation."""
    unknown = sorted(set(overrides) - set(VideoSettings.field_names()))
    if unknown:
        raise TypeError(f"explain_video() got unknown settings {', '.join(unknown)}")
    base = settings if settings is not None else VideoSettings()
    return dataclasses.replace(base, **overrides) if overrides else base


def _initial_scale(value_range: tuple[float, float] | None,
                   explainer: Explainer) -> tuple[tuple[float, float] | None, str]:
    """The colour scale known before the run and where it came from (None: fixed from the first frames)."""
    if value_range is not None:
        return (float(value_range[0]), float(value_range[1])), "value_range argument"
    if explainer.bundle.card.evidence_limits is not None:
        return explainer.bundle.card.evidence_limits, "model card"
    return None, ""


def explain_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    explainer: Explainer,
    settings: VideoSettings | None = None,
    *,
    csv_path: str | os.PathLike[str] | None = None,
    progress: Callable[[VideoProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **overrides: Any,
) -> VideoResult:
    """Explain every frame of ``src`` and write the annotated video to ``dst`` (``.mp4``/``.webm``/``.gif``).

    ``layout="overlay"``: the NG map (or the predicted class's map for a model without an NG class) over
    the frame; ``"side-by-side"``: OK map | NG map (two most probable classes for other models), so the
    output is twice as wide. Each frame gets its verdict box ("NG 0.97" red / "OK 0.99" green); the
    verdict is NG when ``p(ng) ≥ threshold``. Frames are downscaled so the longer side is ≤ ``max_side``
    (GIF: output ≤ ``GIF_MAX_WIDTH`` wide, ≤ ``GIF_MAX_FPS`` frames/s). ``batch_size`` frames go through
    the network at once (capped by ``MAX_PENDING_FRAMES``). ``progress`` and ``should_stop`` are called
    in the caller's thread. See the module docstring for timing, rotation, colour-scale and atomicity.
    ``settings`` (:class:`~cam_core.options.VideoSettings`) holds every option; ``overrides`` replace some
    of its fields by name (``every=3``), a shorthand for scripts and tests.

    Runs of NG frames become :attr:`VideoResult.events`; with ``track_parts`` (a conveyor: parts crossing the
    view), each part is followed across frames and gets one verdict (:attr:`VideoResult.parts`,
    :mod:`cam_core.video.events`). With ``csv_path``, both are also written to ``<csv stem>.events.csv``.

    Raises :class:`InputError` (bad input, options or output name), :class:`VideoCancelled`
    (``should_stop()``), and whatever the explainer or ``progress`` raise; nothing is left at ``dst``.
    """
    options = _settings_of(settings, overrides)
    layout = options.layout
    src, dst = Path(src), Path(dst)
    csv_target = Path(csv_path) if csv_path is not None else None
    encoder = encoder_for(dst)
    if dst.resolve() == src.resolve() or (csv_target is not None and csv_target.resolve() in (src.resolve(),
                                                                                               dst.resolve())):
        raise InputError(f"the output {dst.name} must not overwrite the input or the CSV")
    info = probe_video(src)
    panels = 2 if layout == "side-by-side" else 1
    plan = make_plan(info, options.max_side, GIF_MAX_WIDTH // panels if encoder == "gif" else None)
    out_size = (plan.size[0] * panels, plan.size[1])
    scale, source = _initial_scale(options.value_range, explainer)
    state = _RunState(explainer, layout=layout, every=options.every,
                      batch_size=min(options.batch_size, MAX_PENDING_FRAMES), threshold=options.threshold,
                      value_range=scale, scale_source=source, frames_total=info.frame_count, progress=progress)
    defect = explainer.bundle.card.defect_index
    state.events = EventLog(None if defect is None else explainer.bundle.classes[defect], options.opacity,
                            options.colormap)
    state.tracker = PartTracker() if options.track_parts else None
    with atomic_output(dst) as tmp_video:
        end, written = _run(src, lambda: Writer(tmp_video, encoder, out_size, info.fps), plan, info, state,
                            gif=encoder == "gif", opacity=options.opacity, colormap=options.colormap,
                            should_stop=should_stop)
        state.events.close()
        if state.tracker is not None:
            state.judge_parts(state.tracker.finish())
        events_csv = None
        if csv_target is not None:
            write_frames_csv(state.records, csv_target)
            events_csv = write_events_csv([*state.events.events, *state.parts], events_csv_path(csv_target))
    assert state.value_range is not None
    return VideoResult(output=dst, frames=state.records, info=info, value_range=state.value_range,
                       scale_source=state.scale_source, csv=csv_target,
                       warnings=(end.warning,) if end.warning else (), frames_written=written,
                       frames_declared=end.frames_declared, events=tuple(state.events.events),
                       parts=tuple(state.parts), events_csv=events_csv)


def convert_video(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, max_side: int = 1280) -> Path:
    """Re-encode ``src`` in ``dst``'s format (``.mp4``/``.webm``/``.gif``), e.g. an explained MP4 as a GIF.

    Decoded as :func:`explain_video` decodes (rotation applied, longer side ≤ ``max_side``) and written by
    the same writer: timestamps kept; GIF ≤ ``GIF_MAX_WIDTH`` wide and ≤ ``GIF_MAX_FPS`` frames/s; audio
    dropped. Written atomically; raises :class:`InputError` for bad input or output names.
    """
    src, dst = Path(src), Path(dst)
    if max_side < 16:
        raise InputError(f"max_side must be at least 16 pixels, not {max_side}")
    encoder = encoder_for(dst)
    if dst.resolve() == src.resolve():
        raise InputError(f"the output {dst.name} must not overwrite the input")
    info = probe_video(src)
    plan = make_plan(info, max_side, GIF_MAX_WIDTH if encoder == "gif" else None)
    with atomic_output(dst) as tmp:
        writer = Writer(tmp, encoder, plan.size, info.fps)
        try:
            with closing(iter_decoded(src, plan, info.fps)) as frames:
                for item in frames:
                    if isinstance(item, Frame) and writer.wants(item):
                        writer.write(Image.fromarray(item.image), item)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
    return dst

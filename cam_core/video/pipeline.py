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
  explained frames (:func:`~cam_core.video.scale.auto_evidence_range`).
- Verdicts: :func:`cam_core.explain.verdict.verdict_of` with the ``threshold`` (NG when ``p(ng) ≥ threshold``).
- A stream that breaks mid-way (a truncated recording) keeps the frames decoded so far and says so in
  :attr:`VideoResult.warnings`; a file with no decodable frame is an :class:`InputError`.
- Output is atomic (:mod:`cam_core.video.outputs`): on any error, ``should_stop()`` or Ctrl-C, ``dst`` and the
  CSV are left as they were (absent, or the previous file).
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from PIL import Image

from cam_core.errors import InputError
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.explain.render import COLORMAPS
from cam_core.video.decode import EndOfStream, Frame, Plan, iter_decoded, make_plan
from cam_core.video.encode import GIF_MAX_WIDTH, Writer, encoder_for
from cam_core.video.frames import LAYOUTS, FrameView, Job, Layout, frame_view, panel_classes
from cam_core.video.outputs import atomic_output
from cam_core.video.probe import VideoInfo, probe_video
from cam_core.video.records import FrameRecord, recorded_probabilities, write_frames_csv
from cam_core.video.results import VideoCancelled, VideoProgress, VideoResult
from cam_core.video.scale import auto_evidence_range
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
    take,
)

QUEUE_SIZE = 8                 # frames per queue (decoder→caller, caller→encoder)
MAX_PENDING_FRAMES = 64        # frames the caller's thread holds while it fills a batch
CALIBRATION_FRAMES = 16        # explained frames used to fix the colour scale when none is given


class _RunState:
    """State of one run in the caller's thread: colour scale, current view, records, progress."""

    def __init__(self, explainer: Explainer, *, layout: Layout, every: int, batch_size: int, threshold: float,
                 value_range: tuple[float, float] | None, scale_source: str, frames_total: int | None,
                 progress: Callable[[VideoProgress], None] | None) -> None:
        self.explainer = explainer
        self.card = explainer.bundle.card
        self.layout: Layout = layout
        self.every = every
        self.batch_size = batch_size
        self.threshold = threshold
        self.value_range = value_range
        self.scale_source = scale_source
        self.frames_total = frames_total
        self.progress = progress
        self.records: list[FrameRecord] = []
        self.current: tuple[FrameView, dict[str, float], str] | None = None
        self.started = time.perf_counter()

    def batch_target(self) -> int:
        """Explained frames to gather before a batch runs (more for the first when calibrating)."""
        return self.batch_size if self.value_range is not None else max(self.batch_size, CALIBRATION_FRAMES)

    def _calibrate(self, explanations: list[Explanation]) -> tuple[float, float]:
        """The fixed colour scale; on the first batch without one, :func:`auto_evidence_range` of its maps."""
        if self.value_range is None:
            shown = [e.display_maps(panel_classes(e, self.layout, self.card), "evidence") for e in explanations]
            self.value_range = auto_evidence_range(shown)
            self.scale_source = f"first {len(explanations)} frames of the video"
        return self.value_range

    def flush(self, pending: list[Frame], out_q: queue.Queue[object], stop: threading.Event,
              encoder: Worker) -> None:
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
                self.current = (frame_view(explanation, self.layout, self.threshold, value_range, self.card),
                                recorded_probabilities(explanation), explanation.domain.verdict.value)
            if self.current is None:
                raise RuntimeError("internal error: a frame before the first explained frame")
            view, probs, domain = self.current
            self.records.append(FrameRecord(index=frame.index, time_s=frame.time_s, predicted=view.verdict.class_name,
                                            probabilities=probs, explained=explanation is not None, domain=domain))
            put_or_raise(out_q, Job(frame=frame, view=view), stop, encoder)
        self.report()

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
                    decoder: Worker, encoder: Worker, state: _RunState,
                    should_stop: Callable[[], bool] | None) -> str | None:
    """The caller's stage: take decoded frames, explain them in batches, queue them for the encoder.
    Returns the decoder's end-of-stream warning."""
    pending: list[Frame] = []
    due = 0
    while True:
        item = take(in_q, decoder, should_stop)
        if should_stop is not None and should_stop():
            raise VideoCancelled(CANCELLED)
        if isinstance(item, Failure):
            raise item.error
        if isinstance(item, EndOfStream):
            state.flush(pending, out_q, stop, encoder)
            return item.warning
        assert isinstance(item, Frame)
        pending.append(item)
        due += item.index % state.every == 0
        if due >= state.batch_target() or len(pending) >= MAX_PENDING_FRAMES:
            state.flush(pending, out_q, stop, encoder)
            pending, due = [], 0


def _run(src: Path, writer_factory: Callable[[], Writer], plan: Plan, info: VideoInfo, state: _RunState, *,
         opacity: float, colormap: str, should_stop: Callable[[], bool] | None) -> tuple[str | None, int]:
    """Run the three stages; returns (decoder warning, frames written). Always stops and joins both workers."""
    stop = threading.Event()
    in_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    out_q: queue.Queue[object] = queue.Queue(maxsize=QUEUE_SIZE)
    written: list[int] = []
    decoder = Worker("cam-video-decode", lambda: decode_worker(src, plan, info.fps, in_q, stop))
    encoder = Worker("cam-video-encode",
                     lambda: encode_worker(writer_factory, out_q, stop, opacity, colormap, written))
    decoder.start()
    encoder.start()
    try:
        state.report()
        warning = _explain_stream(in_q, out_q, stop, decoder, encoder, state, should_stop)
        put_or_raise(out_q, END_JOBS, stop, encoder)
        while encoder.is_alive():
            encoder.join(POLL_S)
        if encoder.error is not None:
            raise encoder.error
        state.report(final=True)
        return warning, (written[0] if written else 0)
    finally:
        stop.set()
        decoder.join(JOIN_TIMEOUT_S)
        encoder.join(JOIN_TIMEOUT_S)


def _check_options(layout: str, opacity: float, colormap: str, every: int, max_side: int, batch_size: int,
                   threshold: float, value_range: tuple[float, float] | None) -> None:
    checks = [
        (layout in LAYOUTS, f"layout must be 'overlay' or 'side-by-side', not {layout!r}"),
        (0.0 <= opacity <= 1.0, f"opacity must be between 0 and 1, not {opacity}"),
        (colormap in COLORMAPS, f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}"),
        (every >= 1, f"every must be 1 or more, not {every}"),
        (max_side >= 16, f"max_side must be at least 16 pixels, not {max_side}"),
        (batch_size >= 1, f"batch_size must be 1 or more, not {batch_size}"),
        (0.0 <= threshold <= 1.0, f"threshold must be between 0 and 1, not {threshold}"),
        (value_range is None or (math.isfinite(value_range[0]) and math.isfinite(value_range[1])
                                 and value_range[0] < value_range[1]),
         f"value_range must be two finite numbers lo < hi, not {value_range}"),
    ]
    problems = [message for ok, message in checks if not ok]
    if problems:
        raise InputError("; ".join(problems))


def _initial_scale(value_range: tuple[float, float] | None,
                   explainer: Explainer) -> tuple[tuple[float, float] | None, str]:
    """The colour scale known before the run and where it came from (None: fixed from the first frames)."""
    if value_range is not None:
        return (float(value_range[0]), float(value_range[1])), "value_range argument"
    if explainer.bundle.evidence_range is not None:
        return explainer.bundle.evidence_range, "model card"
    return None, ""


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
    encoder = encoder_for(dst)
    if dst.resolve() == src.resolve() or (csv_target is not None and csv_target.resolve() in (src.resolve(),
                                                                                               dst.resolve())):
        raise InputError(f"the output {dst.name} must not overwrite the input or the CSV")
    info = probe_video(src)
    panels = 2 if layout == "side-by-side" else 1
    plan = make_plan(info, max_side, GIF_MAX_WIDTH // panels if encoder == "gif" else None)
    out_size = (plan.size[0] * panels, plan.size[1])
    scale, source = _initial_scale(value_range, explainer)
    state = _RunState(explainer, layout=layout, every=every, batch_size=min(batch_size, MAX_PENDING_FRAMES),
                      threshold=threshold, value_range=scale, scale_source=source, frames_total=info.frame_count,
                      progress=progress)
    with atomic_output(dst) as tmp_video:
        warning, written = _run(src, lambda: Writer(tmp_video, encoder, out_size, info.fps), plan, info, state,
                                opacity=opacity, colormap=colormap, should_stop=should_stop)
        if csv_target is not None:
            write_frames_csv(state.records, csv_target)
    assert state.value_range is not None
    return VideoResult(output=dst, frames=state.records, info=info, value_range=state.value_range,
                       scale_source=state.scale_source, csv=csv_target,
                       warnings=(warning,) if warning else (), frames_written=written)


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

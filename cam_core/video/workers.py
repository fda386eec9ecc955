"""The worker threads of a video run and the stop-aware queue hand-offs between them and the caller.

    decoder thread --in_queue--> caller's thread --out_queue--> render thread --encode_queue--> encoder thread

A :class:`Worker` keeps the exception that ended it for the caller to re-raise; every blocking ``put`` /
``get`` wakes every ``POLL_S`` to look at the stop flag, so a cancelled or failed run never hangs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

from cam_core.video.decode import Plan, iter_decoded
from cam_core.video.encode import Writer, gif_slot, prepare_frame
from cam_core.video.frames import FrameRenderer, Job
from cam_core.video.results import VideoCancelled

POLL_S = 0.1                  # how often blocked threads look at the stop flag
JOIN_TIMEOUT_S = 30.0
END_JOBS = object()           # the caller's last item for the encoder
CANCELLED = "stopped before the video was finished; nothing was written"


@dataclass(frozen=True)
class Failure:
    """What ended the decoder, sent to the caller through the queue."""

    error: BaseException


class Worker(threading.Thread):
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
            q.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def decode_worker(path: Path, plan: Plan, fps: float, q: queue.Queue[object], stop: threading.Event) -> None:
    """Put every decoded frame, then the end of stream, on ``q``; or the :class:`Failure` that stopped it."""
    try:
        with closing(iter_decoded(path, plan, fps)) as frames:
            for item in frames:
                if not _put(q, item, stop):
                    return
    except BaseException as exc:  # noqa: BLE001 - sent to the caller's thread through the queue
        _put(q, Failure(exc), stop)


def render_worker(q: queue.Queue[object], out: queue.Queue[object], stop: threading.Event, encoder: Worker,
                  gif: bool, opacity: float, colormap: str) -> None:
    """Draw each job (:class:`FrameRenderer`) and convert it to the encoder's pixel format, then hand
    ``(video frame, frame timing)`` to the encoder (:meth:`Frame.timing`: the decoded pixels are not kept);
    :data:`END_JOBS` is passed on. GIF: only the first frame of each ``1/GIF_MAX_FPS`` slot is drawn."""
    renderer = FrameRenderer(opacity, colormap)
    last_slot = -1
    while True:
        try:
            job = q.get(timeout=POLL_S)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        if job is END_JOBS:
            put_or_raise(out, END_JOBS, stop, encoder)
            return
        assert isinstance(job, Job)
        if gif:
            slot = gif_slot(job.frame)
            if slot <= last_slot:
                continue
            last_slot = slot
        put_or_raise(out, (prepare_frame(renderer.render(job), gif), job.frame.timing()), stop, encoder)


def encode_worker(writer_factory: Callable[[], Writer], q: queue.Queue[object], stop: threading.Event,
                  result: list[int]) -> None:
    """Encode ``(video frame, frame timing)`` items until :data:`END_JOBS` (then finish the file and append the frame
    count to ``result``) or until ``stop`` is set (then abort the file)."""
    writer = writer_factory()
    try:
        while True:
            try:
                item = q.get(timeout=POLL_S)
            except queue.Empty:
                if stop.is_set():
                    writer.abort()
                    return
                continue
            if item is END_JOBS:
                writer.finish()
                result.append(writer.written)
                return
            assert isinstance(item, tuple)
            writer.write_prepared(*item)
    except BaseException:
        writer.abort()
        raise


def put_or_raise(q: queue.Queue[object], item: object, stop: threading.Event, consumer: Worker) -> None:
    """Blocking put for the caller: raises the consumer's error if it died, RuntimeError once ``stop`` is set."""
    while True:
        try:
            q.put(item, timeout=POLL_S)
            return
        except queue.Full:
            raise_if_dead(consumer, "encoder")
            if stop.is_set():
                raise RuntimeError("video pipeline stopped") from None


def raise_if_dead(worker: Worker, role: str) -> None:
    """Re-raise what ended ``worker``; a RuntimeError when it ended without an error before its work was done."""
    if worker.error is not None:
        raise worker.error
    if not worker.is_alive():
        raise RuntimeError(f"the video {role} thread ended unexpectedly")


def take(q: queue.Queue[object], producer: Worker, should_stop: Callable[[], bool] | None) -> object:
    """Blocking get for the caller: :class:`VideoCancelled` once ``should_stop()``; the producer's error (after
    its last items) when it died."""
    while True:
        try:
            return q.get(timeout=POLL_S)
        except queue.Empty:
            if should_stop is not None and should_stop():
                raise VideoCancelled(CANCELLED) from None
            if producer.error is not None or not producer.is_alive():
                with suppress(queue.Empty):
                    return q.get_nowait()
                raise_if_dead(producer, "decoder")


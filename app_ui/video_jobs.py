"""Videos on this server: staged uploads, the built-in sample clip, runs and the background job of a session.

Files live in a per-process scratch folder (:func:`cam_core.scratch.make_scratch_root`): ``uploads/`` staged
by content, ``runs/run-*`` one folder per explained video and ``sample/`` the built-in clip; entries
untouched for :data:`VIDEO_FILES_MAX_AGE_S` are pruned (:mod:`cam_core.scratch`). The explaining itself is
:func:`cam_core.video.explain_video`, the CLI's pipeline.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st
from PIL import Image

from app_ui.cache import cached, scratch_root
from app_ui.errors import error_line, log
from app_ui.inputs import InputImage, digest_of
from app_ui.models import MapMethod, get_explainer
from cam_core import CamInspectorError, InputError
from cam_core.options import VIDEO_EXTENSIONS, VideoSettings, upload_types
from cam_core.scratch import new_run_folder, stage_bytes, subfolder, touch
from cam_core.synth.samples import SAMPLE_CLIP_FPS, SAMPLE_CLIP_SECONDS, SAMPLE_CLIP_SEED
from cam_core.video import VideoInfo, VideoProgress, VideoResult

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explainer

VIDEO_TYPES: list[str] = upload_types(VIDEO_EXTENSIONS)
VIDEO_RUN = "video_run"
VIDEO_JOB = "video_job"
VIDEO_THRESHOLD = 0.5            # the verdict is NG when p(ng) ≥ this (as in the CLI)
SAMPLE_CLIP_NAME = "conveyor-sample.mp4"
VIDEO_FILES_MAX_AGE_S = 24 * 3600  # staged uploads and results untouched this long are deleted
_SAMPLE_LOCK = threading.Lock()


@dataclass(frozen=True)
class VideoSource:
    """A video file on this server: an upload staged by content, or the built-in sample."""

    name: str
    path: Path
    digest: str


@dataclass
class VideoRun:
    """A finished video of this session: its source, model, settings and files (kept in session state)."""

    source: VideoSource
    model: str
    method: MapMethod
    settings: VideoSettings
    folder: Path
    result: VideoResult
    classes: tuple[str, ...]
    seconds: float
    selected: int = 0
    gif: Path | None = None

    @property
    def files_present(self) -> bool:
        return self.result.output.is_file() and self.result.csv is not None and self.result.csv.is_file()


def sample_clip() -> VideoSource:
    """The built-in conveyor clip (synthetic hex nuts, every third one NG), made once per process."""
    from cam_core.video import make_sample_clip

    seconds, fps = float(SAMPLE_CLIP_SECONDS), int(SAMPLE_CLIP_FPS)
    path = subfolder(scratch_root("video"), "sample", f"{seconds:g}s-{fps}fps") / SAMPLE_CLIP_NAME
    with _SAMPLE_LOCK:
        if not path.is_file():
            make_sample_clip(path, seed=SAMPLE_CLIP_SEED, seconds=seconds, fps=fps)
    return VideoSource(name=SAMPLE_CLIP_NAME, path=path, digest=f"sample:{seconds:g}:{fps}")


def stage_video(upload: Any) -> VideoSource:
    """Write an uploaded video to the scratch folder once per content (cam_core reads videos from files).

    The file keeps its (sanitised) name, so messages name it; the session remembers the staged file
    per upload, so reruns neither hash nor copy the bytes again.
    """
    from cam_core.data import sanitize_filename

    staged: dict[Any, VideoSource] = st.session_state.setdefault("video_staged", {})
    key = (getattr(upload, "file_id", None), getattr(upload, "name", ""), getattr(upload, "size", None))
    known = staged.get(key)
    if known is not None and known.path.is_file():
        return known
    data = upload.getvalue()
    digest = digest_of(data)
    name = sanitize_filename(getattr(upload, "name", "video"), "video")
    path = stage_bytes(data, subfolder(scratch_root("video"), "uploads"), digest, name, VIDEO_FILES_MAX_AGE_S)
    source = VideoSource(name=name, path=path, digest=digest)
    staged.clear()  # one staged upload per session is enough
    staged[key] = source
    return source


@st.cache_data(max_entries=64, show_spinner=False)
def _probe(path: str, digest: str) -> VideoInfo:
    from cam_core.video import probe_video

    del digest  # cache key only
    return probe_video(path)


def probe_source(source: VideoSource) -> VideoInfo:
    """:func:`cam_core.video.probe_video` of ``source`` (cached; raises ``InputError`` for bad videos)."""
    return _probe(str(source.path), source.digest)


def run_video(source: VideoSource, model: str, method: MapMethod, settings: VideoSettings,
              progress: Callable[[VideoProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, explainer: Explainer | None = None) -> VideoRun:
    """Explain ``source`` with :func:`cam_core.video.explain_video` (the CLI's pipeline) into a fresh
    scratch folder: ``explained.mp4`` (H.264) and ``frames.csv``. The folder is removed if the run fails
    or is stopped (``should_stop()``)."""
    from cam_core.video import explain_video

    explainer = explainer or get_explainer(model, method)
    folder = new_run_folder(subfolder(scratch_root("video"), "runs"), VIDEO_FILES_MAX_AGE_S)
    start = time.perf_counter()
    try:
        result = explain_video(source.path, folder / "explained.mp4", explainer, settings,
                               csv_path=folder / "frames.csv", progress=progress, should_stop=should_stop)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return VideoRun(source=source, model=model, method=method, settings=settings, folder=folder, result=result,
                    classes=tuple(explainer.bundle.classes), seconds=time.perf_counter() - start)


@dataclass
class VideoJob:
    """A video being explained in a background thread of this session: it goes on when the user leaves the
    page, and the page shows its progress (or its result) on return. ``stop`` cancels it."""

    source: VideoSource
    model: str
    method: MapMethod
    settings: VideoSettings
    stop: threading.Event = field(default_factory=threading.Event)
    progress: VideoProgress | None = None
    run: VideoRun | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


def _work(job: VideoJob, explainer: Explainer) -> None:
    """The job's thread: the run, or its error line (a cancelled run leaves neither)."""
    from cam_core.video import VideoCancelled

    def progress(event: VideoProgress) -> None:
        job.progress = event

    try:
        job.run = run_video(job.source, job.model, job.method, job.settings, progress=progress,
                            should_stop=job.stop.is_set, explainer=explainer)
    except VideoCancelled:
        job.error = None
    except CamInspectorError as exc:
        job.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - reported on the page, never a traceback there
        log.exception("video job failed")
        job.error = error_line(job.source.name, exc)


def start_video_job(source: VideoSource, model: str, method: MapMethod, settings: VideoSettings) -> VideoJob:
    """Start explaining ``source`` in a background thread (one per session); returns the job."""
    explainer = get_explainer(model, method)     # looked up here: Streamlit's caches belong to the script thread
    job = VideoJob(source=source, model=model, method=method, settings=settings)
    job.thread = threading.Thread(target=_work, args=(job, explainer), daemon=True, name="cam-inspector-video-job")
    st.session_state[VIDEO_JOB] = job
    job.thread.start()
    return job


def video_job() -> VideoJob | None:
    job = st.session_state.get(VIDEO_JOB)
    return job if isinstance(job, VideoJob) else None


def keep_video_run(run: VideoRun) -> None:
    """Keep ``run`` as the session's video; the files of the one it replaces are deleted."""
    old = st.session_state.get(VIDEO_RUN)
    if isinstance(old, VideoRun) and old.folder != run.folder:
        shutil.rmtree(old.folder, ignore_errors=True)
    st.session_state[VIDEO_RUN] = run


def video_run() -> VideoRun | None:
    run = st.session_state.get(VIDEO_RUN)
    if not isinstance(run, VideoRun):
        return None
    touch(run.folder, run.source.path.parent)  # in use: keep its files (and its staged upload) from being pruned
    return run


def video_gif(run: VideoRun) -> bytes:
    """The explained video as an animated GIF (made on first request by :func:`cam_core.video.convert_video`)."""
    from cam_core.video import convert_video

    if run.gif is None or not run.gif.is_file():
        run.gif = convert_video(run.result.output, run.folder / "explained.gif")
    return run.gif.read_bytes()


def video_report(run: VideoRun) -> str:
    """The run's HTML report (:func:`cam_core.report.video.build_video_report`), made when asked for."""
    from cam_core.report.video import build_video_report

    card = get_explainer(run.model, run.method).bundle.card
    settings = {"method": run.method.label, "every": run.settings.every, "layout": run.settings.layout.value,
                "max side (px)": run.settings.max_side}
    return build_video_report(run.result, card, threshold=run.settings.threshold, model_name=run.model,
                              video_name=run.source.name, colormap=run.settings.colormap.value, settings=settings)


def video_frame(source: VideoSource, index: int, max_side: int) -> InputImage:
    """Frame ``index`` decoded as the video pipeline decoded it (cached like uploaded images)."""
    from cam_core.video import read_frame

    def make() -> InputImage:
        if not source.path.is_file():
            raise InputError(f"{source.name} is no longer on this server (old files are cleaned up); "
                             "upload it and explain it again")
        _, array = read_frame(source.path, index, max_side=max_side)
        return InputImage(name=f"frame-{index}", digest=f"video:{source.digest}:{max_side}:{index}",
                          image=Image.fromarray(array))

    return cached("decoded", ("video", source.digest, max_side, index), make)

"""The Video page with ``streamlit.testing.v1.AppTest``: sample run, bad uploads, frame picker.

Other file extensions never reach the page: Streamlit's uploader refuses them (browser and server).

Models come from a temporary folder (``CAM_INSPECTOR_MODELS``) as in test_app.py; the built-in sample
clip is shortened to 1 s at 8 frames/s and frames are explained at 160 px, so each run takes ~1 s.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from clips import audio_only, moving_frames, truncated_without_moov, write_clip
from conftest import make_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

import cam_core.checkpoints.registry as registry

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
PAGE = "pages/video.py"
TIMEOUT = 120
SAMPLE_FRAMES = 8


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("video_page_models") / "squeeze-video.safetensors",
                           input_size=96)


@pytest.fixture()
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_file: Path) -> Path:
    """One small model, no shipped ones, and a short built-in sample clip."""
    import app_ui
    import app_ui.video_jobs  # noqa: F401 - app_ui loads its modules on first use; patched below

    user = tmp_path / "user_models"
    user.mkdir()
    (user / model_file.name).symlink_to(model_file)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(user))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", shipped)
    monkeypatch.setattr(app_ui.video_jobs, "SAMPLE_CLIP_SECONDS", 1.0)   # read by app_ui.video_jobs.sample_clip
    monkeypatch.setattr(app_ui.video_jobs, "SAMPLE_CLIP_FPS", SAMPLE_FRAMES)
    return user


def video_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    at.select_slider(key="cfg_video_max_side").set_value(160)
    return at


def wait_for_job(at: AppTest, timeout: float = TIMEOUT) -> AppTest:
    """The video runs in a background thread: rerun the page until its job has ended."""
    import time

    import app_ui

    deadline = time.monotonic() + timeout
    while True:
        at.run()
        if app_ui.VIDEO_JOB not in at.session_state:
            return at
        assert time.monotonic() < deadline, "the video job did not finish"
        time.sleep(0.2)


def explained_sample() -> AppTest:
    at = video_page()
    at.toggle(key="video_sample").set_value(True).run()
    assert not at.button(key="video_go").disabled
    at.button(key="video_go").click().run()
    wait_for_job(at)
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])
    return at


def all_images(at: AppTest) -> list[tuple[str, str]]:
    """(caption, url) of every picture shown with st.image."""
    return [(img.caption, img.url) for element in at.image for img in element.proto.imgs]


def map_images(at: AppTest) -> list[tuple[str, str]]:
    """(caption, url) of the chosen frame's maps (not the event thumbnails under the timeline)."""
    return [(caption, url) for caption, url in all_images(at) if " map: " in caption]


def frame_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Frame "))


def test_video_page_is_registered_and_runs_directly(models_dir: Path) -> None:
    at = video_page()
    assert any("Upload a video or switch on the built-in sample" in i.value for i in at.info)
    assert at.button(key="video_go").disabled
    direct = AppTest.from_file(str(ROOT / PAGE), default_timeout=TIMEOUT).run()
    assert not direct.exception and not direct.error


def test_sample_clip_run_gives_video_timeline_frame_maps_and_downloads(models_dir: Path) -> None:
    import app_ui

    at = explained_sample()
    run = at.session_state[app_ui.VIDEO_RUN]
    assert len(run.result.frames) == SAMPLE_FRAMES and run.result.output.suffix == ".mp4"
    assert len(at.get("video")) == 1
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"][0]["y"]) == SAMPLE_FRAMES
    assert spec["data"][0]["y"][3] == pytest.approx(run.result.frames[3].probabilities["ng"])
    assert any(shape.get("y0") == 0.5 == shape.get("y1") for shape in spec["layout"]["shapes"])  # threshold
    assert [b.proto.label for b in at.download_button] == ["Video (MP4)", "GIF", "Frames (CSV)", "Events (CSV)",
                                                            "Report (HTML)"]
    parts = [caption for caption, _ in all_images(at) if caption.startswith("Part ")]
    assert [c.split(" · ")[0] for c in parts] == [f"Part {i}: {p.verdict.upper()}"
                                                  for i, p in enumerate(run.result.parts, start=1)]
    assert parts   # the page's test model has random weights: the verdicts themselves are tested in the core
    captions = [caption for caption, _ in map_images(at)]
    assert [c.split(" map")[0] for c in captions] == ["OK", "NG"]
    assert all("the video's fixed evidence scale" in c for c in captions)
    assert frame_caption(at).startswith("Frame 0 · 0.00 s · in the video: ")

    rows = list(csv.DictReader(io.StringIO(run.result.csv.read_text())))
    assert [int(r["frame"]) for r in rows] == list(range(SAMPLE_FRAMES))
    report = app_ui.video_report(run)
    assert "<svg" in report and all(p.title in report for p in run.result.parts)
    gif = app_ui.video_gif(run)
    assert gif[:6] in (b"GIF87a", b"GIF89a") and Image.open(io.BytesIO(gif)).is_animated

    # a rerun with another opacity keeps the result (no recomputation) and says it is stale
    folder = run.folder
    at.slider(key="cfg_opacity").set_value(0.8).run()
    assert not at.exception and at.session_state[app_ui.VIDEO_RUN].folder == folder
    assert any("settings changed" in i.value for i in at.info)
    assert len(at.get("video")) == 1


def test_frame_slider_changes_the_shown_frame(models_dir: Path) -> None:
    import app_ui

    at = explained_sample()
    before = map_images(at)
    at.slider(key="video_frame").set_value(5).run()
    assert not at.exception and not at.error
    assert frame_caption(at).startswith("Frame 5 · 0.62 s")
    after = map_images(at)
    assert len(after) == 2 and [u for _, u in after] != [u for _, u in before]
    assert at.session_state[app_ui.VIDEO_RUN].selected == 5
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    marker = [s for s in spec["layout"]["shapes"] if s.get("x0") == s.get("x1") and s.get("x0") is not None]
    assert marker and marker[0]["x0"] == pytest.approx(5 / SAMPLE_FRAMES)


def test_corrupt_upload_is_an_error_and_the_page_keeps_working(models_dir: Path, tmp_path: Path) -> None:
    data = truncated_without_moov(tmp_path).read_bytes()
    at = video_page()
    at.file_uploader(key="video_upload").set_value(("cut.mp4", data, "video/mp4")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "cut.mp4" in errors[0] and "'moov' index is missing" in errors[0], errors
    assert at.button(key="video_go").disabled
    at.file_uploader(key="video_upload").set_value(None)
    at.toggle(key="video_sample").set_value(True).run()
    at.button(key="video_go").click().run()
    wait_for_job(at)
    assert not at.exception and not at.error
    assert len(at.get("video")) == 1


@pytest.mark.parametrize(("name", "make", "message"), [
    ("voice.mp4", lambda tmp: audio_only(tmp).read_bytes(), "only audio"),
    ("photo.mov", lambda tmp: b"\x89PNG\r\n\x1a\n" + bytes(64), "is a PNG image, not a video"),
    ("noise.mkv", lambda tmp: np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes() + b"\0",
     "cannot be read as a video"),
    ("notes.webm", lambda tmp: b"this is not a video\n" * 20, "is a text file, not a video"),
])
def test_bad_uploads_are_explained(name: str, make, message: str, models_dir: Path, tmp_path: Path) -> None:
    at = video_page()
    at.file_uploader(key="video_upload").set_value((name, make(tmp_path), "application/octet-stream")).run()
    assert not at.exception
    assert any(name in e.value and message in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="video_go").disabled


def test_huge_resolution_is_refused(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cam_core.video import probe as video

    monkeypatch.setattr(video, "MAX_VIDEO_PIXELS", 100 * 100)  # the 160×96 clip stands for an absurd size
    data = write_clip(tmp_path / "big.mp4", moving_frames(3, grey=77)).read_bytes()
    at = video_page()
    at.file_uploader(key="video_upload").set_value(("big.mp4", data, "video/mp4")).run()
    assert not at.exception
    assert any("big.mp4" in e.value and "too large" in e.value for e in at.error), [e.value for e in at.error]


def test_a_run_goes_on_while_the_user_is_on_another_page(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app_ui

    at = video_page()
    at.toggle(key="video_sample").set_value(True).run()
    at.button(key="video_go").click().run()
    if app_ui.VIDEO_JOB in at.session_state:                         # started, in the background (if not done)
        assert at.button(key="video_go").disabled                     # a second click cannot restart it
    at.switch_page("pages/explain.py").run()
    at.switch_page(PAGE).run()
    wait_for_job(at)
    assert not at.exception and not at.error
    run = at.session_state[app_ui.VIDEO_RUN]
    assert len(run.result.frames) == SAMPLE_FRAMES and len(at.get("video")) == 1


def test_cancel_keeps_nothing_of_the_run(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import app_ui
    from cam_core.video import VideoCancelled

    started = threading.Event()

    def slow_run(source, model, method, settings, progress=None, should_stop=None, explainer=None):
        started.set()
        while not should_stop():                                      # a long video, until Cancel
            threading.Event().wait(0.02)
        raise VideoCancelled("stopped before the video was finished; nothing was written")

    monkeypatch.setattr(app_ui.video_jobs, "run_video", slow_run)   # called by the job thread there
    at = video_page()
    at.toggle(key="video_sample").set_value(True).run()
    at.button(key="video_go").click().run()
    assert started.wait(30) and at.button(key="video_go").disabled
    assert any("goes on" in c.value for c in at.caption)
    at.button(key="video_cancel").click().run()
    wait_for_job(at).run()
    assert not at.exception and not at.error
    assert any("Cancelled" in i.value for i in at.info)
    assert at.session_state[app_ui.VIDEO_RUN] is None if app_ui.VIDEO_RUN in at.session_state else True
    assert not at.get("video")


def test_a_truncated_upload_says_how_many_of_its_declared_frames_it_got(models_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noisy = [rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(30)]
    full = write_clip(tmp_path / "full.mp4", noisy, options={"movflags": "+faststart"})   # index at the front
    data = full.read_bytes()
    at = video_page()
    at.file_uploader(key="video_upload").set_value(("cut.mp4", data[:len(data) * 6 // 10], "video/mp4")).run()
    at.button(key="video_go").click().run()
    wait_for_job(at)
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption if "declared frames" in c.value]
    assert len(captions) == 1 and "of 30 declared frames; the file ends early" in captions[0], captions
    assert any("truncated" in w.value for w in at.warning)

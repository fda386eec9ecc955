"""Video pipeline: formats, timing, rotation, colour scale, atomic output, bad inputs, bounded memory.

Every clip is generated in tmp_path with PyAV (no binaries in the repo); the model is a random-weight
squeezenet saved as a real checkpoint (conftest).
"""

from __future__ import annotations

import csv
import dataclasses
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from clips import audio_only, moving_frames, truncated_without_moov, write_clip
from PIL import Image

from cam_core.errors import InputError
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.models import load_model
from cam_core.video import (
    FrameRecord,
    VideoCancelled,
    VideoProgress,
    convert_video,
    decode,
    encode,
    explain_video,
    frames,
    make_sample_clip,
    pipeline,
    probe,
    probe_video,
    read_frame,
    read_frames,
    records,
    scale,
    write_frames_csv,
)
from cam_core.video.decode import Frame


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def decoded(path: Path) -> tuple[av.video.stream.VideoStream, list[av.VideoFrame], dict[str, object]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        meta = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "rate": float(stream.average_rate or 0), "format": container.format.name,
                "duration": container.duration / av.time_base if container.duration else None}
        return stream, frames, meta


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def no_video_threads() -> bool:
    return not any(t.name.startswith("cam-video") and t.is_alive() for t in threading.enumerate())


@pytest.fixture(scope="module")
def explainer(squeeze_checkpoint: Path) -> Explainer:
    bundle = load_model(str(squeeze_checkpoint), device="cpu")
    with Explainer(bundle, batch_size=8) as ex:
        yield ex


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "in.mp4", moving_frames(30))


class FailingExplainer:
    """Delegates to a real explainer and raises on the ``fail_on``-th call."""

    def __init__(self, inner: Explainer, fail_on: int) -> None:
        self.inner, self.bundle, self.fail_on, self.calls = inner, inner.bundle, fail_on, 0

    def explain(self, images: Sequence[np.ndarray]) -> list[Explanation]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("boom in explain")
        return self.inner.explain(images)


# ---------------------------------------------------------------------------------------------
# formats and consistency
# ---------------------------------------------------------------------------------------------
def test_mp4_to_mp4_h264_same_timing_and_csv_matches_single_image_path(
        explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    events: list[VideoProgress] = []
    result = explain_video(clip, tmp_path / "out.mp4", explainer, csv_path=tmp_path / "out.csv",
                           progress=events.append)
    _, frames, meta = decoded(result.output)
    assert meta["codec"] == "h264" and meta["pix_fmt"] == "yuv420p"
    assert len(frames) == 30 == len(result.frames) == result.frames_written
    assert meta["rate"] == pytest.approx(15.0, rel=0.01)
    assert meta["duration"] == pytest.approx(2.0, abs=0.1)
    assert (frames[0].width, frames[0].height) == (160, 96)

    rows = read_csv(tmp_path / "out.csv")
    assert list(rows[0]) == ["frame", "time_s", "predicted", "p_ok", "p_ng", "domain"]
    assert {row["domain"] for row in rows} == {"unknown"}   # a model without a domain reference
    assert [int(r["frame"]) for r in rows] == list(range(30))
    assert all(abs(float(r["p_ok"]) + float(r["p_ng"]) - 1.0) < 1e-5 for r in rows)
    assert float(rows[15]["time_s"]) == pytest.approx(1.0, abs=1e-3)

    reference = explainer.explain([image for _, image in read_frames(clip)])
    assert [r["predicted"] for r in rows] == [e.predicted_class for e in reference]
    np.testing.assert_allclose([float(r["p_ng"]) for r in rows], [e.probabilities[1] for e in reference],
                               atol=1e-5)
    assert events[-1].frames_done == 30 and events[-1].frames_total == 30
    assert [e.frames_done for e in events] == sorted(e.frames_done for e in events)
    assert leftovers(tmp_path, {"in.mp4", "out.mp4", "out.csv", "out.events.csv"}) == []


def _with_audio(path: Path, frames: Sequence[np.ndarray], codec: str) -> Path:
    """Video + an mp2/opus audio track, to check that audio is dropped."""
    height, width = frames[0].shape[:2]
    audio_codec = "libopus" if path.suffix == ".webm" else "mp2"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=15)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream(audio_codec, rate=48000)
        for i, array in enumerate(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 960), dtype=np.int16), format="s16", layout="mono")
            samples.sample_rate, samples.pts = 48000, i * 960
            for packet in audio.encode(samples):
                container.mux(packet)
        for s in (stream, audio):
            for packet in s.encode(None):
                container.mux(packet)
    return path


@pytest.mark.parametrize(("name", "codec"), [("in.mov", "libx264"), ("in.avi", "mpeg4"), ("in.mkv", "mpeg4"),
                                             ("in.webm", "libvpx-vp9")])
def test_input_containers_and_audio_is_dropped(name: str, codec: str, explainer: Explainer,
                                               tmp_path: Path) -> None:
    if not (encode._encoder_available(codec) and (not name.endswith(".webm") or encode._encoder_available("libopus"))):
        pytest.skip(f"no {codec} encoder to make the input")
    src = _with_audio(tmp_path / name, moving_frames(8), codec)
    result = explain_video(src, tmp_path / "out.mp4", explainer, value_range=(-1.0, 1.0))
    assert len(result.frames) == 8
    with av.open(str(result.output)) as container:
        assert len(container.streams.audio) == 0 and len(container.streams.video) == 1


def test_gif_output_is_animated_small_and_capped(explainer: Explainer, tmp_path: Path) -> None:
    src = write_clip(tmp_path / "wide.mp4", moving_frames(20, width=640, height=360), fps=20)
    result = explain_video(src, tmp_path / "out.gif", explainer)
    with Image.open(result.output) as gif:
        assert gif.format == "GIF" and gif.is_animated
        assert gif.size == (480, 270)                   # ≤ GIF_MAX_WIDTH
        assert gif.n_frames == 10 == result.frames_written  # 1 s at ≤ GIF_MAX_FPS
        assert gif.info["duration"] == 100
    assert len(result.frames) == 20                     # the CSV/records keep every input frame
    assert result.output.stat().st_size < 1_000_000


@pytest.mark.skipif(not (encode._encoder_available("libvpx-vp9") or encode._encoder_available("libvpx")),
                    reason="this PyAV build has no VP9/VP8 encoder")
def test_webm_output(explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    result = explain_video(clip, tmp_path / "out.webm", explainer, value_range=(-1.0, 1.0))
    _, frames, meta = decoded(result.output)
    assert meta["codec"] in ("vp9", "vp8", "libvpx-vp9", "libvpx") and len(frames) == 30


def test_side_by_side_doubles_width_and_verdict_is_burned_in(explainer: Explainer, tmp_path: Path) -> None:
    src = write_clip(tmp_path / "grey.mp4", moving_frames(6, grey=128))
    plain = explain_video(src, tmp_path / "a.mp4", explainer, opacity=0.0)
    both = explain_video(src, tmp_path / "b.mp4", explainer, opacity=0.0, layout="side-by-side")
    a = decoded(plain.output)[1][0].to_ndarray(format="rgb24").astype(int)
    b = decoded(both.output)[1][0].to_ndarray(format="rgb24").astype(int)
    assert a.shape == (96, 160, 3) and b.shape == (96, 320, 3)
    assert np.abs(a[40:60, 60:100] - 128).max() <= 3          # opacity 0: the frame itself
    corner = a[1:9, 2:20]
    assert np.abs(corner - 128).mean() > 30                    # the verdict box
    red_or_green = corner[..., 0] - corner[..., 1] if plain.frames[0].predicted == "ng" else \
        corner[..., 1] - corner[..., 0]
    assert np.median(red_or_green) > 40


def test_every_n_reuses_verdicts_and_keeps_frame_count(explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    result = explain_video(clip, tmp_path / "out.mp4", explainer, every=4)
    assert [f.explained for f in result.frames[:9]] == [True, False, False, False, True, False, False, False, True]
    assert result.frames[3].probabilities == result.frames[0].probabilities
    assert len(decoded(result.output)[1]) == 30


def test_variable_frame_rate_timestamps_are_kept(explainer: Explainer, tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.4, 0.45, 0.9, 1.0, 1.2, 1.25, 1.5]
    src = write_clip(tmp_path / "vfr.mp4", moving_frames(len(times)), fps=30, times_s=times)
    result = explain_video(src, tmp_path / "out.mp4", explainer, value_range=(-1.0, 1.0))
    np.testing.assert_allclose([f.time_s for f in result.frames], times, atol=2e-3)
    np.testing.assert_allclose([float(f.time) for f in decoded(result.output)[1]], times, atol=2e-3)


def test_animated_gif_input(explainer: Explainer, tmp_path: Path) -> None:
    images = [Image.fromarray(f) for f in moving_frames(8, width=64, height=48)]
    src = tmp_path / "in.gif"
    images[0].save(src, save_all=True, append_images=images[1:], duration=100, loop=0)
    info = probe_video(src)
    assert (info.width, info.height, info.codec) == (64, 48, "gif")
    result = explain_video(src, tmp_path / "out.mp4", explainer)
    assert len(result.frames) == 8 and len(decoded(result.output)[1]) == 8
    assert result.frames[-1].time_s == pytest.approx(0.7, abs=0.011)


def test_sample_clip_is_small_h264(tmp_path: Path) -> None:
    path = make_sample_clip(tmp_path / "sample.mp4", seconds=1, fps=10)
    info = probe_video(path)
    assert (info.width, info.height, info.codec, info.frame_count) == (480, 270, "h264", 10)
    assert path.stat().st_size <= 2 * 1024**2
    assert leftovers(tmp_path, {"sample.mp4"}) == []


def test_read_frame_is_the_frame_read_frames_yields(clip: Path) -> None:
    frames = list(read_frames(clip, max_side=80))
    time_s, image = read_frame(clip, 17, max_side=80)
    assert time_s == pytest.approx(frames[17][0]) and np.array_equal(image, frames[17][1])
    assert image.shape == (48, 80, 3)
    with pytest.raises(InputError, match="no frame 30"):
        read_frame(clip, 30)
    with pytest.raises(InputError, match="start at 0"):
        read_frame(clip, -1)


def test_convert_explained_mp4_to_gif(explainer: Explainer, tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", moving_frames(20, width=640, height=360), fps=20)
    explained = explain_video(src, tmp_path / "out.mp4", explainer, layout="side-by-side", max_side=320,
                              value_range=(-1.0, 1.0))
    gif = convert_video(explained.output, tmp_path / "out.gif")
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.is_animated
        assert image.size == (480, 134) and image.n_frames == 10     # 640×180 → ≤ 480 wide, ≤ 10 frames/s
    with pytest.raises(InputError, match="must not overwrite"):
        convert_video(gif, gif)
    assert leftovers(tmp_path, {"in.mp4", "out.mp4", "out.gif"}) == []


# ---------------------------------------------------------------------------------------------
# rotation
# ---------------------------------------------------------------------------------------------
def test_display_matrix_rotation_is_applied(explainer: Explainer, tmp_path: Path) -> None:
    frames = moving_frames(4, grey=20)
    for frame in frames:
        frame[:24, :24] = 250                       # bright block at the coded frame's top-left
    src = write_clip(tmp_path / "phone.mp4", frames, rotation=-90)  # = a phone's "rotate 90° clockwise"
    info = probe_video(src)
    assert (info.width, info.height, info.rotation) == (96, 160, 270)
    result = explain_video(src, tmp_path / "out.mp4", explainer, opacity=0.0)
    out = decoded(result.output)[1][0].to_ndarray(format="rgb24").astype(int)
    assert out.shape == (160, 96, 3)
    assert out[4:20, -20:-4].mean() > 200           # clockwise turn: top-left → top-right
    assert out[-20:-4, 4:20].mean() < 60


def test_legacy_rotate_tag_is_clockwise() -> None:
    stream = SimpleNamespace(metadata={"ROTATE": "90"})
    assert probe._stream_rotation(stream, SimpleNamespace(rotation=0)) == 270
    assert probe._stream_rotation(stream, SimpleNamespace(rotation=90)) == 90   # display matrix wins
    assert probe._stream_rotation(SimpleNamespace(metadata={}), SimpleNamespace(rotation=-180)) == 180


# ---------------------------------------------------------------------------------------------
# colour scale
# ---------------------------------------------------------------------------------------------
def _record_ranges(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    seen: list[tuple[float, float]] = []
    original = frames.normalize_maps

    def spy(maps: np.ndarray, mode: str = "evidence", value_range: tuple[float, float] | None = None):
        assert mode == "evidence"
        seen.append(value_range)
        return original(maps, mode, value_range)

    monkeypatch.setattr(frames, "normalize_maps", spy)
    return seen


def test_scale_is_fixed_from_first_frames(explainer: Explainer, clip: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_ranges(monkeypatch)
    result = explain_video(clip, tmp_path / "out.mp4", explainer)
    assert result.scale_source == f"first {pipeline.CALIBRATION_FRAMES} frames of the video"
    assert len(seen) == 30 and set(seen) == {result.value_range}
    lo, hi = result.value_range
    assert lo == -hi and hi > 0            # evidence maps: symmetric around zero


def test_given_and_model_card_scales_are_used(explainer: Explainer, clip: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_ranges(monkeypatch)
    result = explain_video(clip, tmp_path / "a.mp4", explainer, value_range=(-2.0, 3.0))
    assert result.scale_source == "value_range argument" and result.value_range == (-2.0, 3.0)
    assert set(seen) == {(-2.0, 3.0)}
    carded = dataclasses.replace(explainer.bundle, card=dataclasses.replace(explainer.bundle.card, evidence_range=(-1.5, 1.5)))
    with Explainer(carded) as other:
        result = explain_video(clip, tmp_path / "b.mp4", other)
    assert result.scale_source == "model card" and result.value_range == (-1.5, 1.5)


def test_auto_value_range_is_robust_with_headroom() -> None:
    maps = [np.linspace(0.0, 1.0, 10_000).reshape(100, 100)]
    maps[0][0, 0] = 1e6                                   # one stray hot value does not set the scale
    lo, hi = scale.auto_value_range(maps)
    assert -0.2 < lo < 0.0 and 1.0 < hi < 1.5
    assert scale.auto_value_range([np.full((4, 4), 2.0)]) == (0.0, 4.0)


# ---------------------------------------------------------------------------------------------
# atomic output, interruption, worker failures
# ---------------------------------------------------------------------------------------------
def test_explainer_failure_leaves_nothing(explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    failing = FailingExplainer(explainer, fail_on=3)
    with pytest.raises(RuntimeError, match="boom in explain"):
        explain_video(clip, tmp_path / "out.mp4", failing, batch_size=4, value_range=(-1.0, 1.0),
                      csv_path=tmp_path / "out.csv")
    assert failing.calls == 3
    assert leftovers(tmp_path, {"in.mp4"}) == []
    assert no_video_threads()


def test_failure_keeps_previous_output(explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    (tmp_path / "out.mp4").write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        explain_video(clip, tmp_path / "out.mp4", FailingExplainer(explainer, fail_on=2), batch_size=4,
                      value_range=(-1.0, 1.0))
    assert (tmp_path / "out.mp4").read_bytes() == b"previous result"
    assert leftovers(tmp_path, {"in.mp4", "out.mp4"}) == []


def test_should_stop_midway_cancels_cleanly(explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    done: list[int] = []
    with pytest.raises(VideoCancelled, match="nothing was written"):
        explain_video(clip, tmp_path / "out.mp4", explainer, batch_size=4, value_range=(-1.0, 1.0),
                      csv_path=tmp_path / "out.csv", progress=lambda p: done.append(p.frames_done),
                      should_stop=lambda: bool(done) and done[-1] >= 8)
    assert 8 <= done[-1] < 30
    assert leftovers(tmp_path, {"in.mp4"}) == []
    assert no_video_threads()


def test_keyboard_interrupt_cleans_up(explainer: Explainer, clip: Path, tmp_path: Path) -> None:
    def progress(p: VideoProgress) -> None:
        if p.frames_done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        explain_video(clip, tmp_path / "out.mp4", explainer, batch_size=4, value_range=(-1.0, 1.0),
                      progress=progress)
    assert leftovers(tmp_path, {"in.mp4"}) == []
    assert no_video_threads()


def test_decoder_thread_error_reaches_caller(explainer: Explainer, clip: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    original, count = decode._to_rgb, [0]

    def flaky(frame: av.VideoFrame, plan: object) -> np.ndarray:
        count[0] += 1
        if count[0] == 12:
            raise MemoryError("decoder ran out of memory")
        return original(frame, plan)

    monkeypatch.setattr(decode, "_to_rgb", flaky)
    with pytest.raises(MemoryError, match="decoder ran out"):
        explain_video(clip, tmp_path / "out.mp4", explainer, batch_size=4, value_range=(-1.0, 1.0))
    assert leftovers(tmp_path, {"in.mp4"}) == []
    assert no_video_threads()


def test_encoder_thread_error_reaches_caller(explainer: Explainer, clip: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    original = encode.Writer.write_prepared

    def flaky(self: encode.Writer, out: object, frame: object) -> None:
        if self.written == 5:
            raise OSError("disk full")
        original(self, out, frame)  # type: ignore[arg-type]

    monkeypatch.setattr(encode.Writer, "write_prepared", flaky)
    with pytest.raises(OSError, match="disk full"):
        explain_video(clip, tmp_path / "out.mp4", explainer, batch_size=4, value_range=(-1.0, 1.0))
    assert leftovers(tmp_path, {"in.mp4"}) == []
    assert no_video_threads()


def test_render_thread_error_reaches_caller(explainer: Explainer, clip: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from cam_core.video import frames as frames_module

    calls = []
    original = frames_module.FrameRenderer.render

    def flaky(self: frames_module.FrameRenderer, job: object) -> Image.Image:
        calls.append(job)
        if len(calls) == 7:
            raise ValueError("renderer broke")
        return original(self, job)  # type: ignore[arg-type]

    monkeypatch.setattr(frames_module.FrameRenderer, "render", flaky)
    with pytest.raises(ValueError, match="renderer broke"):
        explain_video(clip, tmp_path / "out.mp4", explainer, batch_size=4, value_range=(-1.0, 1.0),
                      csv_path=tmp_path / "out.csv")
    assert leftovers(tmp_path, {"in.mp4"}) == []
    assert no_video_threads()


def test_frames_waiting_for_the_encoder_hold_no_decoded_pixels(explainer: Explainer, clip: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory: once drawn, a frame travels to the encoder as its timing only (the yuv420p picture carries it)."""
    original = encode.Writer.write_prepared
    seen: list[tuple[int, int]] = []

    def recording(self: encode.Writer, out: av.VideoFrame, frame: Frame) -> None:
        seen.append((frame.image.size, out.width))
        original(self, out, frame)

    monkeypatch.setattr(encode.Writer, "write_prepared", recording)
    result = explain_video(clip, tmp_path / "out.mp4", explainer, batch_size=4, value_range=(-1.0, 1.0))
    assert len(seen) == len(result.frames) > 0
    assert {pixels for pixels, _ in seen} == {0} and {width for _, width in seen} == {result.info.width}


def test_many_class_models_record_top_classes_only() -> None:
    classes = tuple(f"c{i}" for i in range(100))
    probabilities = np.full(100, 0.5 / 95, dtype=np.float32)
    probabilities[[3, 50, 7, 99, 20]] = 0.1
    explanation = SimpleNamespace(classes=classes, probabilities=probabilities)
    assert list(records.recorded_probabilities(explanation)) == ["c3", "c7", "c20", "c50", "c99"]


def test_write_frames_csv_columns(tmp_path: Path) -> None:
    records = [FrameRecord(0, 0.0, "ok", {"ok": 0.75, "ng": 0.25}),
               FrameRecord(1, 1 / 15, "ng", {"ok": 0.1, "ng": 0.9}, explained=False, domain="unlike training data")]
    rows = read_csv(write_frames_csv(records, tmp_path / "f.csv"))
    assert rows[1] == {"frame": "1", "time_s": "0.066667", "predicted": "ng", "p_ok": "0.100000",
                       "p_ng": "0.900000", "domain": "unlike training data"}
    assert rows[0]["domain"] == "unknown"
    assert leftovers(tmp_path, {"f.csv"}) == []


# ---------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------
def _zero_frames(tmp_path: Path) -> Path:
    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


def _png_named_mp4(tmp_path: Path) -> Path:
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "photo.png")
    return (tmp_path / "photo.png").rename(tmp_path / "photo.mp4")


def _text_named_mp4(tmp_path: Path) -> Path:
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 20)
    return tmp_path / "notes.mp4"


def _garbage_mkv(tmp_path: Path) -> Path:
    (tmp_path / "noise.mkv").write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
                                         + b"\x00")
    return tmp_path / "noise.mkv"


def _wrong_extension(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", moving_frames(3)).rename(tmp_path / "clip.txt")


@pytest.mark.parametrize(("make", "message"), [
    (truncated_without_moov, "'moov' index is missing"),
    (audio_only, "only audio"),
    (_zero_frames, "no frames"),
    (_png_named_mp4, "is a PNG image, not a video"),
    (_text_named_mp4, "is a text file, not a video"),
    (_garbage_mkv, "cannot be read as a video"),
    (_wrong_extension, "unsupported video type '.txt'"),
    (lambda tmp: tmp / "missing.mp4", "video not found"),
])
def test_bad_inputs_raise_input_error(make, message: str, explainer: Explainer, tmp_path: Path) -> None:
    src = make(tmp_path)
    before = set(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError, match=message):
        explain_video(src, tmp_path / "out.mp4", explainer, csv_path=tmp_path / "out.csv")
    assert set(p.name for p in tmp_path.iterdir()) == before
    assert no_video_threads()


def test_absurd_resolution_and_missing_decoder(clip: Path, explainer: Explainer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "MAX_VIDEO_PIXELS", 100 * 100)
    with pytest.raises(InputError, match="160×96 frames are too large"):
        probe_video(clip)
    monkeypatch.undo()
    monkeypatch.setattr(probe, "_decoder_available", lambda name: False)
    with pytest.raises(InputError, match="codec 'h264' cannot be decoded"):
        explain_video(clip, tmp_path / "out.mp4", explainer)
    assert leftovers(tmp_path, {"in.mp4"}) == []


def test_output_name_and_missing_encoder(clip: Path, explainer: Explainer, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="ending in .mp4, .webm, .gif"):
        explain_video(clip, tmp_path / "out.avi", explainer)
    with pytest.raises(InputError, match="must not overwrite the input"):
        explain_video(clip, clip, explainer)
    with pytest.raises(InputError, match="every must be 1 or more"):
        explain_video(clip, tmp_path / "out.mp4", explainer, every=0)
    monkeypatch.setattr(encode, "_encoder_available", lambda name: False)
    with pytest.raises(InputError, match="no libx264 encoder"):
        explain_video(clip, tmp_path / "out.mp4", explainer)
    assert leftovers(tmp_path, {"in.mp4"}) == []


def test_truncated_stream_keeps_decoded_frames_with_warning(explainer: Explainer, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noisy = [rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(30)]  # big frames, many bytes
    full = write_clip(tmp_path / "full.mp4", noisy, options={"movflags": "+faststart"})  # moov first
    data = full.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) * 6 // 10])
    result = explain_video(tmp_path / "cut.mp4", tmp_path / "out.mp4", explainer, value_range=(-1.0, 1.0))
    assert 0 < len(result.frames) < 30
    assert len(decoded(result.output)[1]) == len(result.frames)
    assert result.warnings and "truncated" in result.warnings[0]


# ---------------------------------------------------------------------------------------------
# bounded memory
# ---------------------------------------------------------------------------------------------
def test_frames_are_streamed_not_accumulated(explainer: Explainer, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Count decoded frame arrays alive at once (weakref finalizers): bounded by the queues + one batch."""
    n_frames, batch = 100, 4
    src = write_clip(tmp_path / "long.mp4", moving_frames(n_frames, width=64, height=48))
    monkeypatch.setattr(pipeline, "QUEUE_SIZE", 4)
    lock, live, peak = threading.Lock(), [0], [0]

    def released() -> None:
        with lock:
            live[0] -= 1

    original = decode._to_rgb

    def counted(frame: av.VideoFrame, plan: object) -> np.ndarray:
        array = original(frame, plan)
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        weakref.finalize(array, released)
        return array

    monkeypatch.setattr(decode, "_to_rgb", counted)
    result = explain_video(src, tmp_path / "out.mp4", explainer, batch_size=batch, value_range=(-1.0, 1.0))
    assert len(result.frames) == n_frames
    # two queues of 4 + one pending batch + one frame held by each thread's local variables
    bound = 2 * 4 + batch + 6
    assert peak[0] <= bound, f"{peak[0]} frames alive at once (bound {bound})"
    assert live[0] == 0


def test_every_output_frame_carries_its_colour_bar() -> None:
    from fractions import Fraction

    from cam_core.explain.layers import drawn_colormap
    from cam_core.explain.render import colormap_lut
    from cam_core.explain.verdict import Verdict
    from cam_core.video.decode import Frame
    from cam_core.video.frames import FrameRenderer, FrameView, Job, Panel, colour_bar

    verdict = Verdict(index=1, class_name="ng", probability=0.9, positive_probability=0.9, is_positive=True)
    flat = np.full((7, 7), 0.5, np.float32)
    frame = Frame(0, 0.0, 0, 1, Fraction(1, 15), np.full((180, 320, 3), 128, np.uint8))
    for style in ("signed", "halves"):
        job = Job(frame=frame, view=FrameView(verdict=verdict, panels=(Panel(flat, "ok map"), Panel(flat, "ng map")),
                                              style=style))
        for colormap in ("jet", "viridis"):
            out = np.asarray(FrameRenderer(0.5, colormap).render(job))
            lut = colormap_lut(drawn_colormap(style, colormap))   # a signed panel is drawn on a diverging map
            corner = out[-40:, -200:].reshape(-1, 3).astype(int)
            for end in (lut[0, :3], lut[-1, :3]):          # both ends of the drawn colour map's ramp are shown
                assert np.abs(corner - end.astype(int)).sum(axis=1).min() <= 3, (style, colormap, end)
    bar = np.asarray(colour_bar(64, 4, "jet"))
    assert bar.shape == (4, 64, 3) and (bar[0, 0] == colormap_lut("jet")[0, :3]).all()

"""Video pipeline throughput and memory, measured in one run (run by hand; not a test).

    python benchmarks/bench_video.py [--seconds 10] [--height 720] [--model NAME] [--backend auto|onnx|torch]
                                     [--batch-sizes 8] [--long] [--memory-only] [--out-dir DIR]

1. Writes a synthetic clip: the conveyor of :func:`cam_core.synth.conveyor_frames` (480×270, a 10 s
   loop of unique frames) upscaled by swscale to ``--height`` (16:9), H.264.
2. Measures, on the same clip and explainer (:func:`cam_core.explain.factory.make_explainer`):
   (a) end-to-end ``explain_video`` frames/s for each ``--batch-sizes`` value;
   (b) each stage alone, as the pipeline runs it: decode (``read_frames``), the network through the engine
       (``explainer.explain`` on decoded frames, batched: preprocessing included), render (the pipeline's
       ``FrameRenderer`` + conversion to yuv420p), encode (x264 of already converted frames);
       ratio e2e / slowest stage (target >= 0.8); each stage's CPU time per frame (all threads) and the cores'
       ceiling, cores / Σ CPU per frame: no pipeline on this machine can go faster than that;
   (c) a naive loop in one thread: decode one frame → explain it → ``render.overlay`` → encode it;
   (d) peak memory of a video run, each clip in a fresh process that does what ``python -m cam_core video``
       does (load the model, open the engine, ``explain_video`` with ``track_parts``): its peak RSS over its
       whole life (``ru_maxrss``, the figure the target "≤ 1 GB" is about) and its RSS once the model is
       loaded, for this clip and with ``--long`` for a 5-minute one (memory should not grow with length).
       ``--memory-only`` runs (d) alone;
   (e) the built-in sample clip (:func:`cam_core.video.make_sample_clip`, 4 s at 480×270) explained as the app does
       (parts followed), model already loaded: its real-time ratio = clip duration / wall time (≥ 1: faster than
       the clip plays).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cam_core import video  # noqa: E402
from cam_core.checkpoints import ModelBundle, list_models, save_checkpoint  # noqa: E402
from cam_core.engine.architectures import build_model  # noqa: E402
from cam_core.explain.factory import make_explainer  # noqa: E402
from cam_core.explain.pipeline import Explainer  # noqa: E402
from cam_core.explain.render import normalize_maps, overlay  # noqa: E402
from cam_core.models import load_model  # noqa: E402
from cam_core.options import VideoSettings  # noqa: E402
from cam_core.synth import conveyor_frames  # noqa: E402
from cam_core.video.decode import Frame  # noqa: E402
from cam_core.video.encode import ENCODER_OPTIONS, Writer, prepare_frame  # noqa: E402
from cam_core.video.frames import FrameRenderer, FrameView, Job, frame_view  # noqa: E402

LOOP_FRAMES = 150  # unique synthetic frames, repeated to reach the clip length


def rss_mib() -> float:
    """Current resident set size (VmRSS) in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    """CPU time this process has used so far, all threads (user + system), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds the ``with`` block used, all threads together (``.seconds``)."""

    def __enter__(self) -> CpuMeter:
        self._start = cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = cpu_seconds() - self._start


class RssSampler:
    """Peak VmRSS while the ``with`` block runs, sampled from a thread every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.before = rss_mib()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


def synthetic_frames(seconds: float, fps: int) -> Iterator[np.ndarray]:
    """``seconds × fps`` conveyor frames at 480×270, looping over the first ``LOOP_FRAMES``."""
    unique = [frame for frame, _ in conveyor_frames(seed=0, n_frames=min(LOOP_FRAMES, round(seconds * fps)),
                                                     fps=fps)]
    for i in range(round(seconds * fps)):
        yield unique[i % len(unique)]


def write_clip(path: Path, seconds: float, fps: int, height: int) -> Path:
    """The synthetic clip at ``path`` (reused when a complete one from an earlier run is there)."""
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    width = round(height * 16 / 9) // 2 * 2
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for image in synthetic_frames(seconds, fps):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                width=width, height=height, format="yuv420p", interpolation="BICUBIC")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    done.touch()
    return path


def get_bundle(spec: str | None, device: str) -> ModelBundle:
    if spec is None:
        shipped = list_models()
        if shipped:
            spec = next(iter(shipped))
        else:
            path = Path(tempfile.gettempdir()) / "cam-bench-squeezenet1_1.safetensors"
            if not path.exists():
                torch.manual_seed(0)
                model = build_model("squeezenet1_1", 2, head_relu=False)
                save_checkpoint(model, path, {"arch": "squeezenet1_1", "classes": ["ok", "ng"],
                                              "input_size": [224, 224], "head_relu": False})
            spec = str(path)
    return load_model(spec, device=device)


def bench_e2e(src: Path, dst: Path, explainer: Explainer, batch: int,
              max_side: int) -> tuple[float, int, float, float]:
    """(frames/s, frames, RSS before, peak RSS during; MiB) of one ``explain_video`` call."""
    with RssSampler() as rss:
        start = time.perf_counter()
        result = video.explain_video(src, dst, explainer, VideoSettings(batch_size=batch, max_side=max_side))
        elapsed = time.perf_counter() - start
    return len(result.frames) / elapsed, len(result.frames), rss.before, rss.peak


def _frames(src: Path, count: int, max_side: int) -> list[np.ndarray]:
    return [image for _, (_, image) in zip(range(count), video.read_frames(src, max_side=max_side))]


def bench_decode(src: Path, max_side: int) -> float:
    """Frames/s of decoding the whole clip as the pipeline does (swscale to RGB, downscaled)."""
    start = time.perf_counter()
    count = sum(1 for _ in video.read_frames(src, max_side=max_side))
    return count / (time.perf_counter() - start)


def bench_network(explainer: Explainer, images: list[np.ndarray], batch: int, frames: int) -> float:
    """Frames/s of ``explainer.explain`` on decoded frames in batches (preprocessing included), ``frames`` frames."""
    explainer.explain(images[:batch])   # warm-up
    start = time.perf_counter()
    done = 0
    while done < frames:
        chunk = [images[(done + i) % len(images)] for i in range(batch)]
        explainer.explain(chunk)
        done += batch
    return done / (time.perf_counter() - start)


def _jobs(explainer: Explainer, images: list[np.ndarray], value_range: tuple[float, float]) -> list[Job]:
    jobs = []
    for i, (image, explanation) in enumerate(zip(images, explainer.explain(images))):
        view = frame_view(explanation, "overlay", 0.5, value_range)
        frame = Frame(index=i, time_s=i / 15, pts=i, duration=1, time_base=Fraction(1, 15), image=image)
        jobs.append(Job(frame=frame, view=view))
    return jobs


def bench_render(jobs: list[Job], frames: int) -> tuple[float, list[av.VideoFrame]]:
    """Frames/s of the pipeline's render stage (a new view every frame, as with every=1) + yuv420p conversion."""
    renderer = FrameRenderer(0.5, "jet")
    prepared = []
    start = time.perf_counter()
    for i in range(frames):
        job = jobs[i % len(jobs)]
        prepared.append(prepare_frame(renderer.render(Job(frame=job.frame, view=frame_view_copy(job))), False))
    return frames / (time.perf_counter() - start), prepared[:len(jobs)]


def frame_view_copy(job: Job) -> FrameView:
    """A distinct view object, so the renderer colours the map again (as for every explained frame)."""
    return FrameView(verdict=job.view.verdict, panels=job.view.panels)


def bench_encode(out: Path, prepared: list[av.VideoFrame], jobs: list[Job], frames: int) -> float:
    """Frames/s of x264 on frames already converted to yuv420p."""
    height, width = jobs[0].frame.image.shape[:2]
    writer = Writer(out, "libx264", (width, height), 15)
    start = time.perf_counter()
    for i in range(frames):
        frame = jobs[i % len(jobs)].frame
        timed = Frame(index=i, time_s=i / 15, pts=i, duration=1, time_base=frame.time_base, image=frame.image)
        writer.write_prepared(prepared[i % len(prepared)], timed)
    writer.finish()
    return frames / (time.perf_counter() - start)


def bench_naive(src: Path, dst: Path, explainer: Explainer, frames: int, max_side: int,
                draw: Callable[[np.ndarray, np.ndarray], object]) -> float:
    """Frames/s of decode → explain one → overlay → encode one, in one thread."""
    bundle = explainer.bundle
    target = bundle.card.scored_index
    start = time.perf_counter()
    with av.open(str(dst), "w") as container:
        stream = None
        count = 0
        for _, image in video.read_frames(src, max_side=max_side):
            if count == frames:
                break
            if stream is None:
                stream = container.add_stream("libx264", rate=15, options=ENCODER_OPTIONS["libx264"])
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
            explanation = explainer.explain([image])[0]
            scaled, _ = normalize_maps(explanation.maps, "raw", (-5.0, 5.0))
            picture = draw(image, scaled[explanation.class_indices.index(target)])
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                container.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode(None):
                container.mux(packet)
    return count / (time.perf_counter() - start)


def bench_sample_clip(out_dir: Path, explainer: Explainer, batch: int) -> tuple[float, float, int]:
    """(e): (clip seconds, wall seconds, frames) of ``explain_video`` on the built-in sample clip."""
    clip = video.make_sample_clip(out_dir / "sample.mp4")
    info = video.probe_video(clip)
    settings = VideoSettings(batch_size=batch, track_parts=True)
    start = time.perf_counter()
    result = video.explain_video(clip, out_dir / "sample-explained.mp4", explainer, settings)
    return len(result.frames) / info.fps, time.perf_counter() - start, len(result.frames)


def child_run(args: argparse.Namespace) -> None:
    """(d), in this fresh process: load, open the engine, explain ``args.child_run`` as the CLI does; prints one
    JSON line with the RSS once loaded, the sampled peak during the call and ``ru_maxrss`` (MiB)."""
    clip, out = args.child_run
    bundle = get_bundle(args.model, args.device)
    with make_explainer(bundle, backend=args.backend, batch_size=args.batch_sizes[0]) as explainer:
        settings = VideoSettings(batch_size=args.batch_sizes[0], max_side=args.max_side, track_parts=True)
        with RssSampler() as rss:
            start = time.perf_counter()
            result = video.explain_video(clip, out, explainer, settings, csv_path=Path(out).with_suffix(".csv"))
            elapsed = time.perf_counter() - start
    print(json.dumps({"loaded": rss.before, "peak_call": rss.peak, "frames": len(result.frames),
                      "fps": len(result.frames) / elapsed,
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_memory(clip: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    """Run :func:`child_run` on ``clip`` in a fresh interpreter; its JSON result."""
    command = [sys.executable, __file__, "--child-run", str(clip), str(out), "--device", args.device,
               "--backend", args.backend, "--batch-sizes", str(args.batch_sizes[0]), "--max-side", str(args.max_side)]
    if args.model:
        command += ["--model", args.model]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def memory_rows(rows: Rows, clips: list[tuple[float, Path]], out_dir: Path, args: argparse.Namespace) -> None:
    """(d) for each clip: the fresh process's peak RSS (its whole life) and its RSS once the model is loaded."""
    peaks = []
    for seconds, clip in clips:
        got = bench_memory(clip, out_dir / f"memory-{seconds:g}s.mp4", args)
        peaks.append(got["maxrss"])
        rows.append((f"(d) peak RSS of a video run, {seconds:g} s clip (fresh process, target <= 1024 MiB)",
                     f"{got['maxrss']:8.0f} MiB  ({got['loaded']:.0f} MiB once loaded; {got['frames']:.0f} frames "
                     f"at {got['fps']:.1f} frames/s)"))
    if len(peaks) > 1:
        rows.append((f"    growth from {clips[0][0]:g} s to {clips[-1][0]:g} s", f"{peaks[-1] - peaks[0]:+8.0f} MiB"))


def bench_stages(clip: Path, clip_frames: int, explainer: Explainer, images: list[np.ndarray], batch: int,
                 args: argparse.Namespace, out_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """(b): each stage alone, its frames/s and its CPU time per frame (ms, all threads)."""
    stages: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}
    with CpuMeter() as used:
        stages["decode"] = bench_decode(clip, args.max_side)
    cpu_ms["decode"] = used.seconds / clip_frames * 1000
    with CpuMeter() as used:
        stages["network (engine)"] = bench_network(explainer, images, batch, args.stage_frames)
    cpu_ms["network (engine)"] = used.seconds / (-(-args.stage_frames // batch) * batch + batch) * 1000  # + warm-up
    jobs = _jobs(explainer, images, (-5.0, 5.0))
    with CpuMeter() as used:
        stages["render"], prepared = bench_render(jobs, args.stage_frames)
    cpu_ms["render"] = used.seconds / args.stage_frames * 1000
    with CpuMeter() as used:
        stages["encode"] = bench_encode(out_dir / "encode-only.mp4", prepared, jobs, args.stage_frames)
    cpu_ms["encode"] = used.seconds / args.stage_frames * 1000
    return stages, cpu_ms


class Rows(list[tuple[str, str]]):
    """Result rows, each printed as soon as it is measured (a long run shows its figures as it goes)."""

    def append(self, row: tuple[str, str]) -> None:
        super().append(row)
        print(f"{row[0]:<70}  {row[1]}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--model", default=None, help="model name or .safetensors path (default: see above)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8])
    parser.add_argument("--max-side", type=int, default=1280)
    parser.add_argument("--stage-frames", type=int, default=60, help="frames timed in each stage alone")
    parser.add_argument("--naive-frames", type=int, default=60, help="frames timed in the naive loop")
    parser.add_argument("--long", action="store_true", help="also run a 5-minute clip for peak RSS")
    parser.add_argument("--memory-only", action="store_true", help="only (d), the peak memory of video runs")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--child-run", nargs=2, metavar=("CLIP", "OUT"), help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.child_run:
        child_run(args)
        return
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="cam-bench-video-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    clip = write_clip(out_dir / f"clip-{args.seconds:g}s-{args.height}p.mp4", args.seconds, args.fps, args.height)
    clips = [(args.seconds, clip)]
    if args.long:
        clips.append((300.0, write_clip(out_dir / f"clip-300s-{args.height}p.mp4", 300, args.fps, args.height)))
    rows = Rows()
    if args.memory_only:
        memory_rows(rows, clips, out_dir, args)
        return
    bundle = get_bundle(args.model, args.device)
    batch = args.batch_sizes[0]
    info = video.probe_video(clip)
    with make_explainer(bundle, backend=args.backend, batch_size=batch) as explainer:
        print(f"model={bundle.name} ({bundle.arch}, input {bundle.input_size[1]}x{bundle.input_size[0]}) "
              f"device={bundle.device} engine={explainer.backend.label} torch={torch.__version__} "
              f"threads={torch.get_num_threads()} cpus={os.cpu_count()}", flush=True)
        print(f"clip: {clip} {info.width}x{info.height} {info.frame_count} frames at {info.fps:g} fps "
              f"(written in {time.perf_counter() - start:.1f} s)", flush=True)
        explainer.explain([np.zeros((64, 64, 3), np.uint8)] * 2)  # warm-up
        e2e_rates = {}
        for size in args.batch_sizes:
            explainer.batch_size = size
            with CpuMeter() as used:
                e2e, frames, before, peak = bench_e2e(clip, out_dir / "explained.mp4", explainer, size,
                                                      args.max_side)
            e2e_rates[size] = e2e
            rows.append((f"(a) end-to-end explain_video, batch {size}",
                         f"{e2e:8.1f} frames/s  ({frames} frames, {used.seconds / frames * 1000:.1f} ms CPU per "
                         f"frame, peak RSS {peak:.0f} MiB)"))
        explainer.batch_size = batch
        images = _frames(clip, max(batch, 16), args.max_side)
        stages, cpu_ms = bench_stages(clip, info.frame_count, explainer, images, batch, args, out_dir)
        for name, rate in stages.items():
            rows.append((f"(b) {name} alone", f"{rate:8.1f} frames/s  ({cpu_ms[name]:.1f} ms CPU per frame)"))
        slowest = min(stages, key=stages.__getitem__)
        e2e = e2e_rates[batch]
        rows.append((f"    e2e (batch {batch}) / slowest stage ({slowest}), target >= 0.8",
                     f"{e2e / stages[slowest]:8.2f}"))
        cores = len(os.sched_getaffinity(0))
        ceiling = cores / (sum(cpu_ms.values()) / 1000)
        rows.append((f"    the cores' ceiling: {cores} cores / {sum(cpu_ms.values()):.1f} ms CPU of all stages per frame",
                     f"{ceiling:8.1f} frames/s  (e2e / ceiling {e2e / ceiling:.2f}; slowest stage / ceiling "
                     f"{stages[slowest] / ceiling:.2f})"))
        naive_frames = min(args.naive_frames, frames)
        naive = bench_naive(clip, out_dir / "naive.mp4", explainer, naive_frames, args.max_side,
                            lambda image, values: overlay(image, values, 0.5, "jet"))
        rows.append(("(c) naive 1-frame loop, render.overlay", f"{naive:8.1f} frames/s  ({naive_frames} frames)"))
        rows.append(("    e2e / naive loop", f"{e2e / naive:8.2f}x"))
        clip_s, wall_s, clip_frames = bench_sample_clip(out_dir, explainer, batch)
        rows.append(("(e) built-in clip, real-time ratio (clip duration / wall time)",
                     f"{clip_s / wall_s:8.2f}   ({clip_frames} frames, {clip_s:g} s of video in {wall_s:.2f} s)"))
    memory_rows(rows, clips, out_dir, args)


if __name__ == "__main__":
    main()

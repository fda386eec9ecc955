"""Video pipeline throughput and memory, measured in one run (run by hand; not a test).

    python benchmarks/bench_video.py [--seconds 30] [--height 720] [--model PATH|name] [--out-dir DIR] [--long]

1. Writes a synthetic clip: the conveyor of :func:`cam_core.synth.conveyor_frames` (480×270, a 10 s
   loop of unique frames) upscaled by swscale to ``--height`` (16:9), H.264.
2. (a) end-to-end ``explain_video`` frames/s (decode → batch explain → overlay + verdict → H.264);
   (b) a bare batched forward: only ``bundle.model(batch)`` under inference_mode, same number of frames,
       same batch size, one preprocessed batch reused; ratio e2e/bare (target ≥ 0.8);
   (c) a naive loop in one thread: decode one frame → explain it → ``render.overlay`` (the same overlay
       the pipeline draws with) → encode it, on the first ``--naive-frames`` frames: the gain of
       threads + batching;
   (d) peak RSS while ``explain_video`` runs (sampled from /proc/self/status every 20 ms), for this clip
       and with ``--long`` for a 5-minute one (memory should not grow with length).

Without ``--model`` it uses the first shipped model, else a random-weight squeezenet1_1 (224 px) saved
to /tmp: throughput does not depend on the weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cam_core import video  # noqa: E402
from cam_core.checkpoints import ModelBundle, list_models, save_checkpoint  # noqa: E402
from cam_core.engine.architectures import build_model  # noqa: E402
from cam_core.explain.pipeline import Explainer  # noqa: E402
from cam_core.explain.render import normalize_maps, overlay  # noqa: E402
from cam_core.models import load_model  # noqa: E402
from cam_core.options import VideoSettings  # noqa: E402
from cam_core.synth import conveyor_frames  # noqa: E402
from cam_core.video.encode import ENCODER_OPTIONS  # noqa: E402

LOOP_FRAMES = 150  # unique synthetic frames, repeated to reach the clip length


def rss_mib() -> float:
    """Current resident set size (VmRSS) in MiB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


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


def bench_bare(bundle: ModelBundle, src: Path, frames: int, batch: int, max_side: int) -> float:
    """Frames/s of ``bundle.model(batch)`` alone over ``frames`` frames (median of 3 passes)."""
    images = [image for _, (_, image) in zip(range(batch), video.read_frames(src, max_side=max_side))]
    x = bundle.preprocess(images).to(bundle.device)
    sync = torch.cuda.synchronize if bundle.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        bundle.model(x)  # warm-up
        passes = []
        for _ in range(3):
            sync()
            start = time.perf_counter()
            for _ in range(-(-frames // batch)):
                bundle.model(x)
            sync()
            passes.append(time.perf_counter() - start)
    return (-(-frames // batch) * batch) / statistics.median(passes)


def bench_naive(src: Path, dst: Path, explainer: Explainer, frames: int, max_side: int,
                draw: Callable[[np.ndarray, np.ndarray], object]) -> float:
    """Frames/s of decode → explain one → overlay → encode one, in one thread."""
    bundle = explainer.bundle
    target = bundle.positive_index if bundle.positive_index is not None else 0
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--model", default=None, help="model name or .safetensors path (default: see above)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-side", type=int, default=1280)
    parser.add_argument("--naive-frames", type=int, default=60, help="frames timed in the naive loops")
    parser.add_argument("--long", action="store_true", help="also run a 5-minute clip for peak RSS")
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()

    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="cam-bench-video-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = get_bundle(args.model, args.device)
    print(f"model={bundle.name} ({bundle.arch}, input {bundle.input_size[1]}x{bundle.input_size[0]}) "
          f"device={bundle.device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"cpus={os.cpu_count()} batch={args.batch_size}", flush=True)
    start = time.perf_counter()
    clip = write_clip(out_dir / f"clip-{args.seconds:g}s-{args.height}p.mp4", args.seconds, args.fps, args.height)
    info = video.probe_video(clip)
    print(f"clip: {clip} {info.width}x{info.height} {info.frame_count} frames at {info.fps:g} fps "
          f"(written in {time.perf_counter() - start:.1f} s)", flush=True)

    rows: list[tuple[str, str]] = []
    with Explainer(bundle, batch_size=args.batch_size) as explainer:
        explainer.explain([np.zeros((64, 64, 3), np.uint8)] * 2)  # warm-up
        e2e, frames, before, peak = bench_e2e(clip, out_dir / "explained.mp4", explainer, args.batch_size, args.max_side)
        rows.append(("(a) end-to-end explain_video", f"{e2e:8.1f} frames/s  ({frames} frames)"))
        bare = bench_bare(bundle, clip, frames, args.batch_size, args.max_side)
        rows.append(("(b) bare model(batch) forward", f"{bare:8.1f} frames/s"))
        rows.append(("    ratio e2e / bare (target >= 0.8)", f"{e2e / bare:8.2f}"))
        naive_frames = min(args.naive_frames, frames)
        naive = bench_naive(clip, out_dir / "naive.mp4", explainer, naive_frames, args.max_side,
                            lambda image, values: overlay(image, values, 0.5, "jet"))
        rows.append(("(c) naive 1-frame loop, render.overlay", f"{naive:8.1f} frames/s  ({naive_frames} frames)"))
        rows.append(("    speed-up from threads + batching", f"{e2e / naive:8.2f}x"))
        rows.append((f"(d) peak RSS, {args.seconds:g} s clip", f"{peak:8.0f} MiB  (+{peak - before:.0f} MiB over "
                                                                 f"the {before:.0f} MiB before the call)"))
        if args.long:
            long_clip = write_clip(out_dir / f"clip-300s-{args.height}p.mp4", 300, args.fps, args.height)
            e2e_long, frames_long, before_long, peak_long = bench_e2e(long_clip, out_dir / "explained-long.mp4", explainer,
                                                         args.batch_size, args.max_side)
            rows.append(("(d) peak RSS, 300 s clip", f"{peak_long:8.0f} MiB  (+{peak_long - before_long:.0f} MiB; "
                                                        f"{frames_long} frames at {e2e_long:.1f} frames/s)"))
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

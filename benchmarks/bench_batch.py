"""Batch throughput, Ray overhead and scaling, resume and memory, measured in one run (by hand; not a test).

    nice -n 10 python benchmarks/bench_batch.py [--images 2000] [--ray-images 600] [--big 20000] [--model PATH]
        [--work DIR] [--json OUT.json]

1. ``--images`` synthetic parts (``python -m cam_core synth``, 128 px), read through a list file of their paths.
2. (a) bare batched forward: only ``bundle.model(batch)`` under inference_mode on the same images, decoded and
   preprocessed beforehand, same batch size; (b) ``Explainer.explain`` on the decoded images in memory;
   (c) the local engine end to end (read, hash, decode in 2 threads, explain, rows, Parquet), ratio c/a.
3. Ray on ``--ray-images`` of them (local Ray on 127.0.0.1, actors of half a CPU and one torch thread each):
   1 and 2 workers, against the local engine on the same images (2 torch threads: the same 2 cores).
   Rates are over the whole run (model loading and the actors' start included); ``ray.init`` is reported
   on its own.
4. Resume: a ``batch`` child process killed (SIGKILL) at about half of ``--ray-images``, then rerun: model
   calls of the rerun and rows per image.
5. Peak RSS (``wait4`` of a child process) of ``batch --save-maps`` on 2,000 vs ``--big`` small images (48 px
   PNGs, a 32 px squeezenet: the count is what matters) and of ``report`` on 2,000 vs ``--big`` vs 100,000
   rows (synthesized from the rows of the 2,000 run, with maps).

Without ``--model`` a random-weight squeezenet1_1 at 96 px (rates do not depend on the weights; the shipped
EfficientNet-Lite0 at 320 px runs far slower on a shared 2-core machine, and the ratios are what is measured).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cam_core.batch.runner import run_batch  # noqa: E402
from cam_core.batch.settings import Engine, ExplainerSpec, RunSettings, build_explainer  # noqa: E402
from cam_core.batch.writer import part_files  # noqa: E402
from cam_core.checkpoints import save_checkpoint  # noqa: E402
from cam_core.data.imaging import load_image  # noqa: E402
from cam_core.engine.architectures import build_model  # noqa: E402
from cam_core.explain.pipeline import Explainer  # noqa: E402

BATCH = 16


def random_model(path: Path, size: int) -> Path:
    torch.manual_seed(0)
    model = build_model("squeezenet1_1", 2, head_relu=False)
    torch.nn.init.normal_(dict(model.named_modules())["classifier.1"].weight, std=0.05)
    return save_checkpoint(model, path, {"arch": "squeezenet1_1", "classes": ["ok", "ng"],
                                         "input_size": [size, size], "head_relu": False})


def synth_list(work: Path, count: int) -> tuple[Path, list[str]]:
    data = work / f"synth-{count}"
    if not (data / "ok").is_dir():
        subprocess.run([sys.executable, "-m", "cam_core", "synth", str(data), "--count", str(count), "--seed", "3",
                        "--size", "128"], cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
    paths = sorted(str(p) for sub in ("ok", "ng") for p in (data / sub).glob("*.png"))
    listing = data / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    return listing, paths


def small_images(folder: Path, count: int) -> Path:
    """``count`` random 48 px PNGs (for the memory runs: the count matters, not the picture)."""
    if folder.is_dir() and len(list(folder.iterdir())) >= count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    for i in range(count):
        base[i % 48, :, :] = i % 251
        Image.fromarray(base).save(folder / f"p{i:06d}.png", compress_level=1)
    return folder


def bare_forward(explainer: Explainer, images: list[Image.Image]) -> tuple[float, float]:
    """(images/s of model(batch) alone, images/s of Explainer.explain on decoded images)."""
    bundle = explainer.bundle
    batches = [bundle.preprocess(images[i:i + BATCH]).contiguous(memory_format=torch.channels_last)
               for i in range(0, len(images), BATCH)]
    with torch.inference_mode():
        bundle.model(batches[0])
        start = time.perf_counter()
        for batch in batches:
            bundle.model(batch)
        forward = len(images) / (time.perf_counter() - start)
    start = time.perf_counter()
    explainer.explain(images)
    return forward, len(images) / (time.perf_counter() - start)


class Steady:
    """Progress callback: the rate between the first and the last row (leaves out model loading and, for Ray,
    the actors' start)."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def __call__(self, event: Any) -> None:
        if event.stage == "batch" and event.done > 0:
            point = (time.perf_counter(), event.done)
            self.first = self.first or point
            self.last = point

    def rate(self) -> float:
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return float("nan")
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def timed_batch(source: str, out: Path, spec: ExplainerSpec, **settings: Any) -> tuple[float, float, Any]:
    """(images/s over the whole run, steady images/s, summary)."""
    steady = Steady()
    start = time.perf_counter()
    summary = run_batch(source, RunSettings(out_dir=out, spec=spec, **settings), steady, interval=0.0)
    return summary.explained / (time.perf_counter() - start), steady.rate(), summary


def ray_section(listing: Path, paths: list[str], work: Path, spec: ExplainerSpec, n: int) -> dict[str, Any]:
    from cam_core.batch.ray_engine import ensure_ray

    subset = work / f"ray-{n}.txt"
    subset.write_text("\n".join(paths[:n]) + "\n")
    start = time.perf_counter()
    ray = ensure_ray(None, num_cpus=2)
    result: dict[str, Any] = {"images": n, "ray_start_s": round(time.perf_counter() - start, 1)}
    local_rate, _, _ = timed_batch(str(subset), work / "out-ray-local", spec, workers=2)
    result["local_2threads_img_s"] = round(local_rate, 1)
    for workers in (1, 2):
        one = ExplainerSpec(model=spec.model, device="cpu", batch_size=BATCH, threads=1)
        rate, _, _ = timed_batch(str(subset), work / f"out-ray-{workers}", one, engine=Engine.RAY, workers=workers)
        result[f"ray_{workers}_workers_img_s"] = round(rate, 1)
    ray.shutdown()
    # whole-run rates (actors' start included, ray.init not): Ray hands rows back in bursts, so a rate
    # between the first and the last row would not mean anything
    result["ray2_vs_local"] = round(result["ray_2_workers_img_s"] / local_rate, 3)
    result["scaling_1_to_2"] = round(result["ray_2_workers_img_s"] / result["ray_1_workers_img_s"], 3)
    per_worker = result["ray_1_workers_img_s"]
    result["per_worker_img_s"] = per_worker
    result["paper_10_workers_img_s"] = round(10 * per_worker, 0)
    result["paper_100_workers_img_s"] = round(100 * per_worker, 0)
    return result


class Counting:
    def __init__(self, spec: ExplainerSpec) -> None:
        self.spec, self.images = spec, 0

    def __call__(self) -> Explainer:
        explainer = build_explainer(self.spec)
        inner = explainer.explain

        def explain(images, targets=None):  # type: ignore[no-untyped-def]
            self.images += len(images)
            return inner(images, targets)

        explainer.explain = explain  # type: ignore[method-assign]
        return explainer


def resume_section(listing: Path, total: int, work: Path, spec: ExplainerSpec) -> dict[str, Any]:
    out = work / "out-resume"
    command = [sys.executable, "-m", "cam_core", "batch", str(listing), "--out", str(out), "--model", spec.model,
               "--device", "cpu", "--rows-per-part", "100", "--progress-every", "3600"]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while child.poll() is None:
        done = 100 * len(part_files(out))
        if done >= total // 2:
            os.kill(child.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    child.wait()
    done = sum(pq.read_metadata(p).num_rows for p in part_files(out))
    counting = Counting(spec)
    summary = run_batch(str(listing), RunSettings(out_dir=out, spec=spec), explainer_factory=counting)
    rows = pa.concat_tables([pq.read_table(p, columns=["path"]) for p in part_files(out)])
    unique = len(pc.unique(rows.column("path")))
    return {"images": total, "rows_before_kill": done, "model_calls_on_rerun": counting.images,
            "skipped_on_rerun": summary.skipped, "rows_after": rows.num_rows, "unique_paths_after": unique}


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise RuntimeError(f"{command[:4]} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def synth_results(source: Path, target: Path, rows: int) -> Path:
    """``rows`` rows made from the rows of ``source`` (paths and probabilities varied), in parts of 2048."""
    base = pa.concat_tables([pq.read_table(p) for p in part_files(source)])
    base = base.filter(pc.is_null(base.column("error")))
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for number, start in enumerate(range(0, rows, 2048)):
        n = min(2048, rows - start)
        chunk = base.take(pa.array(np.arange(n) % base.num_rows))
        paths = pa.array([f"/line/cam{(start + i) % 7}/{start + i:07d}.png" for i in range(n)])
        p = pa.array(rng.random(n))
        chunk = chunk.set_column(chunk.schema.get_field_index("path"), "path", paths)
        chunk = chunk.set_column(chunk.schema.get_field_index("defect_probability"), "defect_probability", p)
        pq.write_table(chunk, target / f"part-{number:05d}.parquet", compression="zstd")
    return target


def memory_section(work: Path, big: int, batch_big: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    small = random_model(work / "squeeze32.safetensors", 32)      # 1×1 maps: the count is what is measured
    for count in (2000, batch_big):
        folder = small_images(work / f"small-{count}", count)
        out = work / f"out-mem-{count}"
        rss, seconds = peak_rss_mb([sys.executable, "-m", "cam_core", "batch", str(folder), "--out", str(out),
                                    "--model", str(small), "--device", "cpu", "--save-maps", "--batch-size", "64",
                                    "--progress-every", "3600"])
        result[f"batch_{count}_peak_mb"] = round(rss, 1)
        result[f"batch_{count}_s"] = round(seconds, 1)
    with_maps = work / "out-mem-2000"
    for rows in (2000, big, 100_000):
        results = synth_results(with_maps, work / f"rows-{rows}", rows)
        rss, seconds = peak_rss_mb([sys.executable, "-m", "cam_core", "report", str(results), "--out",
                                    str(work / f"report-{rows}.html"), "--worst", "20"])
        result[f"report_{rows}_peak_mb"] = round(rss, 1)
        result[f"report_{rows}_s"] = round(seconds, 1)
    result["batch_growth"] = round(result[f"batch_{batch_big}_peak_mb"] / result["batch_2000_peak_mb"] - 1, 3)
    result["report_growth"] = round(result[f"report_{big}_peak_mb"] / result["report_2000_peak_mb"] - 1, 3)
    result["report_growth_100k"] = round(result["report_100000_peak_mb"] / result["report_2000_peak_mb"] - 1, 3)
    return result


def throughput_section(listing: Path, paths: list[str], work: Path, spec: ExplainerSpec) -> dict[str, Any]:
    with build_explainer(spec) as explainer:
        images = [load_image(p).image for p in paths]
        forward, explain = bare_forward(explainer, images)
        del images
    rate, steady, summary = timed_batch(str(listing), work / "out-local", spec, workers=2)
    return {"bare_forward_img_s": round(forward, 1), "explain_in_memory_img_s": round(explain, 1),
            "local_engine_img_s": round(rate, 1), "local_engine_steady_img_s": round(steady, 1),
            "local_vs_bare_forward": round(rate / forward, 3), "local_vs_explain_in_memory": round(rate / explain, 3),
            "errors": summary.errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--ray-images", type=int, default=600)
    parser.add_argument("--big", type=int, default=20000)
    parser.add_argument("--batch-big", type=int, default=None, help="images of the larger batch memory run "
                        "(default --big)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--work", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: throughput,ray,resume,memory")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    model = args.model or str(random_model(work / "squeeze96.safetensors", 96))
    spec = ExplainerSpec(model=model, device="cpu", batch_size=BATCH)
    listing, paths = synth_list(work, args.images)
    report: dict[str, Any] = {"images": len(paths), "model": Path(model).name, "torch_threads": torch.get_num_threads(),
                              "cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0]}
    skip = set(filter(None, args.skip.split(",")))
    if "throughput" not in skip:
        report["throughput"] = throughput_section(listing, paths, work, spec)
        print(json.dumps(report, indent=1), flush=True)
    if "ray" not in skip:
        report["ray"] = ray_section(listing, paths, work, spec, args.ray_images)
        print(json.dumps(report["ray"], indent=1), flush=True)
    if "resume" not in skip:
        subset = work / f"resume-{args.ray_images}.txt"
        subset.write_text("\n".join(paths[:args.ray_images]) + "\n")
        report["resume"] = resume_section(subset, args.ray_images, work, spec)
        print(json.dumps(report["resume"], indent=1), flush=True)
    if "memory" not in skip:
        report["memory"] = memory_section(work, args.big, args.batch_big or args.big)
        print(json.dumps(report["memory"], indent=1), flush=True)
    report["load_avg_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

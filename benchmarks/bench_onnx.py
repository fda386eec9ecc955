"""CAM through the engine (onnxruntime) against PyTorch CAM on the CPU, measured in one run (by hand; not a test).

    python benchmarks/bench_onnx.py [--model efficientnet_lite0-parts] [--batches 1 16] [--reps 15] [--threads N]

The engine is built as every consumer builds it, :func:`cam_core.explain.factory.make_explainer` with
``backend="onnx"`` (graph from the export cache, verified against PyTorch before use), in a temporary cache
folder so the one-time export and the verification are timed too. Both extractors then explain the same
normalised batch at the model's input size, interleaved call by call (so machine load hits both alike):
PyTorch :class:`~cam_core.engine.methods.CAM` (channels_last, hook + weight product + identity check) and the
engine's :class:`~cam_core.interop.OnnxCAM` (one onnxruntime run with the pooled features as an extra output
+ the same product and check). Both use the same number of threads. Printed: the median milliseconds per
batch, the speed-up ``PyTorch / engine`` (target >= 2), and the largest relative map difference seen.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cam_core.engine.methods import make_extractor  # noqa: E402
from cam_core.explain.factory import make_explainer  # noqa: E402
from cam_core.interop import onnx_cache  # noqa: E402
from cam_core.models import load_model  # noqa: E402


def time_pair(torch_cam, onnx_cam, x: torch.Tensor, reps: int) -> tuple[float, float, float]:
    """Median seconds per call of each extractor on ``x``, and the largest relative map difference."""
    for _ in range(3):   # warm-up both paths
        torch_cam(x)
        onnx_cam(x)
    torch_times, onnx_times, worst = [], [], 0.0
    for _ in range(reps):
        start = time.perf_counter()
        want = torch_cam(x)
        torch_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        have = onnx_cam(x)
        onnx_times.append(time.perf_counter() - start)
        worst = max(worst, float((have.maps - want.maps).abs().max() / want.maps.abs().max()))
    return statistics.median(torch_times), statistics.median(onnx_times), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet_lite0-parts")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_model(args.model, device="cpu")
    height, width = bundle.input_size
    import os

    import onnxruntime

    with tempfile.TemporaryDirectory() as folder:
        os.environ[onnx_cache.CACHE_ENV] = folder
        start = time.perf_counter()
        engine = make_explainer(bundle, "cam", backend="onnx")
        first_open = time.perf_counter() - start
        if engine.backend.ran != "onnx":
            raise SystemExit(f"the engine fell back to PyTorch: {engine.backend.note}")
    print(f"model={bundle.name} ({bundle.arch}, input {height}x{width}) torch={torch.__version__} "
          f"onnxruntime={onnxruntime.__version__} threads={torch.get_num_threads()} reps={args.reps}")
    print(f"engine: export + verification on first open {first_open:.1f} s")
    print(f"{'batch':>5}{'PyTorch CAM ms':>16}{'engine CAM ms':>15}{'speed-up':>10}   max map diff")
    with make_extractor("cam", bundle.model) as torch_cam, engine:
        for batch in args.batches:
            x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(batch))
            t_torch, t_onnx, worst = time_pair(torch_cam, engine.extractor, x, args.reps)
            print(f"{batch:>5}{t_torch * 1e3:>16.1f}{t_onnx * 1e3:>15.1f}{t_torch / t_onnx:>9.2f}x   {worst:.1e}",
                  flush=True)


if __name__ == "__main__":
    main()

"""ONNX CAM (onnxruntime) against PyTorch CAM on the CPU, measured in one run (run by hand; not a test).

    python benchmarks/bench_onnx.py [--model efficientnet_lite0-parts] [--batches 1 16] [--reps 15] [--threads N]

The model is exported to a temporary ``.onnx`` (:func:`cam_core.interop.export_onnx`, which checks its maps
against PyTorch first). Both extractors then explain the same normalised batch at the model's input size,
interleaved call by call (so machine load hits both alike): PyTorch :class:`~cam_core.engine.methods.CAM`
(channels_last, hook + weight product + identity check) and :class:`~cam_core.interop.OnnxCAM` (one
onnxruntime run with the pooled features as an extra output + the same product and check). Both use the same
number of threads. Printed: the median milliseconds per batch, the ratio ``ONNX / PyTorch`` (below 1: ONNX
is faster), and the largest relative map difference seen.
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
from cam_core.interop import export_onnx, onnx_extractor  # noqa: E402
from cam_core.models import load_model, open_model  # noqa: E402


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
    with tempfile.TemporaryDirectory() as folder:
        exported = export_onnx(bundle, Path(folder) / "model.onnx")
        onnx_bundle = open_model(exported.path)   # its session is made with torch's thread count
    height, width = bundle.input_size
    import onnxruntime

    print(f"model={bundle.name} ({bundle.arch}, input {height}x{width}) torch={torch.__version__} "
          f"onnxruntime={onnxruntime.__version__} threads={torch.get_num_threads()} reps={args.reps}")
    print(f"export: head {exported.head.head}, maps within {exported.map_error:.1e} of PyTorch")
    print(f"{'batch':>5}{'PyTorch CAM ms':>16}{'ONNX CAM ms':>13}{'ONNX/PyTorch':>14}  faster   max map diff")
    with make_extractor("cam", bundle.model) as torch_cam, onnx_extractor(onnx_bundle.model) as onnx_cam:
        for batch in args.batches:
            x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(batch))
            t_torch, t_onnx, worst = time_pair(torch_cam, onnx_cam, x, args.reps)
            faster = "ONNX" if t_onnx < t_torch else "PyTorch"
            print(f"{batch:>5}{t_torch * 1e3:>16.1f}{t_onnx * 1e3:>13.1f}{t_onnx / t_torch:>14.3f}  {faster:<8} "
                  f"{worst:.1e}", flush=True)


if __name__ == "__main__":
    main()

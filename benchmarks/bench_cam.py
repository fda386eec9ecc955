"""CAM cost over a bare forward pass, measured in one run (run by hand; not a test).

    python benchmarks/bench_cam.py [--archs squeezenet1_1 googlenet resnet18] [--batches 1 16] [--classes 2 1000]

For each network, batch size and head size, the bare ``model(x)`` under inference_mode and the
CAM extractor (hook + weight product + identity check) are timed interleaved, same input, same
memory format (channels_last, as the product runs), and the ratio of medians is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cam_core import CAM  # noqa: E402
from cam_core.checkpoints import pick_device  # noqa: E402
from cam_core.engine.architectures import build_model  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_pair(model: torch.nn.Module, x: torch.Tensor, reps: int) -> tuple[float, float]:
    device = x.device
    with CAM(model) as cam:
        for _ in range(3):  # warm-up both paths
            with torch.inference_mode():
                model(x)
            cam(x)
        _sync(device)
        bare, explained = [], []
        for _ in range(reps):
            start = time.perf_counter()
            with torch.inference_mode():
                model(x)
            _sync(device)
            bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            cam(x)
            _sync(device)
            explained.append(time.perf_counter() - start)
    return statistics.median(bare), statistics.median(explained)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["squeezenet1_1", "googlenet", "resnet18"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--classes", nargs="+", type=int, default=[2, 1000])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} size={args.size}")
    print(f"{'arch':<15}{'classes':>8}{'batch':>6}{'bare ms':>10}{'CAM ms':>10}{'ratio':>8}")
    for arch in args.archs:
        for classes in args.classes:
            torch.manual_seed(0)
            model = build_model(arch, classes).to(device).eval().to(memory_format=torch.channels_last)
            for batch in args.batches:
                x = torch.randn(batch, 3, args.size, args.size, device=device).contiguous(
                    memory_format=torch.channels_last)
                bare, cam = time_pair(model, x, args.reps)
                print(f"{arch:<15}{classes:>8}{batch:>6}{bare * 1e3:>10.1f}{cam * 1e3:>10.1f}{cam / bare:>8.3f}",
                      flush=True)


if __name__ == "__main__":
    main()

"""1,000 explain calls against one model: hook count and RSS growth (run by hand).

    python benchmarks/bench_leaks.py [--model PATH_OR_NAME] [--calls 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cam_core import Explainer, load_model  # noqa: E402
from cam_core.engine.hooks import registered_hook_count  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="efficientnet_lite0-parts")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    bundle = load_model(args.model, device="cpu")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8))
    for _ in range(20):
        with Explainer(bundle) as explainer:
            explainer.explain_one(image)
    start_rss, start = rss_mb(), time.perf_counter()
    for i in range(args.calls):
        with Explainer(bundle, method=("cam", "gradcam", "gradcam++")[i % 3]) as explainer:
            explainer.explain_one(image).overlays(image)
        if (i + 1) % 250 == 0:
            print(f"{i + 1:>5} calls  RSS {rss_mb():7.1f} MB  (+{rss_mb() - start_rss:.1f})  hooks "
                  f"{registered_hook_count(bundle.model)}", flush=True)
    print(f"{args.calls} calls in {time.perf_counter() - start:.1f} s; RSS growth {rss_mb() - start_rss:.1f} MB "
          f"(limit 50); hooks left {registered_hook_count(bundle.model)}")


if __name__ == "__main__":
    main()

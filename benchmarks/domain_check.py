"""How well does a model's domain check separate its own kind of images from others, and what does it cost?

    python benchmarks/domain_check.py --model efficientnet_lite0-parts --in-domain /tmp/shiptest \
        --foreign tiles=../shared/data/magnetic_tile --foreign plates=../shared/data/mpdd_metal_plate [--limit 400]

For every image (folders searched recursively, ``masks/`` skipped) the Explainer gives a domain distance from the
same forward pass as the maps. Printed: the AUROC of the distance, held-out in-domain images against each foreign
set (1.0 = every foreign image is farther than every in-domain one), and the share of each set flagged
"unlike training data" at the threshold in the model's card (target: ≤ 2 % in-domain, ≥ 95 % foreign).
Then the cost: explaining the same batch with and without the domain check, interleaved, in one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cam_core.data.dataset import is_masks_folder  # noqa: E402
from cam_core.data.imaging import iter_image_files, load_image  # noqa: E402
from cam_core.evaluation import auroc  # noqa: E402
from cam_core.explain import Explainer  # noqa: E402
from cam_core.models import load_model  # noqa: E402


def images_of(folder: Path, limit: int, seed: int = 0) -> list[Path]:
    paths = [p for p in iter_image_files([folder]) if not any(is_masks_folder(q) for q in p.relative_to(folder).parts)]
    if limit and len(paths) > limit:
        keep = np.random.default_rng(seed).choice(len(paths), limit, replace=False)
        paths = [paths[i] for i in sorted(keep)]
    return paths


def distances(explainer: Explainer, paths: list[Path]) -> np.ndarray:
    out = []
    for start in range(0, len(paths), 16):
        images = [load_image(p).image for p in paths[start:start + 16]]
        out += [e.domain.distance for e in explainer.explain(images)]
    return np.array(out, dtype=np.float64)


def cost(bundle, images, rounds: int) -> tuple[float, float]:  # noqa: ANN001
    """Median seconds per batch, with and without the domain check, interleaved."""
    plain = replace(bundle, domain=None)
    with Explainer(bundle) as with_domain, Explainer(plain) as without:
        with_domain.explain(images)
        without.explain(images)
        timings: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(rounds):
            for key, explainer in (("with", with_domain), ("without", without)):
                start = time.perf_counter()
                explainer.explain(images)
                timings[key].append(time.perf_counter() - start)
    return statistics.median(timings["with"]), statistics.median(timings["without"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0-parts")
    parser.add_argument("--in-domain", required=True, type=Path, help="held-out images like the training data")
    parser.add_argument("--foreign", action="append", default=[], help="NAME=DIR, repeatable")
    parser.add_argument("--limit", type=int, default=0, help="at most this many images per set (random, seeded)")
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (batch of 16)")
    args = parser.parse_args()
    bundle = load_model(args.model, device="cpu")
    if bundle.domain is None:
        raise SystemExit(f"{args.model} has no domain reference (python -m cam_core reference MODEL DIR)")
    ref = bundle.domain.reference
    print(f"{args.model}: reference of {ref.n_reference} images from {ref.source}, layers {ref.layer}, "
          f"k={ref.k}, threshold {ref.threshold:.4f}")
    with Explainer(bundle) as explainer:
        own_paths = images_of(args.in_domain, args.limit)
        own = distances(explainer, own_paths)
        print(f"in-domain {args.in_domain}: {len(own)} images, flagged {np.mean(own > ref.threshold):.1%}, "
              f"distance median {np.median(own):.4f}, max {own.max():.4f}")
        for spec in args.foreign:
            name, folder = spec.split("=", 1)
            other = distances(explainer, images_of(Path(folder), args.limit))
            score = auroc(np.r_[own, other], np.r_[np.zeros(len(own)), np.ones(len(other))])
            print(f"{name} {folder}: {len(other)} images, AUROC {score:.4f}, flagged {np.mean(other > ref.threshold):.1%}, "
                  f"distance median {np.median(other):.4f}, min {other.min():.4f}")
    batch = [load_image(p).image for p in own_paths[:16]]
    with_s, without_s = cost(bundle, batch, args.rounds)
    print(f"explain cost, batch of {len(batch)}: with the domain check {1000 * with_s:.1f} ms, without "
          f"{1000 * without_s:.1f} ms, ratio {with_s / without_s:.3f} (median of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()

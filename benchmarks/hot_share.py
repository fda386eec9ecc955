"""How the default maps read: the "hot" share of the NG map on OK parts, and whether it singles out the defect.

    python benchmarks/hot_share.py DATA_DIR [--model efficientnet_lite0-parts] [--mode evidence] [--limit N]

Through the library's defaults (``Explainer(bundle).explain_one(img).normalized()``), "hot" being the top
quarter of the colour range (scaled value ≥ 0.75: orange and red in jet), with the map upsampled to the image:

- OK parts: the share of pixels where the NG map is hot (target ≤ 5 %);
- NG parts with a mask: the hot region *singles out the defect* when it touches the mask and its density
  inside the mask (hot ∩ mask / mask) is higher than over the whole image (hot / image) (target ≥ 90 %).

DATA_DIR holds ``ok/``, ``ng/``, ``masks/`` and optionally ``manifest.csv`` (per-defect-type rows).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cam_core.checkpoints import DEFAULT_MODEL  # noqa: E402
from cam_core.data.dataset import folder_masks, list_images, read_manifest, relative_name  # noqa: E402
from cam_core.data.imaging import load_image  # noqa: E402
from cam_core.evaluation import load_mask  # noqa: E402
from cam_core.explain.pipeline import Explainer, Explanation  # noqa: E402
from cam_core.explain.render import upsample_maps  # noqa: E402
from cam_core.models import load_model  # noqa: E402

HOT = 0.75


def hot_ng_map(explanation: Explanation, ng: int, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Where the NG map, scaled by ``mode`` and upsampled to ``size`` (w, h), is in the top quarter."""
    scaled, _ = explanation.normalized(mode)
    ng_map = scaled[explanation.class_indices.index(ng)]
    return upsample_maps(ng_map, (size[1], size[0])) >= HOT


def singles_out(hot: np.ndarray, mask_path: Path | None) -> bool | None:
    """Whether the hot region touches the mask and is denser inside it; None without a usable mask."""
    if mask_path is None or not mask_path.is_file():
        return None
    mask = load_mask(mask_path)
    if mask.shape != hot.shape or not mask.any():
        return None
    return bool(hot[mask].any()) and float(hot[mask].mean()) > float(hot.mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--mode", default="evidence", choices=["evidence", "shared", "per-map"])
    parser.add_argument("--limit", type=int, default=0, help="at most this many images per class (0 = all)")
    args = parser.parse_args()
    root = Path(args.data_dir)
    manifest = read_manifest(root)
    bundle = load_model(args.model, device="cpu")
    ng = bundle.positive_index
    assert ng is not None, "the model needs a defect class"
    ok_shares: list[float] = []
    singled: dict[str, list[bool]] = defaultdict(list)
    with Explainer(bundle) as explainer:
        for label in ("ok", "ng"):
            files = list_images(root / label)[:args.limit or None]
            masks = folder_masks(root, files, manifest)
            for path in files:
                image = load_image(path).image
                hot = hot_ng_map(explainer.explain_one(image), ng, args.mode, image.size)
                if label == "ok":
                    ok_shares.append(float(hot.mean()))
                    continue
                verdict = singles_out(hot, masks.get(path))
                if verdict is not None:
                    kind = manifest.get(relative_name(path, root), {}).get("defect_type", "") or "all"
                    singled[kind].append(verdict)
    print(f"model {args.model}, mode {args.mode}, data {root}")
    if ok_shares:
        print(f"OK parts ({len(ok_shares)}): NG map hot on {100 * np.mean(ok_shares):.1f} % of the pixels "
              f"(median {100 * np.median(ok_shares):.1f} %, 90th percentile {100 * np.percentile(ok_shares, 90):.1f} %)")
    every = [v for values in singled.values() for v in values]
    if every:
        print(f"NG parts with a mask ({len(every)}): hot region singles out the defect on {np.mean(every):.3f}")
        for kind in sorted(singled):
            print(f"  {kind:10s} n={len(singled[kind]):4d}  {np.mean(singled[kind]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

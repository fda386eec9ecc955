"""Is a missed defect visible at the model's input size at all? Contrast per defect, accuracy per visibility band.

    python benchmarks/visibility.py DATA_DIR [--model efficientnet_lite0-parts]

For every NG image with a mask (``synth`` output: ``ng/``, ``masks/``, ``manifest.csv``), the image and its mask
are resized to the model's input size, as the model sees them, and converted to grey levels ``g``. With ``D`` the
mask and ``R`` a ring of 4 px around it (the mask dilated by a 9×9 max filter, minus the mask):

    contrast = |mean_D g − mean_R g| / (std_R g + 1)          (in grey levels of local noise; +1 for flat rings)

Bands: < 0.5 (faint), 0.5–1, 1–2, ≥ 2. Prints, per band and per defect type, the number of NG parts and the
share the model calls NG (recall), beside the model's accuracy over every image of DATA_DIR.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cam_core.checkpoints import DEFAULT_MODEL  # noqa: E402
from cam_core.data.dataset import folder_masks, list_images, read_manifest, relative_name  # noqa: E402
from cam_core.data.imaging import load_image  # noqa: E402
from cam_core.explain import Explainer  # noqa: E402
from cam_core.models import load_model  # noqa: E402

BANDS = ((0.0, 0.5, "< 0.5 (faint)"), (0.5, 1.0, "0.5–1"), (1.0, 2.0, "1–2"), (2.0, float("inf"), "≥ 2"))


def contrast(image: Image.Image, mask: Image.Image, size: tuple[int, int]) -> float:
    """The contrast of the masked defect against a 4-px ring around it, at ``size = (H, W)``."""
    height, width = size
    grey = np.asarray(image.convert("L").resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)
    small = mask.convert("L").resize((width, height), Image.Resampling.BILINEAR)
    inside = np.asarray(small) >= 128
    if not inside.any():
        inside = np.asarray(small) == np.asarray(small).max()
    ring = np.asarray(Image.fromarray(inside.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(9))) > 0
    ring &= ~inside
    if not ring.any():
        return float("nan")
    return float(abs(grey[inside].mean() - grey[ring].mean()) / (grey[ring].std() + 1.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    root = Path(args.data)
    bundle = load_model(args.model, "cpu")
    manifest = read_manifest(root)
    ng_files, ok_files = list_images(root / "ng"), list_images(root / "ok")
    masks = folder_masks(root, ng_files, manifest)
    rows: list[tuple[str, float, bool]] = []
    right = 0
    with Explainer(bundle) as explainer:
        for path in ok_files:
            right += explainer.explain_one(load_image(path).image).predicted_class == "ok"
        for path in ng_files:
            image = load_image(path).image
            called = explainer.explain_one(image).predicted_class == "ng"
            right += called
            mask_path = masks.get(path)
            if mask_path is None or not mask_path.is_file():
                continue
            with Image.open(mask_path) as mask:
                value = contrast(image, mask, bundle.input_size_for(image))
            rows.append((manifest.get(relative_name(path, root), {}).get("defect_type", "?"), value, called))
    total = len(ok_files) + len(ng_files)
    print(f"{args.model} on {root}: accuracy {right / max(total, 1):.3f} over {total} images; "
          f"NG recall per visibility band (contrast at {bundle.input_size[1]}×{bundle.input_size[0]} px):")
    for low, high, name in BANDS:
        chosen = [called for _, value, called in rows if low <= value < high]
        if chosen:
            print(f"  contrast {name:>14}: {len(chosen):4d} NG parts, called NG {np.mean(chosen):.3f}")
    by_type: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for kind, value, called in rows:
        by_type[kind].append((value, called))
    for kind, items in sorted(by_type.items()):
        values = np.array([v for v, _ in items])
        print(f"  {kind:>10}: {len(items):4d} NG parts, median contrast {np.nanmedian(values):.2f}, "
              f"called NG {np.mean([c for _, c in items]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

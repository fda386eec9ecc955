"""How the default maps read: the "hot" share of the NG map on OK parts, and whether it singles out the defect.

    python benchmarks/hot_share.py DATA_DIR [--model efficientnet_lite0-parts] [--mode evidence] [--limit N]

Through the library's defaults (the NG map as :func:`cam_core.explain.picture.map_picture` draws it, on the
certainty scale :mod:`cam_core.explain.certainty`; ``--mode halves`` for the model's fixed scale
:func:`cam_core.explain.scale.model_scale`), "hot" being the top quarter of the drawn
strength (orange and red in jet), with the map upsampled to the image:

- OK parts: the share of pixels where the NG map is hot (target ≤ 5 %);
- NG parts with a mask: the hot region *singles out the defect* when it touches the mask and its density
  inside the mask (hot ∩ mask / mask) is higher than over the whole image (hot / image) (target ≥ 90 %);
- parts called NG: Spearman between the NG map's strongest drawn value and the logit margin (target ≥ 0.7);
  beside it the same with the map's undrawn peak ``max M̃_NG``, about what any colour curve that never clips
  would give (the margin is the map's *mean* plus a bias, by the CAM identity, not its peak);
- OK parts: the share of pixels where the OK map has some colour (target ≥ 50 %).

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
from cam_core.explain.layers import drawn_strength  # noqa: E402
from cam_core.explain.picture import map_picture  # noqa: E402
from cam_core.explain.pipeline import Explainer, Explanation  # noqa: E402
from cam_core.explain.render import DEFAULT_MODE, upsample_maps  # noqa: E402
from cam_core.explain.scale import model_scale, scale_in_force  # noqa: E402
from cam_core.models import load_model  # noqa: E402

HOT = 0.75


def drawn(explanation: Explanation, c: int, mode: str, size: tuple[int, int],
          value_range: tuple[float, float] | None) -> np.ndarray:
    """The drawn strength (0..1) of class ``c``'s map as ``mode`` draws it, upsampled to ``size`` (w, h)."""
    picture = map_picture(explanation, (8, 8), [c] if mode != "signed" else None, mode=mode, value_range=value_range)
    key = c if c in picture.values01 else picture.classes[0]
    return drawn_strength(upsample_maps(picture.values01[key], (size[1], size[0])), picture.style)


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
    parser.add_argument("--mode", default=DEFAULT_MODE, choices=["certainty", "halves", "halves-image", "signed",
                                                                  "evidence", "shared", "per-map"])
    parser.add_argument("--limit", type=int, default=0, help="at most this many images per class (0 = all)")
    args = parser.parse_args()
    root = Path(args.data_dir)
    manifest = read_manifest(root)
    bundle = load_model(args.model, device="cpu")
    ng = bundle.card.defect_index
    assert ng is not None, "the model needs a defect class"
    scale = model_scale(bundle)
    value_range = scale_in_force(args.mode, True, scale.range)
    ok_shares: list[float] = []
    ok_cover: list[float] = []
    called: list[tuple[float, float, float]] = []   # parts called NG: (NG map max as drawn, max M̃_NG, logit margin)
    singled: dict[str, list[bool]] = defaultdict(list)
    with Explainer(bundle) as explainer:
        for label in ("ok", "ng"):
            files = list_images(root / label)[:args.limit or None]
            masks = folder_masks(root, files, manifest)
            for path in files:
                image = load_image(path).image
                explanation = explainer.explain_one(image)
                strength = drawn(explanation, ng, args.mode, image.size, value_range)
                hot = strength >= HOT
                margin = float(explanation.logits[ng] - np.delete(explanation.logits, ng).max())
                if margin > 0:
                    called.append((float(strength.max()), float(explanation.evidence()[ng].max()), margin))
                if label == "ok":
                    ok_shares.append(float(hot.mean()))
                    if args.mode != "signed":
                        other = drawn(explanation, 1 - ng, args.mode, image.size, value_range)
                        ok_cover.append(float((other > 0).mean()))
                    continue
                verdict = singles_out(hot, masks.get(path))
                if verdict is not None:
                    kind = manifest.get(relative_name(path, root), {}).get("defect_type", "") or "all"
                    singled[kind].append(verdict)
    print(f"model {args.model}, mode {args.mode}, scale ±{scale.top:.3g} ({scale.source}), data {root}")
    report(ok_cover, called, ok_shares, singled)
    return 0


def report(ok_cover: list[float], called: list[tuple[float, float, float]], ok_shares: list[float],
           singled: dict[str, list[bool]]) -> None:
    """Print the four figures."""
    if ok_cover:
        print(f"OK parts: OK map coloured on {100 * np.mean(ok_cover):.1f} % of the pixels "
              f"(10th percentile {100 * np.percentile(ok_cover, 10):.1f} %)")
    if len(called) > 2:
        from scipy.stats import spearmanr

        drawn_max, peaks, margins = zip(*called)
        rho = spearmanr(drawn_max, margins).statistic
        undrawn = spearmanr(peaks, margins).statistic
        print(f"parts called NG ({len(called)}): Spearman(NG map max as drawn, logit margin) = {rho:.3f}; "
              f"drawn at full strength: {np.mean(np.asarray(drawn_max) >= 0.999):.2f}; "
              f"with the undrawn peak max M̃_NG: {undrawn:.3f}")
    if ok_shares:
        print(f"OK parts ({len(ok_shares)}): NG map hot on {100 * np.mean(ok_shares):.1f} % of the pixels "
              f"(median {100 * np.median(ok_shares):.1f} %, 90th percentile {100 * np.percentile(ok_shares, 90):.1f} %)")
    every = [v for values in singled.values() for v in values]
    if every:
        print(f"NG parts with a mask ({len(every)}): hot region singles out the defect on {np.mean(every):.3f}")
        for kind in sorted(singled):
            print(f"  {kind:10s} n={len(singled[kind]):4d}  {np.mean(singled[kind]):.3f}")


if __name__ == "__main__":
    raise SystemExit(main())

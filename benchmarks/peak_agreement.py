"""Does a student's NG map peak where its teacher's does?

    python benchmarks/peak_agreement.py DATA --student MODEL [--teacher efficientnet_lite0-parts] [--limit 200]

For each image in ``DATA/ng`` (searched recursively, at most ``--limit``), both models explain it with CAM;
the peak of each one's NG evidence map (``M_NG − mean_c M_c``, upsampled to the image) is compared: the student
agrees when the two peaks lie within the pointing tolerance ``15 · max(W, H) / 224`` px. Prints the share of
agreeing images (target ≥ 0.90) and the median peak distance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cam_core.data.dataset import list_images  # noqa: E402
from cam_core.data.imaging import load_image  # noqa: E402
from cam_core.evaluation import default_tolerance  # noqa: E402
from cam_core.explain import Explainer  # noqa: E402
from cam_core.explain.render import upsample_maps  # noqa: E402
from cam_core.models import load_model  # noqa: E402


def _peak(explainer: Explainer, image: object) -> tuple[np.ndarray, tuple[int, int]]:
    e = explainer.explain_one(image)  # type: ignore[arg-type]
    defect = e.defect_index if e.defect_index is not None else 1
    width, height = e.image_size
    up = upsample_maps(e.evidence_of(defect)[None], (height, width))[0]
    y, x = np.unravel_index(int(np.argmax(up)), up.shape)
    return np.array([x, y], dtype=np.float64), (width, height)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--student", required=True)
    parser.add_argument("--teacher", default="efficientnet_lite0-parts")
    parser.add_argument("--limit", type=int, default=200)
    args = parser.parse_args()
    files = list_images(Path(args.data) / "ng")[:args.limit]
    distances, agree = [], []
    with Explainer(load_model(args.teacher, "cpu")) as teacher, Explainer(load_model(args.student, "cpu")) as student:
        for path in files:
            image = load_image(path).image
            t, size = _peak(teacher, image)
            s, _ = _peak(student, image)
            distance = float(np.linalg.norm(t - s))
            distances.append(distance)
            agree.append(distance <= default_tolerance(*size))
    print(f"{args.student} vs. teacher {args.teacher} on {len(files)} NG images of {args.data}: NG-map peaks within "
          f"the pointing tolerance on {np.mean(agree):.3f}; median peak distance {np.median(distances):.1f} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

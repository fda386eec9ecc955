"""Build train/test folders of symlinks over ../shared/data for the real-data evaluations (nothing copied).

    python benchmarks/make_real_splits.py --out /tmp/real

- magnetic_tile: grouped by acquisition run (``exp0``…``exp6`` in the file names). Test = ``--test-runs``
  (default exp5, exp6); train = every other run. Training then splits its own validation set by run too
  (``train --group-pattern 'exp\\d+'``), so no run is on two sides.
- mpdd_metal_plate: stratified random 70/30 split with ``--seed``.

Each side gets ``ok/``, ``ng/``, ``masks/`` (symlinks) and a filtered ``manifest.csv`` so that
``evaluate`` can report per defect type.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _link(src_root: Path, rows: list[dict[str, str]], fields: list[str], out: Path) -> None:
    for sub in ("ok", "ng", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for row in rows:
        for key in ("file", "mask"):
            rel = row.get(key) or ""
            if rel:
                target = out / rel
                if not target.exists():
                    target.symlink_to(src_root / rel)
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--test-runs", default="exp5,exp6")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tile = args.shared / "magnetic_tile"
    with open(tile / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows, fields = list(reader), list(reader.fieldnames or [])
    test_runs = set(args.test_runs.split(","))
    run_of = [re.search(r"exp\d+", r["file"]).group(0) for r in rows]  # type: ignore[union-attr]
    _link(tile, [r for r, run in zip(rows, run_of) if run not in test_runs], fields, args.out / "magnetic_tile" / "train")
    _link(tile, [r for r, run in zip(rows, run_of) if run in test_runs], fields, args.out / "magnetic_tile" / "test")

    plate = args.shared / "mpdd_metal_plate"
    with open(plate / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows, fields = list(reader), list(reader.fieldnames or [])
    rng = random.Random(args.seed)
    train, test = [], []
    for label in ("ok", "ng"):
        members = [r for r in rows if r["label"] == label]
        rng.shuffle(members)
        cut = round(0.7 * len(members))
        train += members[:cut]
        test += members[cut:]
    _link(plate, train, fields, args.out / "mpdd_metal_plate" / "train")
    _link(plate, test, fields, args.out / "mpdd_metal_plate" / "test")
    for path in sorted(args.out.glob("*/*")):
        print(path, {sub: len(list((path / sub).iterdir())) for sub in ("ok", "ng", "masks")})


if __name__ == "__main__":
    main()

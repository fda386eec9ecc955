"""Merge data sets written by ``python -m cam_core synth`` into one, as class folders of symbolic links.

    python benchmarks/merge_synth.py OUT SOURCE[=PREFIX][:N] ...

Each SOURCE is a synth folder (class folders, ``masks/``, ``manifest.csv``); its first N rows (all without
``:N``) are linked into ``OUT/<label>/<PREFIX><name>`` (masks into ``OUT/masks/<PREFIX><name>``), so folders
whose files share names (several synth runs) stay apart. ``OUT/manifest.csv`` lists every linked row. Nothing
is copied: the sources must stay where they are.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

SOURCE = re.compile(r"^(?P<path>[^=:]+)(?:=(?P<prefix>[^:]*))?(?::(?P<count>\d+))?$")


def linked_rows(out: Path, source: Path, prefix: str, count: int | None) -> list[dict[str, str]]:
    """Link the first ``count`` rows of ``source``'s manifest into ``out``; the rows as ``out``'s manifest has them."""
    with open(source / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    linked = []
    for row in rows:
        new = {**row, "file": f"{row['label']}/{prefix}{Path(row['file']).name}"}
        if row.get("mask"):
            new["mask"] = f"masks/{prefix}{Path(row['mask']).name}"
        for key in ("file", "mask"):
            if new.get(key):
                target = out / new[key]
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.symlink_to((source / row[key]).resolve())
        linked.append(new)
    return linked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("sources", nargs="+", help="SOURCE[=PREFIX][:N]")
    args = parser.parse_args()
    rows: list[dict[str, str]] = []
    for spec in args.sources:
        match = SOURCE.match(spec)
        if match is None:
            parser.error(f"not SOURCE[=PREFIX][:N]: {spec}")
        count = int(match["count"]) if match["count"] else None
        rows += linked_rows(args.out, Path(match["path"]), match["prefix"] or "", count)
    if not rows:
        parser.error("the sources hold no rows")
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(args.out / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{args.out}: {len(rows)} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

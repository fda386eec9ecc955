"""Overlay PNGs for the parts that matter (``--overlays ng|top:N``), not a PNG for every image and class.

After the rows are written, the chosen parts are read from the results (streaming: every part called NG, or a
heap of the N highest defect probabilities), decoded and explained again (one forward each, a small share of the
run) and their shown maps (OK | NG) written as ``_overlays/<stem>-<8 hex of the path>_<class>.png``; a file
already there is kept, so a rerun only adds what is missing.
"""

from __future__ import annotations

import hashlib
import heapq
from pathlib import Path

import pyarrow.parquet as pq

from cam_core.batch.decode import read_input
from cam_core.batch.settings import OverlayPolicy
from cam_core.batch.writer import part_files
from cam_core.explain.export import overlay_file_name, png_bytes, safe_name
from cam_core.explain.pipeline import Explainer
from cam_core.explain.verdict import shown_classes
from cam_core.files import atomic_write

__all__ = ["OVERLAY_DIR", "overlay_path", "select_paths", "write_overlays"]

OVERLAY_DIR = "_overlays"   # "_": Parquet readers of the folder skip it


def overlay_path(out_dir: str | Path, image_path: str, class_name: str) -> Path:
    """Where the overlay of ``class_name`` for ``image_path`` goes (unique per path, readable by stem)."""
    tag = hashlib.sha1(image_path.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    stem = f"{safe_name(Path(image_path).stem)}-{tag}"
    return Path(out_dir) / OVERLAY_DIR / overlay_file_name(stem, class_name)


def select_paths(out_dir: str | Path, policy: OverlayPolicy) -> list[str]:
    """The paths the policy picks from the written rows (NG ones, or the top N by defect probability)."""
    if policy.kind == "none":
        return []
    chosen: list[str] = []
    top: list[tuple[float, str]] = []
    for part in part_files(out_dir):
        for batch in pq.ParquetFile(part).iter_batches(columns=["path", "is_defect", "defect_probability"]):
            for path, flagged, p in zip(*(batch.column(i).to_pylist() for i in range(3))):
                if policy.kind == "ng" and flagged:
                    chosen.append(path)
                elif policy.kind == "top" and p is not None:
                    item = (float(p), path)
                    if len(top) < policy.top:
                        heapq.heappush(top, item)
                    else:
                        heapq.heappushpop(top, item)
    return chosen if policy.kind == "ng" else [path for _, path in sorted(top, reverse=True)]


def write_overlays(out_dir: str | Path, policy: OverlayPolicy, explainer: Explainer, *, opacity: float = 0.5,
                   colormap: str = "jet") -> int:
    """Write the policy's overlays; returns how many PNGs were written now."""
    written = 0
    classes_all = explainer.bundle.classes
    for path in select_paths(out_dir, policy):
        if len(classes_all) <= 2 and all(overlay_path(out_dir, path, c).exists() for c in classes_all):
            continue           # written by an earlier run (two-class models show every map)
        item = read_input(path)
        if item.image is None:
            continue
        explanation = explainer.explain_one(item.image)
        classes = shown_classes(explanation)
        targets = {c: overlay_path(out_dir, path, explanation.classes[c]) for c in classes}
        if all(t.exists() for t in targets.values()):
            continue
        pictures, _ = explanation.class_overlays(item.image, classes, opacity=opacity, colormap=colormap)
        for c, target in targets.items():
            with atomic_write(target, "wb") as handle:
                handle.write(png_bytes(pictures[c]))
            written += 1
    return written

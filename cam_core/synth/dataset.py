"""Writing synthetic data sets to folders: ``ok/``, ``ng/``, ``masks/`` and ``manifest.csv``."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from PIL import Image

from cam_core.data.dataset import MANIFEST_FILE, MASKS_FOLDER, manifest_columns
from cam_core.progress import Progress, ProgressCallback
from cam_core.synth.conveyor import conveyor_frames
from cam_core.synth.defects import DEFECT_TYPES
from cam_core.synth.render import KINDS, MIN_SIZE, PART_KINDS, check_kind, render_part

__all__ = ["MANIFEST_COLUMNS", "generate_conveyor_dataset", "generate_dataset", "is_synthetic_dataset"]

_NAME_RE = re.compile(r"^(ok|ng)_\d+\.png$")
MAX_SIZE = 4096
MANIFEST_COLUMNS = ("file", "label", "defect_type", "kind", "mask", "mask_area_px")


def is_synthetic_dataset(root: str | Path) -> bool:
    """Whether ``root`` is a folder this module wrote: its manifest starts with :data:`MANIFEST_COLUMNS`'s first four
    (folders written before ``mask`` and ``mask_area_px`` were added count too)."""
    return manifest_columns(root)[:4] == MANIFEST_COLUMNS[:4]


def _written(done: int, total: int) -> Progress:
    """``done`` of ``total`` parts written (stage ``synth``)."""
    return Progress("synth", done, total, f"{done}/{total} parts")


def _write_manifest(out: Path, rows: list[list[str | int]]) -> None:
    with open(out / MANIFEST_FILE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(MANIFEST_COLUMNS))
        writer.writerows(rows)


def _check_arguments(*, count: int, kind: str, size: int, ng_fraction: float, defect: str) -> None:
    check_kind(kind, KINDS)
    if defect != "random" and defect not in DEFECT_TYPES:
        raise ValueError(f"defect must be 'random' or one of {', '.join(DEFECT_TYPES)}; got {defect!r}")
    if count < 0:
        raise ValueError(f"count must be >= 0; got {count}")
    if not 0.0 <= ng_fraction <= 1.0:
        raise ValueError(f"ng_fraction must be within [0, 1]; got {ng_fraction}")
    if not MIN_SIZE <= size <= MAX_SIZE:       # a part is drawn in float arrays of size² pixels: bound it
        raise ValueError(f"size must be {MIN_SIZE} to {MAX_SIZE} px; got {size}")


def generate_dataset(
    out_dir: str | Path,
    *,
    count: int,
    seed: int,
    kind: str = "mixed",
    size: int = 256,
    ng_fraction: float = 0.5,
    defect: str = "random",
    progress: ProgressCallback | None = None,
) -> Path:
    """Write ``count`` samples under ``out_dir`` and return it.

    Layout: ``ok/ok_00012.png``, ``ng/ng_00012.png``, ``masks/ng_00012.png`` (mode L, 0/255) and
    ``manifest.csv`` (``file,label,defect_type,kind,mask,mask_area_px``). Sample ``i`` comes from
    ``default_rng([seed, i])``: its label, kind and pixels do not depend on ``count``. PNGs left over in
    ``ok/``, ``ng/`` and ``masks/`` from an earlier run with this naming are removed first so that the
    folders always match the manifest.
    """
    _check_arguments(count=count, kind=kind, size=size, ng_fraction=ng_fraction, defect=defect)
    out = Path(out_dir)
    dirs = {name: out / name for name in ("ok", "ng", MASKS_FOLDER)}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            if old.is_file() and _NAME_RE.match(old.name):
                old.unlink()
    digits = max(5, len(str(max(count - 1, 0))))
    rows: list[list[str | int]] = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        is_ng = bool(rng.random() < ng_fraction)
        part_kind = PART_KINDS[int(rng.integers(2))] if kind == "mixed" else kind
        s = render_part(rng, kind=part_kind, size=size, defect=defect if is_ng else None)
        name = f"{s.label}_{i:0{digits}d}.png"
        s.image.save(dirs[s.label] / name, compress_level=1)
        if is_ng:
            Image.fromarray(s.mask, "L").save(dirs[MASKS_FOLDER] / name, compress_level=1)
            area = int(np.count_nonzero(s.mask))
            rows.append([f"ng/{name}", "ng", s.defect_type, s.kind, f"masks/{name}", area])
        else:
            rows.append([f"ok/{name}", "ok", "none", s.kind, "", 0])
        if progress is not None:
            progress(_written(i + 1, count))
    _write_manifest(out, rows)
    return out


def generate_conveyor_dataset(out_dir: str | Path, *, count: int, seed: int, frames_per_clip: int = 8,
                              progress: ProgressCallback | None = None) -> Path:
    """``count`` whole conveyor frames as OK/NG images, in :func:`generate_dataset`'s layout.

    A frame is NG when a defect pixel is in view (its mask: those pixels). Clip ``j`` uses seed
    ``[seed, j]`` (``conveyor_frames``), and ``frames_per_clip`` frames are drawn from it at random times, so
    frames show nuts entering, centred and leaving. Teaches a part classifier the conveyor scene, which whole
    video frames show and single-part images do not.
    """
    out = Path(out_dir)
    dirs = {name: out / name for name in ("ok", "ng", MASKS_FOLDER)}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    rows: list[list[str | int]] = []
    digits = max(5, len(str(max(count - 1, 0))))
    done = 0
    clip = 0
    while done < count:
        rng = np.random.default_rng([seed, clip, 7])
        wanted = set(rng.choice(150, size=frames_per_clip, replace=False).tolist())
        for frame, info in conveyor_frames(seed=int(seed * 100003 + clip), n_frames=max(wanted) + 1, masks=True):
            if info["index"] not in wanted or done >= count:
                continue
            mask = info["defect_mask"]
            label = "ng" if mask.any() else "ok"
            name = f"{label}_{done:0{digits}d}.png"
            Image.fromarray(frame).save(dirs[label] / name, compress_level=1)
            if label == "ng":
                Image.fromarray(mask, "L").save(dirs[MASKS_FOLDER] / name, compress_level=1)
                types = sorted({p["defect_type"] for p in info["parts"] if p["label"] == "ng"})
                rows.append([f"ng/{name}", "ng", "+".join(types), "conveyor", f"masks/{name}",
                             int(np.count_nonzero(mask))])
            else:
                rows.append([f"ok/{name}", "ok", "none", "conveyor", "", 0])
            done += 1
            if progress is not None:
                progress(_written(done, count))
        clip += 1
    _write_manifest(out, rows)
    return out

"""One export writer for CSV, JSON and PNG: the CLI's output folders and the app's downloads write the same files.

The rules, in one place:

- Names: every image gets a file stem, ``Path(name).stem`` (``"image"`` when empty), made unique in input order
  by :func:`unique_stem`: the second ``part`` becomes ``part-2``, the third ``part-3``. The app numbers duplicate
  uploads with the same rule (:func:`unique_name`, the extension kept last: ``part.png`` → ``part-2.png``).
- Overlay PNGs: ``<stem>_<class>.png`` (:func:`overlay_file_name`; the class name made file-safe).
- Scores CSV (:data:`SCORE_COLUMNS`): one row per image, ``file, predicted, verdict, probability,
  [defect_probability,] p_<class>…, method, map_size, domain, domain_distance``: the predicted class as the model
  spells it, the verdict (:func:`cam_core.explain.verdict.verdict_of`) upper-cased, the probability of the
  verdict's class, ``p(defect)`` when the model has a defect class, every class's probability (6 decimals), the
  map grid ``h x w`` (``"7x7"``) and the domain check (``known``, ``unlike training data`` — do not trust the
  verdict — or ``unknown``; the distance blank when unknown).
- JSON: one record per image, ``{"file": name, **context, **Explanation.as_record(), "notes": [...]}``
  (:func:`image_record`); a batch document is ``{**context, "images": [records]}`` (:func:`scores_json`).

:class:`ExportBatch` collects the images of one export (names, unique stems, rows); :class:`FolderExport` writes
them to folders (the CLI's ``--out`` and ``--save-maps``); :func:`overlays_zip` packs overlay PNGs into a ZIP
(the app's download). Each output file is written completely or not at all (temporary file + rename).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cam_core.explain.verdict import verdict_of
from cam_core.files import atomic_write

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

__all__ = ["RESULTS_CSV", "SCORE_COLUMNS", "ExportBatch", "FolderExport", "image_record", "overlay_file_name",
           "overlays_zip", "png_bytes", "safe_name", "score_row", "scores_csv", "scores_json", "target_classes",
           "unique_name", "unique_stem"]

RESULTS_CSV = "results.csv"
#: Column order of the scores CSV; ``p_<class>`` stands for one column per class, in model order.
SCORE_COLUMNS = ("file", "predicted", "verdict", "probability", "defect_probability", "p_<class>", "method",
                 "map_size", "domain", "domain_distance")


# --------------------------------------------------------------------------- names


def unique_stem(stem: str, used: set[str]) -> str:
    """``stem``, or ``<stem>-2``, ``<stem>-3``, … when it is already in ``used``; adds the result to ``used``."""
    return _numbered(stem, "", used)


def unique_name(name: str, used: set[str]) -> str:
    """A file name made unique the same way, its extension kept last: ``part.png``, ``part-2.png``, …"""
    path = Path(name)
    return _numbered(path.stem, path.suffix, used) if path.suffix and path.stem else _numbered(name, "", used)


def _numbered(stem: str, suffix: str, used: set[str]) -> str:
    candidate, n = f"{stem}{suffix}", 1
    while candidate in used:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    used.add(candidate)
    return candidate


def safe_name(name: str) -> str:
    """``name`` for a file name: letters, digits, ``-`` and ``_`` kept, everything else ``_``; ≤ 60 characters."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60] or "class"


def overlay_file_name(stem: str, class_name: str) -> str:
    """``<stem>_<class>.png``."""
    return f"{stem}_{safe_name(class_name)}.png"


def target_classes(spec: str, explanation: Explanation) -> list[int]:
    """The classes whose overlay is exported for a ``--target`` spec: ``predicted``, ``all`` or a class name;
    only classes that have a map."""
    if spec == "predicted":
        wanted = [explanation.predicted]
    elif spec == "all":
        wanted = list(range(len(explanation.classes)))
    else:
        wanted = [explanation.classes.index(spec)]
    return [c for c in wanted if explanation.has_map(c)]


# --------------------------------------------------------------------------- rows and records


def score_row(name: str, explanation: Explanation) -> dict[str, str]:
    """One row of the scores CSV (see :data:`SCORE_COLUMNS`)."""
    verdict = verdict_of(explanation)
    row = {"file": name, "predicted": explanation.predicted_class, "verdict": verdict.label,
           "probability": f"{verdict.probability:.6f}"}
    if verdict.positive_probability is not None:
        row["defect_probability"] = f"{verdict.positive_probability:.6f}"
    row.update({f"p_{c}": f"{float(p):.6f}" for c, p in zip(explanation.classes, explanation.probabilities)})
    row["method"] = explanation.method
    row["map_size"] = "x".join(str(v) for v in explanation.map_size)
    row["domain"] = explanation.domain.verdict.value
    distance = explanation.domain.distance
    row["domain_distance"] = "" if distance is None else f"{distance:.6f}"
    return row


def scores_csv(names: Sequence[str], explanations: Sequence[Explanation]) -> str:
    """The scores CSV of a batch; the columns are the union of every row's, in first-seen order."""
    rows = [score_row(name, explanation) for name, explanation in zip(names, explanations)]
    fields = list(dict.fromkeys(key for row in rows for key in row)) or ["file", "predicted", "verdict"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def image_record(name: str, explanation: Explanation, notes: Sequence[str] = (), **context: Any) -> dict[str, Any]:
    """JSON record of one image: ``file``, then ``context`` (e.g. ``model``), :meth:`Explanation.as_record`,
    and ``notes`` when there are any."""
    record: dict[str, Any] = {"file": name, **context, **explanation.as_record()}
    if notes:
        record["notes"] = list(notes)
    return record


def scores_json(names: Sequence[str], explanations: Sequence[Explanation], **context: Any) -> str:
    """JSON document: ``context`` (model, settings…) and one :func:`image_record` per image."""
    records = [image_record(name, explanation) for name, explanation in zip(names, explanations)]
    return json.dumps({**context, "images": records}, indent=2)


def png_bytes(image: Image.Image) -> bytes:
    """Lossless PNG (zlib level 1: fast, a little larger)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


# --------------------------------------------------------------------------- writers


class ExportBatch:
    """The images of one export, in order: their names and explanations, each name given a unique file stem."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.explanations: list[Explanation] = []
        self._used: set[str] = set()

    def add(self, name: str, explanation: Explanation) -> str:
        """Record one image; returns its unique file stem."""
        self.names.append(name)
        self.explanations.append(explanation)
        return unique_stem(Path(name).stem or "image", self._used)

    def scores_csv(self) -> str:
        return scores_csv(self.names, self.explanations)


def overlays_zip(entries: Iterable[tuple[str, Explanation, Mapping[str, Image.Image]]]) -> bytes:
    """ZIP (stored, PNGs are compressed already) of ``<stem>_<class>.png`` for ``(name, explanation,
    {class name: overlay})`` entries, stems made unique as :class:`ExportBatch` does."""
    batch = ExportBatch()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, explanation, overlays in entries:
            stem = batch.add(name, explanation)
            for class_name, picture in overlays.items():
                archive.writestr(overlay_file_name(stem, class_name), png_bytes(picture))
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


class FolderExport:
    """The CLI's outputs: overlay PNGs and ``results.csv`` in ``out_dir``, raw maps ``<stem>.npy`` (float32,
    ``K×H×W`` at the image size, not normalised) in ``maps_dir``; either may be None."""

    def __init__(self, out_dir: Path | None, maps_dir: Path | None, *, target: str = "predicted",
                 opacity: float = 0.5, colormap: str = "jet", value_range: tuple[float, float] | None = None) -> None:
        self.out_dir, self.maps_dir = out_dir, maps_dir
        self.target, self.opacity, self.colormap = target, opacity, colormap
        self.value_range = value_range   # the model's fixed evidence scale (cam_core.explain.scale)
        self.batch = ExportBatch()
        for folder in (out_dir, maps_dir):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, image: Image.Image, explanation: Explanation) -> str:
        """Write the image's overlays (the ``target`` classes, default drawing, each with its colour bar) and maps;
        returns its stem."""
        from cam_core.explain.legend import with_legend
        from cam_core.explain.picture import map_picture
        from cam_core.explain.render import DEFAULT_MODE

        stem = self.batch.add(name, explanation)
        if self.out_dir is not None:
            base = image.convert("RGB")
            picture = map_picture(explanation, base.size, target_classes(self.target, explanation), mode=DEFAULT_MODE,
                                  colormap=self.colormap, value_range=self.value_range)
            for c, overlaid in picture.overlays(base, self.opacity).items():
                _write_atomic(self.out_dir / overlay_file_name(stem, explanation.classes[c]),
                              png_bytes(with_legend(overlaid, picture)))
        if self.maps_dir is not None:
            buffer = io.BytesIO()
            np.save(buffer, explanation.upsampled().astype(np.float32))
            _write_atomic(self.maps_dir / f"{stem}.npy", buffer.getvalue())
        return stem

    def finish(self) -> Path | None:
        """Write ``results.csv`` (when there is an ``out_dir``); returns its path."""
        if self.out_dir is None:
            return None
        path = self.out_dir / RESULTS_CSV
        _write_atomic(path, self.batch.scores_csv().encode("utf-8"))
        return path

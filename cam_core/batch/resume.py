"""Resuming a results folder: which files are done, and whether a rerun may add to it.

A rerun on the same ``--out`` skips every file whose ``(path, file_hash)`` is already in a part (an error row
counts as done: exactly one row per image), so a changed file is explained again under its new hash. The
folder's ``_batch.json`` records the model (name and hash), the method and whether maps are saved; a rerun
with other settings is refused rather than mixing two kinds of rows in one data set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cam_core.batch.decode import file_hash
from cam_core.batch.schema import KEY_COLUMNS
from cam_core.batch.settings import ModelInfo
from cam_core.batch.writer import part_files
from cam_core.errors import InputError
from cam_core.files import atomic_write

__all__ = ["MANIFEST", "check_manifest", "done_keys", "pending", "read_manifest"]

MANIFEST = "_batch.json"   # "_": Parquet readers of the folder skip it
_COMPARED = ("model_hash", "method", "save_maps")


def done_keys(folder: str | Path) -> set[tuple[str, str]]:
    """``(path, file_hash)`` of every row already written (reads only those two columns)."""
    keys: set[tuple[str, str]] = set()
    for part in part_files(folder):
        table = pq.read_table(part, columns=list(KEY_COLUMNS))
        paths, hashes = table.column("path").to_pylist(), table.column("file_hash").to_pylist()
        keys.update((p, h or "") for p, h in zip(paths, hashes))
    return keys


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{path} is unreadable; move it away to start a new results folder") from None
    return value if isinstance(value, dict) else None


def check_manifest(folder: str | Path, info: ModelInfo, save_maps: bool, extra: Mapping[str, Any]) -> None:
    """Write ``_batch.json`` for a new folder; for an existing one, refuse other settings."""
    wanted = {"model": info.name, "model_hash": info.hash, "method": info.method, "save_maps": save_maps, **extra}
    kept = read_manifest(folder)
    if kept is None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with atomic_write(Path(folder) / MANIFEST, "w") as handle:
            handle.write(json.dumps(wanted, indent=2) + "\n")
        return
    differ = [k for k in _COMPARED if kept.get(k) != wanted[k]]
    if differ:
        said = ", ".join(f"{k} {kept.get(k)!r} there, {wanted[k]!r} now" for k in differ)
        raise InputError(f"{folder} holds results made with other settings ({said}); use another --out")


def pending(paths: Sequence[str], done: set[tuple[str, str]], workers: int = 2) -> tuple[list[str], int]:
    """The paths still to explain, and how many were skipped: a path with a row is hashed again (``workers``
    threads) and skipped when its row has the same hash (a file without a readable hash matches ``""``)."""
    if not done:
        return list(paths), 0
    done_paths = {p for p, _ in done}
    again = [p for p in paths if p in done_paths]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        hashes = dict(zip(again, pool.map(file_hash, again)))
    todo = [p for p in paths if p not in hashes or (p, hashes[p] or "") not in done]
    return todo, len(paths) - len(todo)

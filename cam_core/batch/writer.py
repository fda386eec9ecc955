"""Rows to a Parquet data set of numbered part files, each written completely or not at all.

A results folder holds ``part-00000.parquet``, ``part-00001.parquet``, …: every part is written to a hidden
temporary file and renamed into place (:func:`cam_core.files.atomic_path`), so a killed run leaves only
complete parts (plus, at worst, a hidden ``.part-….partial.parquet`` that no reader lists and the next run
removes). A rerun continues the numbering after the highest part present.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cam_core.batch.schema import arrow_schema
from cam_core.files import PARTIAL_MARK, atomic_path

__all__ = ["PART_GLOB", "PartWriter", "part_files", "remove_stale_partials", "rows_table"]

PART_GLOB = "part-*.parquet"
_PART_NAME = re.compile(r"^part-(\d+)\.parquet$")


def part_files(folder: str | Path) -> list[Path]:
    """The complete part files of a results folder, in number order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _PART_NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def remove_stale_partials(folder: str | Path) -> int:
    """Delete temporary part files that a killed run left behind; returns how many."""
    removed = 0
    for tmp in Path(folder).glob(f".part-*{PARTIAL_MARK}.parquet"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def rows_table(rows: Iterable[Mapping[str, Any]], with_maps: bool = False) -> pa.Table:
    """An Arrow table of ``rows`` in the batch schema."""
    schema = arrow_schema(with_maps)
    rows = list(rows)
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema}, schema=schema)


class PartWriter:
    """Buffers rows (or Arrow tables in the batch schema) and writes every ``rows_per_part`` of them as the
    next numbered part (and the rest on :meth:`close`, also when the run stops on an exception)."""

    def __init__(self, folder: str | Path, *, with_maps: bool = False, rows_per_part: int = 2048) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.with_maps = with_maps
        self.rows_per_part = max(1, rows_per_part)
        existing = [_PART_NAME.match(p.name) for p in part_files(self.folder)]
        self.next_number = max((int(m.group(1)) + 1 for m in existing if m), default=0)
        self._tables: list[pa.Table] = []
        self._rows: list[Mapping[str, Any]] = []
        self._buffered = 0
        self.written_rows = 0
        self.written_parts: list[Path] = []

    def add(self, row: Mapping[str, Any]) -> None:
        self._rows.append(row)
        self._grow(1)

    def add_table(self, table: pa.Table) -> None:
        if self._rows:
            self._tables.append(rows_table(self._rows, self.with_maps))
            self._rows = []
        self._tables.append(table.select(arrow_schema(self.with_maps).names).cast(arrow_schema(self.with_maps)))
        self._grow(table.num_rows)

    def _grow(self, count: int) -> None:
        self._buffered += count
        if self._buffered >= self.rows_per_part:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as one part now; returns its path (None when nothing was buffered)."""
        if self._rows:
            self._tables.append(rows_table(self._rows, self.with_maps))
            self._rows = []
        if not self._buffered:
            return None
        table = pa.concat_tables(self._tables)
        path = self.folder / f"part-{self.next_number:05d}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.next_number += 1
        self.written_rows += table.num_rows
        self.written_parts.append(path)
        self._tables, self._buffered = [], 0
        return path

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

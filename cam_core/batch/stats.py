"""Streaming statistics of a results data set: counts, NG rate per hour or per folder, the defect-probability
histogram and the N most likely defective rows. Parts the domain check finds unlike the model's training data are
counted apart everywhere: the NG rates and the histogram are of the parts inside the domain (an untrusted "NG 1.00"
would otherwise read as a sure defect), and each group says how many of its parts were outside.

Memory does not grow with the row count: the data set is read in record batches of the few columns each statistic
needs; only one counter per hour/folder, the histogram's bins and a heap of N rows are kept.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from cam_core.batch.readback import table_rows

__all__ = ["BINS", "BatchStats", "collect_stats"]

BINS = 20                 # defect-probability histogram: [0, 0.05), …, [0.95, 1]
READ_ROWS = 16_384        # rows per record batch
_COLUMNS = ["path", "folder", "modified", "is_defect", "defect_probability", "domain", "error"]
OUTSIDE = "unlike training data"      # cam_core.domain.DomainVerdict.UNLIKE, as the rows store it


@dataclass
class BatchStats:
    """What the report shows about a whole data set."""

    rows: int = 0
    errors: int = 0
    flagged: int = 0                   # called NG among the explained parts inside the model's domain
    outside: int = 0                   # explained parts unlike the model's training data (verdicts not trusted)
    groups: dict[str, list[int]] = field(default_factory=dict)       # key → [inside, flagged, outside] (explained)
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(BINS, dtype=np.int64))   # parts inside only
    worst: list[dict[str, Any]] = field(default_factory=list)         # most likely defective first
    first_error: str | None = None

    @property
    def explained(self) -> int:
        return self.rows - self.errors


def _group_keys(batch: pa.RecordBatch, by: str) -> list[Any]:
    if by == "folder":
        return batch.column("folder").to_pylist()
    hours = pc.strftime(pc.floor_temporal(batch.column("modified"), unit="hour"), format="%Y-%m-%d %H:00 UTC")
    return hours.to_pylist()


def _add_groups(stats: BatchStats, batch: pa.RecordBatch, by: str, ok: np.ndarray, flagged: np.ndarray,
                outside: np.ndarray) -> None:
    keys = np.asarray([k if k is not None else "(unknown)" for k in _group_keys(batch, by)], dtype=object)
    for key in np.unique(keys[ok]) if ok.any() else []:
        members = ok & (keys == key)
        counts = stats.groups.setdefault(str(key), [0, 0, 0])
        counts[0] += int((members & ~outside).sum())
        counts[1] += int((members & flagged).sum())
        counts[2] += int((members & outside).sum())


class _Worst:
    """The ``n`` rows with the highest defect probability (a min-heap; ties keep the earlier row)."""

    def __init__(self, n: int) -> None:
        self.n, self.seq = n, 0
        self.heap: list[tuple[float, int, dict[str, Any]]] = []

    def floor(self) -> float:
        return self.heap[0][0] if len(self.heap) >= self.n else -1.0

    def offer(self, p: float, row: dict[str, Any]) -> None:
        self.seq -= 1
        item = (p, self.seq, row)
        if len(self.heap) < self.n:
            heapq.heappush(self.heap, item)
        elif p > self.heap[0][0]:
            heapq.heapreplace(self.heap, item)

    def rows(self) -> list[dict[str, Any]]:
        return [row for _, _, row in sorted(self.heap, key=lambda t: (-t[0], -t[1]))]


def _batches(dataset: pads.Dataset, columns: list[str]) -> Iterator[pa.RecordBatch]:
    yield from dataset.to_batches(columns=columns, batch_size=READ_ROWS)


def collect_stats(dataset: pads.Dataset, *, by: str = "hour", worst: int = 20) -> BatchStats:
    """One pass over ``dataset`` (see the module docstring); ``worst`` rows come back whole (maps included)."""
    stats, top = BatchStats(), _Worst(max(0, worst))
    for batch in _batches(dataset, _COLUMNS):
        errors = batch.column("error").is_valid().to_numpy(zero_copy_only=False)
        outside = pc.equal(batch.column("domain"), OUTSIDE).fill_null(False).to_numpy(zero_copy_only=False)
        flagged = batch.column("is_defect").fill_null(False).to_numpy(zero_copy_only=False) & ~outside
        p = batch.column("defect_probability").to_numpy(zero_copy_only=False).astype(np.float64)
        ok = ~errors
        stats.rows += batch.num_rows
        stats.errors += int(errors.sum())
        stats.flagged += int((flagged & ok).sum())
        stats.outside += int((outside & ok).sum())
        if stats.first_error is None and errors.any():
            stats.first_error = batch.column("error")[int(np.argmax(errors))].as_py()
        _add_groups(stats, batch, by, ok, flagged, outside)
        valid = ok & np.isfinite(p)
        stats.histogram += np.histogram(p[valid & ~outside], bins=BINS, range=(0.0, 1.0))[0]
        for i in np.flatnonzero(valid & (p > top.floor())) if worst else []:
            top.offer(float(p[i]), {"path": batch.column("path")[int(i)].as_py()})
    stats.worst = _whole_rows(dataset, [r["path"] for r in top.rows()])
    return stats


def _whole_rows(dataset: pads.Dataset, paths: list[str]) -> list[dict[str, Any]]:
    """The full rows (every column) of ``paths``, in that order."""
    if not paths:
        return []
    table = dataset.to_table(filter=pc.field("path").isin(paths))
    by_path = {row["path"]: row for row in table_rows(table)}
    return [by_path[p] for p in paths if p in by_path]

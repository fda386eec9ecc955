"""Browsing results (the app's Batch results page): filter rows by verdict, probability, folder, domain check and
time, and export what is left as CSV. Filters run inside Arrow on the part files (only matching rows are read)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

from cam_core.batch.readback import results_dataset

__all__ = ["ERROR_VERDICT", "TABLE_COLUMNS", "Facets", "RowFilter", "export_columns", "facets", "filtered_rows",
           "row_of", "rows_csv"]

ERROR_VERDICT = "ERROR"          # how error rows are offered in the verdict filter
TABLE_COLUMNS = ("path", "verdict", "domain", "defect_probability", "probability", "folder", "modified",
                 "evidence_max", "hot_share", "error")   # "domain": "unlike training data" = a verdict not to trust


@dataclass(frozen=True)
class Facets:
    """What the filters can choose from."""

    rows: int
    verdicts: tuple[str, ...]
    folders: tuple[str, ...]
    domains: tuple[str, ...]               # the domain checks the rows hold ("known", "unlike training data", …)
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class RowFilter:
    verdicts: tuple[str, ...] = ()        # empty: every verdict; ERROR_VERDICT selects the error rows
    min_probability: float = 0.0          # on defect_probability (rows without one pass when the range is full)
    max_probability: float = 1.0
    folders: tuple[str, ...] = ()         # empty: every folder
    domains: tuple[str, ...] = ()         # empty: every domain check ("known": only parts the model knows)
    start: datetime | None = None         # on the file time
    end: datetime | None = None

    def expression(self) -> pc.Expression | None:
        parts: list[pc.Expression] = []
        if self.verdicts:
            chosen = [v for v in self.verdicts if v != ERROR_VERDICT]
            wanted = pc.field("verdict").isin(pa.array(chosen, pa.string()))
            parts.append(wanted | pc.field("error").is_valid() if ERROR_VERDICT in self.verdicts else wanted)
        if self.min_probability > 0.0 or self.max_probability < 1.0:
            p = pc.field("defect_probability")
            parts.append((p >= self.min_probability) & (p <= self.max_probability))
        if self.folders:
            parts.append(pc.field("folder").isin(pa.array(list(self.folders), pa.string())))
        if self.domains:
            parts.append(pc.field("domain").isin(pa.array(list(self.domains), pa.string())))
        if self.start is not None:
            parts.append(pc.field("modified") >= pa.scalar(self.start, pa.timestamp("ms", tz="UTC")))
        if self.end is not None:
            parts.append(pc.field("modified") <= pa.scalar(self.end, pa.timestamp("ms", tz="UTC")))
        expression = None
        for part in parts:
            expression = part if expression is None else expression & part
        return expression


def facets(results: str | Path) -> Facets:
    dataset = results_dataset(results)
    columns = [c for c in ("verdict", "folder", "modified", "error", "domain") if c in dataset.schema.names]
    table = dataset.to_table(columns=columns)
    verdicts = sorted(v for v in pc.unique(table.column("verdict")).to_pylist() if v)
    if table.column("error").null_count < table.num_rows:
        verdicts.append(ERROR_VERDICT)
    extremes = pc.min_max(table.column("modified")).as_py() if table.num_rows else {"min": None, "max": None}
    domains = (tuple(sorted(d for d in pc.unique(table.column("domain")).to_pylist() if d))
               if "domain" in table.column_names else ())
    return Facets(rows=table.num_rows, verdicts=tuple(verdicts),
                  folders=tuple(sorted(f for f in pc.unique(table.column("folder")).to_pylist() if f)), domains=domains,
                  first=extremes["min"], last=extremes["max"])


def filtered_rows(results: str | Path | pads.Dataset, row_filter: RowFilter = RowFilter(),
                  columns: tuple[str, ...] | None = TABLE_COLUMNS) -> pa.Table:
    """The matching rows, most likely defective first (all columns when ``columns`` is None; of ``columns``, those
    the results hold: results written before a column existed lack it)."""
    dataset = results if isinstance(results, pads.Dataset) else results_dataset(results)
    names = [c for c in columns if c in dataset.schema.names] if columns else None
    table = dataset.to_table(columns=names, filter=row_filter.expression())
    if "defect_probability" in table.column_names:
        table = table.sort_by([("defect_probability", "descending")])
    return table


def row_of(results: str | Path | pads.Dataset, path: str) -> dict[str, object] | None:
    """The whole row (maps included) of ``path``; the last one written when the file was explained twice."""
    from cam_core.batch.readback import table_rows

    dataset = results if isinstance(results, pads.Dataset) else results_dataset(results)
    rows = table_rows(dataset.to_table(filter=pc.field("path") == path))
    return rows[-1] if rows else None


def export_columns(dataset: pads.Dataset) -> tuple[str, ...]:
    """Every column but the maps (for the CSV export)."""
    return tuple(n for n in dataset.schema.names if n != "maps")


def rows_csv(table: pa.Table) -> bytes:
    """CSV of ``table``: list columns joined with ``;``, the maps left out."""
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if name == "maps":
            continue
        if pa.types.is_list(column.type):
            column = pa.array([None if v is None else ";".join(str(x) for x in v) for v in column.to_pylist()],
                              pa.string())
        columns[name] = column
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table(columns), buffer)
    return buffer.getvalue()

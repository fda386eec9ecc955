"""Part files: numbered, each complete or absent; a rerun continues the numbering."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cam_core.batch import writer as writer_module
from cam_core.batch.schema import arrow_schema
from cam_core.batch.writer import PartWriter, part_files, remove_stale_partials


def row(i: int) -> dict[str, object]:
    return {"path": f"/x/{i}.png", "folder": "/x", "file_hash": f"{i:064x}", "error": None if i % 2 else "bad"}


def test_rows_go_to_numbered_parts_in_the_schema(tmp_path: Path) -> None:
    with PartWriter(tmp_path, rows_per_part=3) as writer:
        for i in range(7):
            writer.add(row(i))
    parts = part_files(tmp_path)
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.read_metadata(p).num_rows for p in parts] == [3, 3, 1]
    assert pq.read_schema(parts[0]).remove_metadata() == arrow_schema()
    assert pq.read_table(parts[2]).column("path").to_pylist() == ["/x/6.png"]
    with PartWriter(tmp_path, rows_per_part=3) as writer:
        writer.add(row(7))
    assert part_files(tmp_path)[-1].name == "part-00003.parquet"


def test_a_failed_write_leaves_no_part_and_no_visible_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(table: object, where: object, **kwargs: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(writer_module.pq, "write_table", broken)
    writer = PartWriter(tmp_path)
    writer.add(row(1))
    with pytest.raises(OSError):
        writer.flush()
    assert part_files(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == []


def test_stale_partials_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".part-00004.1a2b3c4d.partial.parquet").write_bytes(b"half")
    (tmp_path / "part-00000.parquet").write_bytes(b"kept")
    assert remove_stale_partials(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000.parquet"]

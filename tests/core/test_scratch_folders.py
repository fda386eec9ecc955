"""cam_core.scratch inside a root: uploads staged once per content, run folders, age-based pruning."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cam_core.scratch import new_run_folder, prune, stage_bytes, subfolder, touch

DAY = 24 * 3600.0


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_stage_bytes_writes_once_per_content_and_keeps_the_name(tmp_path: Path) -> None:
    uploads = subfolder(tmp_path, "uploads")
    path = stage_bytes(b"clip-1", uploads, "d1", "my clip.mp4", DAY)
    assert path == uploads / "d1" / "my clip.mp4" and path.read_bytes() == b"clip-1"
    age(path, 60)
    before = path.stat().st_mtime
    assert stage_bytes(b"ignored: same digest", uploads, "d1", "my clip.mp4", DAY) == path
    assert path.read_bytes() == b"clip-1" and path.stat().st_mtime == before      # not written again
    assert [p.name for p in (uploads / "d1").iterdir()] == ["my clip.mp4"]           # no temporary file left


def test_a_new_upload_prunes_stale_ones_but_not_those_in_use(tmp_path: Path) -> None:
    uploads = subfolder(tmp_path, "uploads")
    stale = stage_bytes(b"old", uploads, "old", "a.mp4", DAY).parent
    used = stage_bytes(b"used", uploads, "used", "b.mp4", DAY).parent
    age(stale, 2 * DAY)
    age(used, 2 * DAY)
    touch(used, tmp_path / "missing")                  # in use again; a missing path is ignored
    stage_bytes(b"new", uploads, "new", "c.mp4", DAY)
    assert sorted(p.name for p in uploads.iterdir()) == ["new", "used"]


def test_run_folders_are_fresh_and_old_ones_go(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = new_run_folder(runs, DAY)
    (first / "explained.mp4").write_bytes(b"x")
    age(first, 2 * DAY)
    loose = runs / "stale.txt"
    loose.write_text("x")
    age(loose, 2 * DAY)
    second = new_run_folder(runs, DAY)
    assert second.is_dir() and not list(second.iterdir()) and second.name.startswith("run-")
    assert not first.exists() and not loose.exists()
    assert prune(runs, DAY) == []                       # the fresh one stays
    assert prune(runs, -1.0) == [second]                # anything older than "now + 1 s" goes

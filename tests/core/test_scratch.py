"""Scratch folders: a killed server's folders are removed by the next one; live ones are kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cam_core.scratch import OWNER_FILE, make_scratch_root, remove_orphans


def test_a_killed_owners_folder_goes_and_a_live_one_stays(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / "cam-inspector-video-old"
    orphan.mkdir()
    (orphan / OWNER_FILE).write_text(str(dead.pid))
    (orphan / "clip.mp4").write_bytes(b"x" * 10)
    alive = tmp_path / "cam-inspector-sets-live"
    alive.mkdir()
    (alive / OWNER_FILE).write_text(str(os.getppid()))
    foreign = tmp_path / "cam-inspector-unknown"
    foreign.mkdir()                                           # no owner file: not ours to judge
    root = make_scratch_root("train", parent=tmp_path)
    assert not orphan.exists() and alive.exists() and foreign.exists()
    assert root.is_dir() and (root / OWNER_FILE).read_text() == str(os.getpid())
    assert remove_orphans(tmp_path) == [] and root.exists()  # our own folder is never an orphan

"""Scratch folders of a server process (unpacked ZIPs, staged videos), cleaned even after a crash.

Each folder is ``<tmp>/cam-inspector-<kind>-<random>`` with an ``owner.pid`` file naming the process that
made it. It is removed when that process exits normally, and, because a killed process (SIGKILL, power
loss) never runs its exit handlers, every new folder first removes the folders whose owner is no longer
running.

Inside such a root, :func:`subfolder`, :func:`prune`, :func:`stage_bytes` and :func:`new_run_folder` keep
uploads staged by content (``uploads/<digest>/<name>``) and one folder per run (``runs/run-*``); entries
not touched for ``max_age_s`` (left by sessions that ended) are deleted when a new one is made, and
:func:`touch` marks one as in use.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from cam_core.files import atomic_write

PREFIX = "cam-inspector-"
OWNER_FILE = "owner.pid"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's live process
        return True
    return True


def remove_orphans(parent: Path | None = None) -> list[Path]:
    """Delete scratch folders whose owner process is gone; returns what was removed."""
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    for folder in parent.glob(f"{PREFIX}*"):
        owner = folder / OWNER_FILE
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue                 # not ours, or being created right now: leave it
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def make_scratch_root(kind: str, parent: Path | None = None) -> Path:
    """A new scratch folder for this process (removed at exit); orphans of killed processes go first."""
    remove_orphans(parent)
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=parent))
    (root / OWNER_FILE).write_text(str(os.getpid()))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def subfolder(root: Path, *parts: str) -> Path:
    """``root/<parts…>``, created if needed (also after a temp cleaner removed it)."""
    folder = Path(root).joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune(folder: Path, max_age_s: float, now: float | None = None) -> list[Path]:
    """Delete the entries of ``folder`` not modified for ``max_age_s`` seconds; returns what was removed."""
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = []
    for entry in Path(folder).iterdir():
        try:
            stale = entry.stat().st_mtime < cutoff
        except OSError:
            continue
        if stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def touch(*paths: Path) -> None:
    """Mark ``paths`` as in use (modification time now), so :func:`prune` keeps them; missing ones are ignored."""
    for path in paths:
        with suppress(OSError):
            os.utime(path)


def stage_bytes(data: bytes, folder: Path, digest: str, name: str, max_age_s: float) -> Path:
    """``folder/<digest>/<name>`` holding ``data``, written once per content (atomically: a temporary file
    renamed into place, so a reader never sees half a file). Stale entries of ``folder`` are pruned before
    a new one is written; the entry is marked in use either way."""
    entry = Path(folder) / digest
    path = entry / name
    if not path.is_file():
        prune(folder, max_age_s)
        with atomic_write(path) as fh:
            fh.write(data)
    os.utime(entry)
    return path


def new_run_folder(folder: Path, max_age_s: float, prefix: str = "run-") -> Path:
    """A fresh, empty ``folder/<prefix>*`` folder, after pruning the entries of ``folder`` older than ``max_age_s``."""
    folder = subfolder(folder)
    prune(folder, max_age_s)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=folder))

"""Scratch folders of a server process (unpacked ZIPs, staged videos), cleaned even after a crash.

Each folder is ``<tmp>/cam-inspector-<kind>-<random>`` with an ``owner.pid`` file naming the process that
made it. It is removed when that process exits normally, and, because a killed process (SIGKILL, power
loss) never runs its exit handlers, every new folder first removes the folders whose owner is no longer
running.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

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

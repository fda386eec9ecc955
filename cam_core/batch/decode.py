"""Reading one batch input: its bytes (bounded before they are read), hash, time and decoded image.

:func:`read_input` never raises for a bad file: it returns a :class:`Decoded` whose ``error`` says what is
wrong (missing, empty, too large, not an image, truncated, …) in the words of
:func:`cam_core.data.imaging.load_image`.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from PIL import Image

from cam_core.data.imaging import MAX_FILE_BYTES, load_image, printable_text
from cam_core.errors import CamInspectorError

__all__ = ["Decoded", "file_hash", "read_input"]


@dataclass(frozen=True)
class Decoded:
    """One input file: what is known about it, and its image or the reason it has none."""

    path: str
    size_bytes: int | None = None
    file_hash: str | None = None
    modified: datetime | None = None
    image: Image.Image | None = None
    error: str | None = None

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)


def file_hash(path: str) -> str | None:
    """SHA-256 of a file's bytes (hex), or None when it cannot be read or is too large to be an input."""
    try:
        return hashlib.sha256(_read_bytes(path)[0]).hexdigest()
    except (OSError, CamInspectorError):
        return None


def _read_bytes(path: str) -> tuple[bytes, os.stat_result]:
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise CamInspectorError(f"'{printable_text(path)}' is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise CamInspectorError(f"'{printable_text(path)}' is {info.st_size / 1024**2:.1f} MB; image files above "
                                f"{MAX_FILE_BYTES // 1024**2} MB are refused")
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise CamInspectorError(f"'{printable_text(path)}' grew beyond {MAX_FILE_BYTES // 1024**2} MB while read")
    return data, info


def read_input(path: str) -> Decoded:
    """Read, hash and decode ``path`` (see the module docstring); never raises for a bad file."""
    try:
        data, info = _read_bytes(path)
    except FileNotFoundError:
        return Decoded(path, error=f"'{printable_text(path)}' does not exist")
    except OSError as exc:
        return Decoded(path, error=f"cannot read '{printable_text(path)}': {exc.strerror or exc}")
    except CamInspectorError as exc:
        return Decoded(path, error=str(exc))
    digest = hashlib.sha256(data).hexdigest()
    modified = datetime.fromtimestamp(info.st_mtime, tz=timezone.utc)
    known = Decoded(path, size_bytes=len(data), file_hash=digest, modified=modified)
    if not data:
        return replace(known, error=f"'{printable_text(path)}' is empty (0 bytes)")
    try:
        return replace(known, image=load_image(data, name=path).image)
    except CamInspectorError as exc:
        return replace(known, error=str(exc))
    except MemoryError:
        return replace(known, error=f"'{printable_text(path)}': out of memory while decoding")

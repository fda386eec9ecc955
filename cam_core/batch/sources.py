"""What a batch reads: a folder (recursive), a glob pattern, or a text file with one path a line.

``list_sources(SOURCE)`` returns the image paths as strings, in a stable order (sorted within a folder or a
glob, the file's order for a list). A text file (``.txt``/``.lst``/``.list``) is read line by line: blank lines
and lines starting with ``#`` are skipped, relative paths are taken from the file's folder, and a listed path
that does not exist still becomes a row (with its error) rather than stopping the run.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from cam_core.data.imaging import IMAGE_EXTENSIONS, is_hidden_name, iter_image_files, printable_text
from cam_core.errors import InputError

__all__ = ["LIST_SUFFIXES", "MAX_LIST_BYTES", "list_sources"]

LIST_SUFFIXES = (".txt", ".lst", ".list")
MAX_LIST_BYTES = 512 * 1024**2        # a list of paths larger than this is refused before it is read
_GLOB_CHARS = frozenset("*?[")


def list_sources(source: str | os.PathLike[str]) -> list[str]:
    """The image paths of ``source`` (folder, glob or list file); ``InputError`` when it names nothing."""
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        found = [str(p) for p in iter_image_files(path)]
    elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        found = _read_list(path)
    elif path.is_file():
        found = [text]
    elif _GLOB_CHARS & set(text):
        found = _expand_glob(text)
    else:
        raise InputError(f"'{printable_text(text)}' does not exist: give a folder, a glob pattern (quoted) or a "
                         "text file with one image path a line")
    if not found:
        raise InputError(f"no image files found in '{printable_text(text)}'")
    return found


def _expand_glob(pattern: str) -> list[str]:
    matches = sorted(glob.glob(pattern, recursive=True))
    return [m for m in matches if os.path.isfile(m) and not is_hidden_name(os.path.basename(m))
            and Path(m).suffix.lower() in IMAGE_EXTENSIONS]


def _read_list(path: Path) -> list[str]:
    if path.stat().st_size > MAX_LIST_BYTES:
        raise InputError(f"'{printable_text(str(path))}' is larger than {MAX_LIST_BYTES // 1024**2} MB; split the "
                         "list of paths")
    base = path.parent
    result: list[str] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            full = entry if os.path.isabs(entry) else str(base / entry)
            if full not in seen:
                seen.add(full)
                result.append(full)
    return result

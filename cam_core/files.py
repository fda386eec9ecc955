"""Atomic file writes, in one place: a file appears complete under its name, or not at all.

Everything is first written to a hidden temporary file beside the target, ``.<stem>.<random>.partial<ext>``
(same folder, so the same filesystem and ``os.replace`` is atomic; hidden, so no listing shows it; the real
extension last, so tools that pick a format from the name, such as FFmpeg, still do), flushed to disk
(``fsync``) and moved over the target with :func:`os.replace`. If writing fails, the temporary file is
removed and an existing target is left exactly as it was; an ``OSError`` about the temporary file (or about
no file: a full disk) is raised naming the target instead (:func:`naming_target`).

- :func:`atomic_write`: a context manager giving an open file to write to;
- :func:`atomic_path`: a context manager giving the temporary *path*, for writers that take a file name
  (safetensors, ``torch.save``, ONNX export, FFmpeg);
- :func:`partial_beside` and :func:`commit_partial`: the two steps, for code that commits several files
  together (a video and its CSV);
- :func:`partial_files` / :func:`remove_partials`: temporary files a killed process left behind.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["PARTIAL_MARK", "sha256_of", "atomic_path", "atomic_write", "commit_partial", "committing", "naming_target",
           "partial_beside", "partial_files", "remove_partials"]

#: Part of every temporary name: ``.<stem>.<random>.partial<ext>``.
PARTIAL_MARK = ".partial"
_STEM_CHARS = 100   # of the target's stem in a temporary name, so it stays within file-name limits


def partial_beside(path: str | os.PathLike[str]) -> Path:
    """Create (exclusively, with the usual permissions) an empty ``.<stem>.<random>.partial<ext>`` beside ``path``.

    The folder is created if needed; ``OSError`` when it cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        candidate = path.with_name(f".{path.stem[:_STEM_CHARS]}.{secrets.token_hex(4)}{PARTIAL_MARK}{path.suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise naming_target(exc, candidate, path) from exc
        os.close(fd)
        return candidate
    raise FileExistsError(f"cannot create a temporary file beside {path}")  # pragma: no cover


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. a platform that cannot open files read-only for fsync
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def naming_target(exc: OSError, tmp: str | os.PathLike[str], target: str | os.PathLike[str]) -> OSError:
    """``exc`` as the error of writing ``target``: the same errno and reason, with ``filename`` the target
    when the error named the temporary file or no file (a full disk), so a message names the file the
    user asked for. Other errors (about another file) are returned unchanged."""
    if exc.filename not in (None, str(tmp), os.fspath(tmp)) or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or str(exc), os.fspath(target))


def commit_partial(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Sync the finished temporary file ``tmp`` to disk and move it onto ``path`` (atomic)."""
    _fsync(Path(tmp))
    os.replace(tmp, path)


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and moved onto ``path``.

    The folder is created if needed. On an exception (also ``KeyboardInterrupt``) the temporary file is
    removed, ``path`` is untouched and the exception propagates.
    """
    target = Path(path)
    with committing(partial_beside(target), target) as tmp:
        yield tmp


@contextmanager
def committing(tmp: Path, target: Path) -> Iterator[Path]:
    """Yield the temporary file ``tmp``; on success it is synced and moved onto ``target``, on any exception it
    is deleted (an ``OSError`` then names ``target``, :func:`naming_target`)."""
    try:
        yield tmp
        commit_partial(tmp, target)
    except OSError as exc:
        _discard(tmp)
        relabelled = naming_target(exc, tmp, target)
        if relabelled is exc:
            raise
        raise relabelled from exc
    except BaseException:
        _discard(tmp)
        raise


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``mode`` ``"wb"`` or ``"w"``); on success it replaces ``path``.

    ``encoding`` defaults to UTF-8 in text mode. On an exception nothing is left behind and an
    existing ``path`` keeps its old content.
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_write writes a whole new file: mode must be 'w' or 'wb', not {mode!r}")
    text = "b" not in mode
    with atomic_path(path) as tmp:
        handle: IO[Any]
        if text:
            handle = open(tmp, mode, encoding=encoding or "utf-8", newline=newline)
        else:
            handle = open(tmp, mode)
        with handle:
            yield handle


def partial_files(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of writes to ``path`` that never finished (a killed process leaves them)."""
    target = Path(path)
    if not target.parent.is_dir():
        return []
    pattern = f".{glob.escape(target.stem[:_STEM_CHARS])}.{'?' * 8}{PARTIAL_MARK}{glob.escape(target.suffix)}"
    return sorted(target.parent.glob(pattern))


def remove_partials(path: str | os.PathLike[str]) -> int:
    """Delete :func:`partial_files` of ``path``; returns how many were removed."""
    removed = 0
    for tmp in partial_files(path):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    return removed


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

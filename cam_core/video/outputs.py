"""Atomic outputs of the video code (:mod:`cam_core.files`), with an unwritable folder as an :class:`InputError`.

A video, its CSV or the sample clip is written to ``.<stem>.<random>.partial<ext>`` beside its target and moved
into place only when complete. On any error, cancellation or Ctrl-C the temporary file is deleted and the
target is left as it was (absent, or the previous file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cam_core.errors import InputError
from cam_core.files import committing, partial_beside


def temp_beside(path: Path) -> Path:
    """An empty, uniquely named ``.<stem>.<random>.partial<ext>`` in ``path``'s folder."""
    try:
        return partial_beside(path)
    except OSError as exc:
        raise InputError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None


def discard(path: Path | None) -> None:
    """Delete ``path`` if it exists (a temporary file that will not be used)."""
    if path is not None:
        with suppress(FileNotFoundError):
            path.unlink()


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on leaving without an exception it replaces ``path``,
    on any exception (``BaseException`` included) it is deleted."""
    with committing(temp_beside(path), path) as tmp:
        yield tmp

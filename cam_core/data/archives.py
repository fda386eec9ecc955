"""Safe ZIP extraction and class-folder discovery for "train on your own OK/NG folders".

Documented limits and policies of :func:`safe_extract_zip`
-----------------------------------------------------------
Every member is checked *before anything is written*; a refused archive leaves ``dest`` as it was.

- at most :data:`MAX_ZIP_MEMBERS` (20 000) entries;
- at most :data:`MAX_ZIP_TOTAL_BYTES` (2 GiB) uncompressed in total, checked on the header sizes
  and again on the bytes actually decompressed (headers can lie); a member yielding more bytes
  than its header declares is refused as damaged/crafted;
- per member, an uncompressed/compressed ratio above :data:`MAX_COMPRESSION_RATIO` (200:1) is
  refused as a zip bomb, for members larger than :data:`RATIO_CHECK_MIN_BYTES` (1 MiB; tiny files
  legitimately compress very well and cannot do harm);
- refused outright: absolute paths (``/x``, ``C:/x``), any ``..`` component (zip-slip), symlink
  entries, encrypted (password-protected) entries, corrupt data (bad CRC, broken deflate stream),
  and anything that is not a ZIP at all;
- ``\\`` in member names is treated as a folder separator (ZIPs made on Windows);
- skipped (reported through ``notes``): ``__MACOSX/``, hidden entries (``.name``), ``Thumbs.db``,
  ``desktop.ini``;
- each path component is passed through :func:`cam_core.data.imaging.sanitize_filename`, so written
  names use only ``[A-Za-z0-9._-]`` (``données`` → ``donnees``); names that collide after
  sanitizing get ``-2``, ``-3``… suffixes; every target is resolved and checked to lie inside
  ``dest``; files are created exclusively (never overwriting, never through a symlink);
- if decompression fails midway, the files and folders created so far are removed again.

:func:`cam_core.data.dataset.find_class_folders` then locates the folder that holds one subfolder per class.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cam_core.data.imaging import (
    is_hidden_name,
    printable_text,
    sanitize_filename,
)
from cam_core.errors import InputError

try:  # zipfile raises these for damaged LZMA / BZIP2 members
    from lzma import LZMAError as _LZMAError
except ImportError:  # pragma: no cover - Python built without lzma
    _LZMAError = OSError  # type: ignore[misc,assignment]

MAX_ZIP_MEMBERS: int = 20_000
MAX_ZIP_TOTAL_BYTES: int = 2 * 1024**3
MAX_COMPRESSION_RATIO: float = 200.0
RATIO_CHECK_MIN_BYTES: int = 1024**2
__all__ = ["MAX_COMPRESSION_RATIO", "MAX_ZIP_MEMBERS", "MAX_ZIP_TOTAL_BYTES", "RATIO_CHECK_MIN_BYTES",
           "safe_extract_zip"]

_CHUNK = 1024 * 1024
_EXAMPLES = 3
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    zlib.error,
    _LZMAError,
)


@dataclass
class _Plan:
    dirs: list[tuple[str, ...]]
    files: list[tuple[zipfile.ZipInfo, tuple[str, ...]]]
    skipped: list[str]


# --------------------------------------------------------------------------- extraction


def safe_extract_zip(
    source: str | os.PathLike[str] | bytes | BinaryIO,
    dest: str | os.PathLike[str],
    *,
    notes: list[str] | None = None,
) -> Path:
    """Extract the ZIP ``source`` (path, bytes or seekable binary stream) into ``dest``.

    Returns the resolved ``dest`` (created if needed). Raises :class:`InputError` for anything
    unsafe or damaged (see the module docstring). Notes on skipped entries are appended to
    ``notes`` when a list is given.
    """
    label = _zip_label(source)
    with _open_zip(source, label) as archive:
        plan = _plan_extraction(archive, label)
        dest_root = _prepare_dest(Path(dest))
        _extract(archive, plan, dest_root, label)
    if notes is not None:
        notes.extend(plan.skipped)
    return dest_root


def _zip_label(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return printable_text(str(source))
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return printable_text(os.path.basename(name) or name)
    return "the uploaded ZIP"


@contextmanager
def _open_zip(source: str | os.PathLike[str] | bytes | BinaryIO, label: str) -> Iterator[zipfile.ZipFile]:
    fileobj = _zip_fileobj(source, label)
    owns_fileobj = isinstance(source, (str, os.PathLike))
    try:
        try:
            archive = zipfile.ZipFile(fileobj)
        except _ZIP_ERRORS as exc:
            raise InputError(_not_zip_message(label, _head(fileobj))) from exc
        with archive:
            yield archive
    finally:
        if owns_fileobj:
            fileobj.close()


def _zip_fileobj(source: str | os.PathLike[str] | bytes | BinaryIO, label: str) -> BinaryIO:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            info = path.stat()
        except FileNotFoundError as exc:
            raise InputError(f"The ZIP '{label}' does not exist. Check the path and try again.") from exc
        except OSError as exc:
            raise InputError(f"Cannot access the ZIP '{label}': {exc.strerror or exc}.") from exc
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"'{label}' is not a ZIP file (it is a folder or a special file).")
        try:
            return open(path, "rb")  # closed by _open_zip
        except OSError as exc:
            raise InputError(f"Cannot read the ZIP '{label}': {exc.strerror or exc}.") from exc
    if hasattr(source, "read"):
        if getattr(source, "seekable", lambda: False)():
            return source
        data = source.read(MAX_ZIP_TOTAL_BYTES + 1)
        if len(data) > MAX_ZIP_TOTAL_BYTES:
            raise InputError(
                f"'{label}' is larger than {MAX_ZIP_TOTAL_BYTES / 1024**3:.0f} GB; split the data."
            )
        return io.BytesIO(data)
    raise TypeError(f"safe_extract_zip: unsupported source type {type(source).__name__}")


def _head(fileobj: BinaryIO) -> bytes:
    try:
        fileobj.seek(0)
        return fileobj.read(8)
    except (OSError, ValueError):
        return b""


def _not_zip_message(label: str, head: bytes) -> str:
    kinds = {
        b"Rar!": "a RAR archive",
        b"7z\xbc\xaf": "a 7-Zip archive",
        b"\x1f\x8b": "a gzip/tar.gz archive",
    }
    for magic, kind in kinds.items():
        if head.startswith(magic):
            return f"'{label}' is {kind}, not a ZIP. Re-pack the folders as a .zip file and try again."
    if not head:
        return f"'{label}' is empty (0 bytes), not a ZIP. Upload the .zip file again."
    return (
        f"'{label}' is not a ZIP archive or is damaged. Create the ZIP again "
        "(e.g. right-click the folder holding ok/ and ng/ → Compress) and upload it again."
    )


def _plan_extraction(archive: zipfile.ZipFile, label: str) -> _Plan:
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise InputError(
            f"'{label}' has {len(members)} entries; at most {MAX_ZIP_MEMBERS} are accepted. "
            "Split the data into several smaller ZIPs or use fewer images."
        )
    plan = _Plan(dirs=[], files=[], skipped=[])
    skipped_names: list[str] = []
    total = 0
    for info in members:
        parts = _member_parts(info, label)
        _check_member_flags(info, label)
        if not parts:
            continue
        if any(is_hidden_name(part) for part in parts):
            skipped_names.append(info.filename)
            continue
        if info.is_dir():
            plan.dirs.append(parts)
            continue
        _check_ratio(info.file_size, info.compress_size, info.filename, label)
        total += info.file_size
        _check_total(total, label)
        plan.files.append((info, parts))
    if skipped_names:
        plan.skipped.append(_skipped_note(skipped_names))
    return plan


def _member_parts(info: zipfile.ZipInfo, label: str) -> tuple[str, ...]:
    """The member's path components; refuses absolute paths and ``..`` (zip-slip)."""
    name = info.filename.replace("\\", "/")
    shown = printable_text(info.filename)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise InputError(
            f"'{label}' contains '{shown}', an absolute path. Such ZIPs are refused for safety; "
            "create the ZIP again from inside the folder that holds your class folders."
        )
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise InputError(
            f"'{label}' contains '{shown}', a path that climbs out of the extraction folder ('..'). "
            "Such ZIPs are refused for safety (zip-slip); create the ZIP again from the data folder."
        )
    return parts


def _check_member_flags(info: zipfile.ZipInfo, label: str) -> None:
    shown = printable_text(info.filename)
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        raise InputError(
            f"'{label}' contains '{shown}', a symbolic link. ZIPs with links are refused for safety; "
            "zip the real files instead (e.g. zip without --symlinks)."
        )
    if info.flag_bits & 0x1:
        raise InputError(
            f"'{label}' is password-protected ('{shown}' is encrypted). Create the ZIP again without a password."
        )


def _check_ratio(size: int, compressed: int, member: str, label: str) -> None:
    if size <= RATIO_CHECK_MIN_BYTES:
        return
    ratio = size / max(compressed, 1)
    if ratio > MAX_COMPRESSION_RATIO:
        raise InputError(
            f"'{label}': the entry '{printable_text(member)}' expands {ratio:.0f}-fold "
            f"({size / 1024**2:.1f} MB from {compressed} bytes), above the limit of "
            f"{MAX_COMPRESSION_RATIO:.0f}:1. It looks like a 'zip bomb' and is refused; real images "
            "do not compress that much."
        )


def _check_total(total: int, label: str) -> None:
    if total > MAX_ZIP_TOTAL_BYTES:
        raise InputError(
            f"'{label}' unpacks to more than {MAX_ZIP_TOTAL_BYTES / 1024**3:.1f} GB, the limit. "
            "Use fewer or smaller images (e.g. JPEG instead of BMP/TIFF), or split the data."
        )


def _skipped_note(names: list[str]) -> str:
    hidden_parts = set()
    for name in names:
        parts = name.replace("\\", "/").split("/")
        hidden_parts.add(printable_text(next((p for p in parts if is_hidden_name(p)), name), 60))
    shown = sorted(hidden_parts)
    examples = ", ".join(shown[:_EXAMPLES]) + (", …" if len(shown) > _EXAMPLES else "")
    return f"skipped {len(names)} hidden or system entr{'y' if len(names) == 1 else 'ies'} ({examples})"


def _prepare_dest(dest: Path) -> Path:
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise InputError(
            f"The extraction folder '{printable_text(str(dest))}' exists and is not a folder."
        ) from exc
    except OSError as exc:
        raise InputError(
            f"Cannot create the extraction folder '{printable_text(str(dest))}': {exc.strerror or exc}."
        ) from exc
    return dest.resolve()


def _extract(archive: zipfile.ZipFile, plan: _Plan, dest_root: Path, label: str) -> None:
    created_files: list[Path] = []
    created_dirs: list[Path] = []
    used: set[str] = set()
    try:
        for parts in plan.dirs:
            _make_dirs(dest_root, _sanitize_parts(parts), created_dirs, label)
        written_total = 0
        for info, parts in plan.files:
            safe = _sanitize_parts(parts)
            folder = _make_dirs(dest_root, safe[:-1], created_dirs, label)
            target = _unique_target(folder, safe[-1], used)
            _check_inside(target, dest_root, info.filename, label)
            written_total = _extract_member(archive, info, target, created_files, written_total, label)
    except InputError:
        _cleanup(created_files, created_dirs)
        raise
    except OSError as exc:
        _cleanup(created_files, created_dirs)
        if exc.errno is None:  # raised by a decompressor, not by the file system
            raise InputError(_damaged_zip_message(label, exc)) from exc
        raise InputError(
            f"Cannot write the contents of '{label}' to '{printable_text(str(dest_root))}': "
            f"{exc.strerror or exc}. Check the free disk space and permissions."
        ) from exc
    except _ZIP_ERRORS as exc:
        _cleanup(created_files, created_dirs)
        raise InputError(_damaged_zip_message(label, exc)) from exc


def _damaged_zip_message(label: str, exc: BaseException) -> str:
    return (
        f"'{label}' is damaged: extracting it failed ({printable_text(str(exc), 120)}). "
        "Create the ZIP again and upload it again."
    )


def _sanitize_parts(parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sanitize_filename(part, default="item") for part in parts)


def _make_dirs(dest_root: Path, parts: tuple[str, ...], created: list[Path], label: str) -> Path:
    current = dest_root
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise InputError(
                f"Cannot extract '{label}': '{current}' in the extraction folder is a symbolic link."
            )
        if not current.exists():
            current.mkdir()
            created.append(current)
        elif not current.is_dir():
            raise InputError(
                f"'{label}' uses '{'/'.join(parts)}' both as a file and as a folder. Create the ZIP again."
            )
    return current


def _unique_target(folder: Path, name: str, used: set[str]) -> Path:
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    candidate, counter = folder / name, 1
    while str(candidate).lower() in used or os.path.lexists(candidate):
        counter += 1
        candidate = folder / (f"{stem}-{counter}{dot}{ext}" if dot else f"{name}-{counter}")
    used.add(str(candidate).lower())
    return candidate


def _check_inside(target: Path, dest_root: Path, member: str, label: str) -> None:
    resolved = target.parent.resolve() / target.name
    if not resolved.is_relative_to(dest_root):
        raise InputError(
            f"'{label}': the entry '{printable_text(member)}' would be written outside the extraction folder; refused."
        )


def _extract_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    created: list[Path],
    written_total: int,
    label: str,
) -> int:
    written = 0
    with archive.open(info) as src, open(target, "xb") as out:
        created.append(target)
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            written_total += len(chunk)
            if written > info.file_size:
                raise InputError(
                    f"'{label}': the entry '{printable_text(info.filename)}' holds more data than its "
                    "header declares; the ZIP is damaged or crafted and is refused."
                )
            _check_ratio(written, info.compress_size, info.filename, label)
            _check_total(written_total, label)
            out.write(chunk)
    return written_total


def _cleanup(files: list[Path], dirs: list[Path]) -> None:
    for file in files:
        try:
            file.unlink(missing_ok=True)
        except OSError:
            pass
    for folder in reversed(dirs):
        try:
            folder.rmdir()
        except OSError:
            pass

"""Tests for cam_core.data.archives: safe ZIP extraction and class-folder discovery.

All ZIPs are generated here with zipfile (no binary files committed).
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cam_core.data import ClassFolderSummary, archives, find_class_folders, safe_extract_zip
from cam_core.errors import InputError


@lru_cache(maxsize=1)
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (0, 128, 255)).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def patch_headers(
    data: bytes, member_index: int, local_offset: int, central_offset: int, fmt: str, value: int
) -> bytes:
    """Overwrite one field of one member in both its local and its central header."""
    out = bytearray(data)
    local = [m.start() for m in re.finditer(re.escape(b"PK\x03\x04"), data)][member_index]
    central = [m.start() for m in re.finditer(re.escape(b"PK\x01\x02"), data)][member_index]
    struct.pack_into(fmt, out, local + local_offset, value)
    struct.pack_into(fmt, out, central + central_offset, value)
    return bytes(out)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "work" / "upload" / "dest"


# --------------------------------------------------------------------------- good archives


def test_nested_top_folder_with_junk(tmp_path: Path, dest: Path) -> None:
    data = make_zip(
        [
            ("mydata/ok/a.png", png_bytes()),
            ("mydata/ok/b.jpg", png_bytes()),
            ("mydata/ng/c.png", png_bytes()),
            ("mydata/ng/readme.txt", b"notes"),
            ("mydata/.DS_Store", b"\x00"),
            ("__MACOSX/mydata/ok/._a.png", b"\x00"),
            ("mydata/", b""),
        ]
    )
    notes: list[str] = []
    root = safe_extract_zip(data, dest, notes=notes)
    assert root == dest.resolve()
    assert all_files(dest) == {
        "mydata/ok/a.png",
        "mydata/ok/b.jpg",
        "mydata/ng/c.png",
        "mydata/ng/readme.txt",
    }
    assert notes and "skipped 2 hidden or system entries" in notes[0] and "__MACOSX" in notes[0]

    summary = find_class_folders(root)
    assert isinstance(summary, ClassFolderSummary)
    assert summary.root == root / "mydata"
    assert summary.classes == ("ng", "ok")
    assert summary.counts == {"ng": 1, "ok": 2}
    assert any("ng: skipped 1 non-image file (readme.txt)" == note for note in summary.skipped)


def test_nested_subfolders_and_masks(dest: Path) -> None:
    data = make_zip(
        [
            ("ok/batch1/a.png", png_bytes()),
            ("ok/batch2/b.png", png_bytes()),
            ("ok/masks/m.png", png_bytes()),
            ("ng/x/y/c.bmp", png_bytes()),
            ("masks/ng/m.png", png_bytes()),
        ]
    )
    summary = find_class_folders(safe_extract_zip(data, dest))
    assert summary.root == dest.resolve()
    assert summary.classes == ("ng", "ok")
    assert summary.counts == {"ng": 1, "ok": 2}
    assert sum("masks" in note for note in summary.skipped) == 2


def test_unicode_and_odd_names_sanitized(dest: Path) -> None:
    data = make_zip(
        [
            ("données/OK pièces/Ünïcode (1).png", png_bytes()),
            ("données/NG/é.png", png_bytes()),
            ("données/NG/e.png", png_bytes()),
            ("données/NG/a\x01b.png", png_bytes()),
            ("données/NG/CON.png", png_bytes()),
            ("données\\NG\\win.png", png_bytes()),
            ("./données/NG/日本語.png", png_bytes()),
        ]
    )
    root = safe_extract_zip(data, dest)
    files = all_files(root)
    assert files == {
        "donnees/OK_pieces/Unicode_1_.png",
        "donnees/NG/e.png",
        "donnees/NG/e-2.png",
        "donnees/NG/a_b.png",
        "donnees/NG/CON_.png",
        "donnees/NG/win.png",
        "donnees/NG/item.png",
    }
    for rel in files:
        assert all(re.fullmatch(r"[A-Za-z0-9._-]+", part) for part in rel.split("/"))
    summary = find_class_folders(root)
    assert summary.classes == ("NG", "OK_pieces") and summary.counts == {"NG": 6, "OK_pieces": 1}


def test_stream_source_and_path_source(tmp_path: Path, dest: Path) -> None:
    data = make_zip([("ok/a.png", png_bytes()), ("ng/b.png", png_bytes())])
    stream = io.BytesIO(data)
    stream.name = "upload.zip"  # type: ignore[attr-defined]
    assert all_files(safe_extract_zip(stream, dest)) == {"ok/a.png", "ng/b.png"}
    path = tmp_path / "data.zip"
    path.write_bytes(data)
    assert all_files(safe_extract_zip(path, tmp_path / "second")) == {"ok/a.png", "ng/b.png"}


# --------------------------------------------------------------------------- refused archives


def assert_refused(tmp_path: Path, dest: Path, data: bytes, *patterns: str) -> str:
    zip_path = tmp_path / "in.zip"
    zip_path.write_bytes(data)
    before = all_files(tmp_path)
    with pytest.raises(InputError) as info:
        safe_extract_zip(zip_path, dest)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message, re.IGNORECASE), message
    assert all_files(tmp_path) == before, "something was written"
    assert not (tmp_path.parent / "evil.png").exists() and not (tmp_path / "evil").exists()
    return message


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.png", "zip-slip"),
        ("a/../../evil", "zip-slip"),
        ("ok/../../../evil.png", "zip-slip"),
        ("..\\evil.png", "zip-slip"),
        ("/abs.png", "absolute path"),
        ("C:/evil.png", "absolute path"),
    ],
)
def test_zip_slip_refused(tmp_path: Path, dest: Path, name: str, why: str) -> None:
    data = make_zip([("ok/fine.png", png_bytes()), (name, png_bytes())])
    assert_refused(tmp_path, dest, data, r"in\.zip", re.escape(name), why)


def test_symlink_entry_refused(tmp_path: Path, dest: Path) -> None:
    link = zipfile.ZipInfo("ok/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = make_zip([("ok/a.png", png_bytes()), (link, b"/etc/passwd")])
    assert_refused(tmp_path, dest, data, "symbolic link", r"ok/link\.png")


def test_symlink_already_in_dest_is_not_followed(tmp_path: Path, dest: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest.mkdir(parents=True)
    (dest / "ok").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        safe_extract_zip(make_zip([("ok/a.png", png_bytes())]), dest)
    assert list(outside.iterdir()) == []


def test_zip_bomb_refused(tmp_path: Path, dest: Path) -> None:
    data = make_zip([("ok/a.png", png_bytes()), ("ok/zeros.bmp", bytes(8 * 1024 * 1024))])
    assert len(data) < 100_000
    assert_refused(tmp_path, dest, data, "zip bomb", r"ok/zeros\.bmp", "200:1")


def test_small_highly_compressible_member_allowed(dest: Path) -> None:
    data = make_zip([("ok/flat.bmp", bytes(100_000)), ("ng/a.png", png_bytes())])
    assert "ok/flat.bmp" in all_files(safe_extract_zip(data, dest))


def test_too_many_members(tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_ZIP_MEMBERS", 5)
    data = make_zip([(f"ok/{i}.png", png_bytes()) for i in range(6)])
    assert_refused(tmp_path, dest, data, "6 entries", "at most 5")


def test_total_size_limit(tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archives, "MAX_ZIP_TOTAL_BYTES", 1_000)
    rng = np.random.default_rng(0)
    data = make_zip([(f"ok/{i}.png", rng.bytes(600)) for i in range(3)])
    assert_refused(tmp_path, dest, data, "unpacks to more than")


def test_header_that_lies_about_size(tmp_path: Path, dest: Path) -> None:
    # The second member claims 1 000 bytes but holds 200 000: extraction must stop, and the
    # first member, already written, must be removed again.
    rng = np.random.default_rng(0)
    honest = make_zip([("ok/a.png", png_bytes()), ("ok/liar.bin", rng.bytes(200_000))])
    data = patch_headers(honest, 1, 22, 24, "<I", 1_000)
    assert_refused(tmp_path, dest, data, "damaged")
    assert not dest.exists() or all_files(dest) == set()


def test_counted_bytes_checked_against_total(
    tmp_path: Path, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Headers pass the planning check, but the bytes counted while extracting exceed the limit.
    data = make_zip([("ok/a.bin", bytes(3_000)), ("ok/b.bin", bytes(3_000))])
    real_check = archives._check_total
    calls: list[int] = []

    def check_after_planning(total: int, label: str) -> None:
        calls.append(total)
        if len(calls) > 2:  # planning made the first two calls
            monkeypatch.setattr(archives, "MAX_ZIP_TOTAL_BYTES", 4_000)
        real_check(total, label)

    monkeypatch.setattr(archives, "_check_total", check_after_planning)
    assert_refused(tmp_path, dest, data, "unpacks to more than")
    assert not dest.exists() or all_files(dest) == set()


def test_encrypted_member_refused(tmp_path: Path, dest: Path) -> None:
    honest = make_zip([("ok/a.png", png_bytes())])
    data = patch_headers(honest, 0, 6, 8, "<H", 0x1)
    assert_refused(tmp_path, dest, data, "password-protected")


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"this is not a zip at all", "not a ZIP archive or is damaged"),
        (b"Rar!\x1a\x07\x00" + bytes(50), "RAR archive"),
        (b"\x1f\x8b\x08" + bytes(50), "gzip"),
        (b"", "empty"),
    ],
)
def test_not_a_zip(tmp_path: Path, dest: Path, data: bytes, pattern: str) -> None:
    assert_refused(tmp_path, dest, data, pattern)
    with pytest.raises(InputError, match=pattern):
        safe_extract_zip(data, dest)


def test_truncated_zip(tmp_path: Path, dest: Path) -> None:
    data = make_zip([("ok/a.png", png_bytes()), ("ng/b.png", png_bytes())])
    assert_refused(tmp_path, dest, data[: len(data) // 2], "not a ZIP archive or is damaged")


def test_missing_or_folder_source(tmp_path: Path, dest: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        safe_extract_zip(tmp_path / "missing.zip", dest)
    with pytest.raises(InputError, match="not a ZIP file"):
        safe_extract_zip(tmp_path, dest)


# --------------------------------------------------------------------------- class folders


def extracted(dest: Path, entries: list[tuple[str, bytes]]) -> Path:
    return safe_extract_zip(make_zip(entries), dest)


def test_single_class(dest: Path) -> None:
    root = extracted(dest, [("ok/a.png", png_bytes()), ("ok/b.png", png_bytes())])
    with pytest.raises(InputError, match=r"only 'ok'.*need at least two class folders such as ok/ and ng/"):
        find_class_folders(root)


def test_single_class_inside_nested_top_folder(tmp_path: Path) -> None:
    root = extracted(tmp_path / "d", [("mydata/ok/a.png", png_bytes())])
    with pytest.raises(InputError, match=r"only 'ok'"):
        find_class_folders(root)


def test_empty_class_folder(dest: Path) -> None:
    root = extracted(dest, [("ok/a.png", png_bytes()), ("ng/", b""), ("ng/notes.txt", b"x")])
    with pytest.raises(InputError, match=r"'ng' \(0\).*too few images"):
        find_class_folders(root)


def test_no_images_at_all(dest: Path) -> None:
    root = extracted(dest, [("ok/", b""), ("ng/", b""), ("readme.md", b"x")])
    with pytest.raises(InputError, match="No image files found"):
        find_class_folders(root)


def test_images_without_class_folders(dest: Path) -> None:
    root = extracted(dest, [("a.png", png_bytes()), ("b.png", png_bytes())])
    with pytest.raises(InputError, match="holds 2 images directly but no class folders"):
        find_class_folders(root)


def test_min_images_per_class_and_missing_root(tmp_path: Path, dest: Path) -> None:
    root = extracted(dest, [("ok/a.png", png_bytes()), ("ok/b.png", png_bytes()), ("ng/c.png", png_bytes())])
    assert find_class_folders(root).counts == {"ng": 1, "ok": 2}
    with pytest.raises(InputError, match=r"'ng' \(1\).*at least 2 images"):
        find_class_folders(root, min_images_per_class=2)
    with pytest.raises(InputError, match="three class folders"):
        find_class_folders(root, min_classes=3)
    with pytest.raises(InputError, match="not a folder"):
        find_class_folders(tmp_path / "missing")


def test_loose_images_beside_class_folders_are_noted(dest: Path) -> None:
    root = extracted(dest, [("ok/a.png", png_bytes()), ("ng/b.png", png_bytes()), ("stray.png", png_bytes())])
    summary = find_class_folders(root)
    assert summary.classes == ("ng", "ok")
    assert any("image outside the class folders (stray.png)" in note for note in summary.skipped)

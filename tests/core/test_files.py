"""Atomic writes (cam_core.files): complete under the name, or not there at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cam_core.files import atomic_path, atomic_write, partial_files, remove_partials


class Boom(Exception):
    pass


def test_atomic_write_binary_and_text(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    with atomic_write(target) as fh:
        fh.write(b"abc")
        assert not target.exists()                 # nothing under the name until the end
        assert partial_files(target) == [Path(fh.name)]
    assert target.read_bytes() == b"abc"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]
    with atomic_write(tmp_path / "t.csv", "w", newline="") as fh:
        fh.write("é,1\r\n")
    assert (tmp_path / "t.csv").read_bytes() == "é,1\r\n".encode()


def test_exception_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(Boom), atomic_write(target, "w") as fh:
        fh.write("{half")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_existing_file_kept_intact_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old complete file")
    for context in (lambda: atomic_write(target), lambda: atomic_path(target)):
        with pytest.raises(Boom), context() as handle:
            if isinstance(handle, Path):
                handle.write_bytes(b"new but broken")
            else:
                handle.write(b"new but broken")
            raise Boom
        assert target.read_bytes() == b"old complete file"
        assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as fh:   # an interrupted run too
        fh.write(b"x")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old complete file" and partial_files(target) == []


def test_atomic_path_replaces_and_keeps_extension_last(tmp_path: Path) -> None:
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.") and tmp.name.endswith(".partial.mp4")
        assert tmp.exists() and tmp.stat().st_size == 0
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and not tmp.exists()


def test_permissions_are_the_usual_ones(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    with atomic_write(tmp_path / "f") as fh:
        fh.write(b"1")
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o666 & ~umask


def test_partials_of_killed_writes_are_found_and_removed(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    left = [tmp_path / ".m.0123abcd.partial.json", tmp_path / ".m.ffffffff.partial.json"]
    others = [tmp_path / ".m.other.0123abcd.partial.json", tmp_path / ".m.0123abcd.partial.safetensors",
              tmp_path / "m.json"]
    for path in left + others:
        path.write_bytes(b"")
    assert partial_files(target) == left
    assert remove_partials(target) == 2
    assert sorted(tmp_path.iterdir()) == sorted(others)


def test_mode_must_write_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "ab"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_long_names_still_get_a_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 240 + ".json")          # 245 characters: a temp name may not just add to it
    with atomic_write(target, "w") as fh:
        fh.write("{}")
        assert len(Path(fh.name).name) < 255 and partial_files(target) == [Path(fh.name)]
    assert target.read_text() == "{}" and partial_files(target) == []


def test_sha256_of_a_file_is_the_digest_of_its_bytes(tmp_path: Path) -> None:
    import hashlib

    from cam_core.files import sha256_of

    data = bytes(range(256)) * 5000            # over one 1 MiB block
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1])
    assert sha256_of(path) != hashlib.sha256(data).hexdigest()


def test_a_failed_write_names_the_target_not_the_temporary_file(tmp_path: Path) -> None:
    """A full disk (no file named) or an error about the temporary file is raised naming the file asked for,
    with its errno kept; an error about another file is left as it was."""
    import errno

    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(OSError) as info:
        with atomic_write(target, "w") as fh:
            fh.write("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_text() == "old" and partial_files(target) == []
    with pytest.raises(PermissionError) as denied:
        with atomic_path(target) as tmp:
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp))
    assert denied.value.filename == str(target)
    with pytest.raises(FileNotFoundError) as other:
        with atomic_path(target):
            open(tmp_path / "elsewhere" / "x")
    assert other.value.filename == str(tmp_path / "elsewhere" / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]

"""Reading one input: a bad file is an error (never an exception), a good one is hashed and decoded."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from batch_helpers import write_bad_files, write_images

from cam_core.batch import decode
from cam_core.batch.decode import file_hash, read_input


def test_good_file_is_decoded_and_hashed(tmp_path: Path) -> None:
    path = write_images(tmp_path, 1)[0]
    item = read_input(str(path))
    assert item.error is None and item.image is not None and item.image.mode == "RGB"
    assert item.file_hash == hashlib.sha256(path.read_bytes()).hexdigest() == file_hash(str(path))
    assert item.size_bytes == path.stat().st_size and item.folder == str(path.parent)
    assert item.modified is not None and item.modified.tzinfo is not None


@pytest.mark.parametrize("kind, words", [("truncated", "truncated|damaged|incomplete"), ("empty", "empty"),
                                         ("text", "text"), ("huge", "pixels|too large|large")])
def test_bad_files_give_one_error_each(tmp_path: Path, kind: str, words: str) -> None:
    good = write_images(tmp_path / "ok", 1)[0]
    bad = write_bad_files(tmp_path / "bad", good)[kind]
    item = read_input(str(bad))
    assert item.image is None and item.error
    assert re.search(words, item.error, flags=re.IGNORECASE), item.error


def test_missing_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "does not exist" in (read_input(str(tmp_path / "gone.png")).error or "")
    path = write_images(tmp_path, 1)[0]
    monkeypatch.setattr(decode, "MAX_FILE_BYTES", 10)
    item = read_input(str(path))
    assert item.image is None and "refused" in (item.error or "") and item.file_hash is None

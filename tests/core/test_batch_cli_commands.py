"""``python -m cam_core batch`` and ``report``: exit codes, one-line errors, the files they write."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import write_bad_files, write_images

from cam_core.cli import main


def test_batch_then_report(tmp_path: Path, squeeze_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_images(tmp_path / "in", 4)
    listing = tmp_path / "todo.txt"
    listing.write_text("\n".join(str(p) for p in good[:3]) + "\n")
    common = ["--model", str(squeeze_checkpoint), "--device", "cpu"]
    assert main(["batch", str(listing), "--out", str(tmp_path / "out"), *common, "--overlays", "ng"]) == 0
    err = capsys.readouterr().err
    assert "batch 3/3 (100%)" in err and "3 explained, 0 failed" in err
    write_bad_files(tmp_path / "in" / "c", good[0])
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *common]) == 1
    assert "1 explained, 4 failed, 3 already done" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "r.html"), "--worst", "2"]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--overlays", "all"]) == 2
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)

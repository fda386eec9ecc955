"""Batch sources: a folder (recursive), a glob, a list file; nothing found is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_helpers import write_images

from cam_core.batch.sources import list_sources
from cam_core.errors import InputError


def test_folder_is_searched_recursively_in_a_stable_order(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "in", 5)
    (tmp_path / "in" / ".hidden.png").write_bytes(b"x")
    found = list_sources(tmp_path / "in")
    assert sorted(found) == sorted(str(p) for p in paths)
    assert found == list_sources(str(tmp_path / "in"))


def test_glob_picks_only_matching_images(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "in", 4)
    (tmp_path / "in" / "a" / "readme.txt").write_text("x")
    found = list_sources(str(tmp_path / "in" / "**" / "*.png"))
    assert found == sorted(str(p) for p in paths)
    assert list_sources(str(tmp_path / "in" / "a" / "*.png")) == sorted(str(p) for p in paths[::2])


def test_list_file_reads_one_path_a_line_relative_to_itself(tmp_path: Path) -> None:
    paths = write_images(tmp_path / "in", 3)
    listing = tmp_path / "in" / "todo.txt"
    listing.write_text(f"# today\n\na/{paths[0].name}\n{paths[1]}\n{paths[1]}\nmissing.png\n")
    found = list_sources(listing)
    assert found == [str(tmp_path / "in" / "a" / paths[0].name), str(paths[1]), str(tmp_path / "in" / "missing.png")]


def test_nothing_found_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        list_sources(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        list_sources(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no image files"):
        list_sources(str(tmp_path / "*.png"))

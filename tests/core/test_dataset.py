"""The data-set layout rules (cam_core.data.dataset) and the three readers that share them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cam_core.data.dataset import (
    MASK_SUFFIXES,
    NOTE_MASKS,
    class_folders,
    find_class_folders,
    find_masks_folder,
    folder_masks,
    is_masks_folder,
    list_images,
    manifest_columns,
    mask_for,
    mask_stems,
    match_masks,
    read_manifest,
    relative_name,
)
from cam_core.errors import InputError
from cam_core.evaluation.evaluate import _class_folders
from cam_core.training import scan_dataset


def _png(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    return path


def _dataset(root: Path, masks_name: str = "masks") -> Path:
    for name in ("a.png", "b.png"):
        _png(root / "ok" / name)
    for name in ("c.png", "d.png", "e.png"):
        _png(root / "ng" / name)
    _png(root / masks_name / "c.png", 255)
    _png(root / masks_name / "d_mask.png", 255)
    return root


# --------------------------------------------------------------------------- masks folder
@pytest.mark.parametrize("name", ["masks", "Masks", "MASKS"])
def test_masks_folder_is_case_insensitive_for_every_reader(tmp_path: Path, name: str) -> None:
    root = _dataset(tmp_path / "data", name)
    assert is_masks_folder(name) and not is_masks_folder("masks2")
    assert find_masks_folder(root) == root / name
    assert [p.name for p in class_folders(root)] == ["ng", "ok"]
    # training: the masks folder is not a class, and the masks are found in it
    index = scan_dataset(root)
    assert index.classes == ("ok", "ng")
    masks = {r.path.name: r.mask.name if r.mask else None for r in index.records}
    assert masks == {"a.png": None, "b.png": None, "c.png": "c.png", "d.png": "d_mask.png", "e.png": None}
    # archives: same classes, a structured flag instead of a note to search
    summary = find_class_folders(root)
    assert summary.classes == ("ng", "ok") and summary.masks_folder == root / name
    assert summary.has_masks and summary.mask_files == 2
    # evaluation: the folder is not taken for a class folder the model lacks
    assert _class_folders(root, ("ok", "ng")) == {"ng": 1, "ok": 0}


def test_no_masks_folder(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _png(root / "ok" / "a.png")
    _png(root / "ng" / "c.png")
    assert find_masks_folder(root) is None
    assert folder_masks(root, [root / "ng" / "c.png"]) == {root / "ng" / "c.png": None}
    summary = find_class_folders(root)
    assert summary.masks_folder is None and not summary.has_masks


def test_masks_inside_a_class_folder_are_not_class_images(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _png(root / "ok" / "a.png")
    _png(root / "ok" / "batch" / "b.png")
    _png(root / "ok" / "Masks" / "a.png")
    assert [p.relative_to(root).as_posix() for p in list_images(root / "ok")] == ["ok/a.png", "ok/batch/b.png"]
    _png(root / "ng" / "c.png")
    assert scan_dataset(root).counts() == {"ok": 2, "ng": 1}
    summary = find_class_folders(root)
    assert summary.counts == {"ng": 1, "ok": 2}
    masks_notes = [n for n in summary.notes if n.kind == NOTE_MASKS]
    assert [n.names for n in masks_notes] == [("Masks",)]
    assert summary.notes_except(NOTE_MASKS) == tuple(n.text for n in summary.notes if n.kind != NOTE_MASKS)
    assert all("masks" not in t.lower() for t in summary.notes_except(NOTE_MASKS))


def test_class_folders_skip_hidden_and_need_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in ("ok", ".cache", "__MACOSX", "ng", "masks"):
        (root / name).mkdir(parents=True)
    assert [p.name for p in class_folders(root)] == ["ng", "ok"]
    with pytest.raises(InputError, match="not found"):
        class_folders(tmp_path / "missing")


# --------------------------------------------------------------------------- mask naming rule
def test_mask_stems_follow_the_suffix_rule() -> None:
    assert MASK_SUFFIXES == ("_mask", "-mask", ".mask", "_gt", "-gt")
    assert mask_stems("part7.png") == ("part7",)
    assert mask_stems("Part7_MASK.png") == ("part7_mask", "part7")
    for suffix in MASK_SUFFIXES:
        assert mask_stems(f"part7{suffix}.png")[-1] == "part7"
    assert mask_stems("_mask.png") == ("_mask",)          # nothing left to match
    assert mask_stems("part7_masked.png") == ("part7_masked",)


def test_mask_for_prefers_an_exact_stem() -> None:
    assert mask_for("part7.jpg", ["part7_mask.png", "part7.png"]) == "part7.png"
    assert mask_for("part7.jpg", ["other.png", "part7-gt.png"]) == "part7-gt.png"
    assert mask_for("PART7.JPG", ["part7.png"]) == "part7.png"
    assert mask_for("part7.jpg", ["part70.png", "part_mask.png"]) is None
    assert mask_for("part7_mask.jpg", ["part7_mask.png", "part7.png"]) == "part7_mask.png"


def test_match_masks_gives_each_image_at_most_one_mask() -> None:
    images = ["part7.jpg", "part8.jpg", "part8_mask.jpg"]
    masks = ["part7_mask.png", "part8_mask.png", "stray.png", "part7.png"]
    match = match_masks(images, masks)
    assert match.masks == {0: 0, 2: 1}           # part8_mask.png goes to the image with its exact stem
    assert match.unmatched == (2,)
    assert match.ignored == ((3, 0),)            # part7 already had a mask


def test_folder_masks_manifest_wins_and_png_first(tmp_path: Path) -> None:
    root = tmp_path / "data"
    images = [_png(root / "ng" / "c.png"), _png(root / "ng" / "d.png"), _png(root / "ng" / "e.png")]
    _png(root / "masks" / "c.jpg")
    _png(root / "masks" / "c.png")
    _png(root / "masks" / "d-gt.png")
    _png(root / "elsewhere" / "e-outline.png")
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "mask"])
        writer.writerow(["ng/e.png", "ng", "elsewhere/e-outline.png"])
        writer.writerow(["ng/d.png", "ng", ""])
    found = folder_masks(root, images)
    assert found == {images[0]: root / "masks" / "c.png", images[1]: root / "masks" / "d-gt.png",
                     images[2]: root / "elsewhere" / "e-outline.png"}


# --------------------------------------------------------------------------- manifest
def test_manifest_read_and_columns(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    assert read_manifest(root) == {} and manifest_columns(root) == ()
    (root / "manifest.csv").write_text("file,label,defect_type,kind\nng\\x.png,ng,scratch,disc\n,ok,,\n",
                                       encoding="utf-8")
    rows = read_manifest(root)
    assert list(rows) == ["ng/x.png"] and rows["ng/x.png"]["defect_type"] == "scratch"
    assert manifest_columns(root) == ("file", "label", "defect_type", "kind")
    (root / "manifest.csv").write_text("name,label\nx.png,ok\n", encoding="utf-8")
    assert read_manifest(root) == {}                      # someone else's table: no rows for us
    (root / "manifest.csv").write_bytes(b"file,mask\n\xff\xfe.png,x\n")
    with pytest.raises(InputError, match="'file' column"):
        read_manifest(root)


def test_relative_name(tmp_path: Path) -> None:
    assert relative_name(tmp_path / "ng" / "x.png", tmp_path) == "ng/x.png"
    assert relative_name(Path("/elsewhere/x.png"), tmp_path) == "/elsewhere/x.png"


def test_folder_masks_searches_subfolders_top_level_first(tmp_path: Path) -> None:
    root = tmp_path / "data"
    images = [_png(root / "ng" / "c.png"), _png(root / "ng" / "d.png")]
    _png(root / "masks" / "ng" / "c.png")
    _png(root / "masks" / "c.png")
    _png(root / "masks" / "ng" / "d_mask.png")
    assert folder_masks(root, images) == {images[0]: root / "masks" / "c.png",
                                          images[1]: root / "masks" / "ng" / "d_mask.png"}

"""What a training run writes into the card about its data (cam_core.training.card): the data kind as a field."""

from __future__ import annotations

import shutil
from pathlib import Path

from cam_core.checkpoints import DataKind
from cam_core.synth import generate_dataset
from cam_core.training.card import data_kind_of, describe_data
from cam_core.training.data import scan_dataset


def test_a_synth_folder_is_synthetic_and_a_copy_without_its_manifest_is_own(tmp_path: Path) -> None:
    synth = tmp_path / "synth"
    generate_dataset(synth, count=8, seed=3, size=64)
    index = scan_dataset(synth)
    assert data_kind_of(index) is DataKind.SYNTHETIC and describe_data(index).startswith("synthetic parts")
    own = tmp_path / "own"
    shutil.copytree(synth, own)
    (own / "manifest.csv").unlink()                 # the same pictures, but not a folder synth wrote
    assert data_kind_of(scan_dataset(own)) is DataKind.OWN and describe_data(scan_dataset(own)).startswith("the images")


def test_a_foreign_manifest_does_not_make_a_folder_synthetic(tmp_path: Path) -> None:
    root = tmp_path / "line"
    generate_dataset(root, count=8, seed=4, size=64)
    (root / "manifest.csv").write_text("file,label,station\nok/a.png,ok,3\n")
    assert data_kind_of(scan_dataset(root)) is DataKind.OWN

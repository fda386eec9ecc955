"""cam_core.evaluation.compare: the Compare page's table without the UI (labelled folder, rows, errors)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_checkpoint
from PIL import Image

from cam_core import Explainer, InputError, load_model
from cam_core.evaluation.compare import SCORE_COLUMNS, compare_networks, labelled_folder, score_row


def labelled(root: Path, per_class: int = 3, size: int = 64) -> Path:
    """ok/ and ng/ images, masks/ with a box per NG image, an ng/masks/ folder and a stray readme."""
    rng = np.random.default_rng(4)
    for folder in ("ok", "ng", "masks", "ng/masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
        for label in ("ok", "ng"):
            pixels = rng.integers(40, 200, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{label}_{i}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[10 + i:30 + i, 20:40] = 255
        Image.fromarray(mask).save(root / "masks" / f"ng_{i}.png")
    (root / "ok" / "readme.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def explainers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Explainer]:
    folder = tmp_path_factory.mktemp("compare-models")
    two = load_model(str(make_checkpoint(folder / "two.safetensors", input_size=64)), device="cpu")
    three = load_model(str(make_checkpoint(folder / "three.safetensors", classes=("good", "scratch", "dent"),
                                           input_size=64)), device="cpu")
    made = {"two": Explainer(two), "three": Explainer(three)}
    yield made
    for explainer in made.values():
        explainer.close()


def test_labelled_folder_counts_masks_and_keeps_only_the_unexpected_notes(tmp_path: Path) -> None:
    found = labelled_folder(labelled(tmp_path / "set"))
    assert found.root == tmp_path / "set"
    assert found.counts == {"ng": 3, "ok": 3} and found.total == 6
    assert found.masks == 3
    assert any("readme.txt" in note for note in found.notes)           # a stray file is still reported
    assert not any("masks" in note for note in found.notes)            # masks folders are expected here


def test_labelled_folder_needs_two_class_folders(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "ok" / "a.png")
    with pytest.raises(InputError, match="class folders"):
        labelled_folder(tmp_path)


def test_score_row_turns_nan_and_missing_localization_into_none() -> None:
    report = SimpleNamespace(map_size=[7, 5], model_ms_per_image=12.345, accuracy=0.75, auroc=float("nan"),
                             overall={"n": 0, "pointing": float("nan"), "pointing_flagged": float("nan"),
                                      "energy_ratio": float("nan")}, classes=["ok", "ng"],
                             confusion=[[3, 1], [0, 4]], flags=[{"code": "few_images", "text": "only 4"}],
                             domain_counts={"unknown": 8}, n_images=8, deletion={})
    row = score_row("net", report)  # type: ignore[arg-type]
    assert tuple(row) == SCORE_COLUMNS
    assert row["grid"] == "7×5" and row["ms/image"] == 12.3 and row["accuracy"] == 0.75
    assert row["AUROC"] is None
    assert row["pointing game"] is None and row["energy in mask ÷ mask share"] is None
    assert row["confusion at threshold"] == "ok→ng 1" and row["flags"] == "only 4"
    assert row["unlike training data"] == "domain unknown"
    assert row["deletion area"] is None and row["deletion, random order"] is None
    localized = SimpleNamespace(**{**vars(report), "overall": {"n": 2, "pointing": 0.5, "pointing_flagged": 1.0,
                                                               "energy_ratio": 2.5},
                                             "deletion": {"n": 3, "auc": 0.2, "random_auc": 0.6}})
    row = score_row("net", localized)  # type: ignore[arg-type]
    assert (row["pointing game"], row["pointing on NG calls"], row["energy in mask ÷ mask share"]) == (0.5, 1.0, 2.5)
    assert (row["deletion area"], row["deletion, random order"]) == (0.2, 0.6)


def test_compare_networks_scores_each_network_and_reports_the_others_errors(
        tmp_path: Path, explainers: dict[str, Explainer]) -> None:
    root = labelled(tmp_path / "set")
    seen: list[tuple[float, str]] = []

    def load(name: str) -> Explainer:
        if name == "broken":
            raise RuntimeError("internal detail")
        return explainers[name]

    result = compare_networks(root, ["two", "three", "broken"], load, limit=4,
                              progress=lambda fraction, text: seen.append((fraction, text)))
    assert [row["network"] for row in result.rows] == ["two"]
    row = result.rows[0]
    h, w = explainers["two"].explain_one(Image.new("RGB", (64, 64))).map_size
    assert row["grid"] == f"{h}×{w}"
    assert 0.0 <= row["accuracy"] <= 1.0 and row["ms/image"] > 0
    assert result.scored == 4 and result.total == 6                   # the cap, classes taken in turn: 2 NG
    assert result.localized == {"two": 2}
    assert 0.0 <= row["pointing game"] <= 1.0 and not math.isnan(row["energy in mask ÷ mask share"])
    assert len(result.errors) == 2
    assert result.errors[0].startswith("three: ")                       # its classes are not the folders
    assert result.errors[1] == "broken: unexpected error (RuntimeError; details logged)."
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(text == "two: 4/4 images" for _, text in seen)

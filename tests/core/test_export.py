"""The one export writer (cam_core.explain.export): names, the scores CSV, JSON records, PNGs, and the CLI and
the app writing the same schema and the same names."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cam_core import Explainer, load_model
from cam_core.checkpoints import defect_class_index
from cam_core.cli import main
from cam_core.explain.export import (
    FolderExport,
    image_record,
    overlay_file_name,
    overlays_zip,
    score_row,
    scores_csv,
    scores_json,
    target_classes,
    unique_name,
    unique_stem,
)
from cam_core.explain.pipeline import Explanation
from cam_core.explain.render import DEFAULT_MODE


def explanation(classes: tuple[str, ...], probabilities: list[float]) -> Explanation:
    p = np.asarray(probabilities, dtype=np.float64)
    maps = np.random.default_rng(0).normal(size=(len(classes), 3, 5)).astype(np.float32)
    return Explanation(classes=classes, defect_index=defect_class_index(classes), probabilities=p, logits=np.log(p), maps=maps,
                       class_indices=tuple(range(len(classes))), image_size=(50, 30), method="cam", layer="f")


def read_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_duplicate_names_are_numbered_dash_n() -> None:
    used: set[str] = set()
    assert [unique_stem(s, used) for s in ("part", "part", "part-2", "part", "img.v1")] == \
        ["part", "part-2", "part-2-2", "part-3", "img.v1"]
    used = set()
    assert [unique_name(n, used) for n in ("part.png", "part.png", "part.png", "noext", "noext")] == \
        ["part.png", "part-2.png", "part-3.png", "noext", "noext-2"]
    assert overlay_file_name("part-2", "n/g ok") == "part-2_n_g_ok.png"


def test_score_rows_hold_the_verdict_and_every_probability() -> None:
    row = score_row("a.png", explanation(("ok", "ng"), [0.25, 0.75]))
    assert list(row) == ["file", "predicted", "verdict", "probability", "defect_probability", "p_ok", "p_ng",
                         "method", "map_size", "domain", "domain_distance"]
    assert (row["predicted"], row["verdict"], row["probability"], row["defect_probability"]) == \
        ("ng", "NG", "0.750000", "0.750000")
    assert (row["p_ok"], row["map_size"], row["method"]) == ("0.250000", "3x5", "cam")
    other = score_row("b.png", explanation(("cat", "dog", "fox"), [0.2, 0.3, 0.5]))
    assert "defect_probability" not in other and other["verdict"] == "FOX" and other["p_dog"] == "0.300000"


def test_scores_csv_and_json() -> None:
    names = ["a.png", "b.png"]
    explanations = [explanation(("ok", "ng"), [0.9, 0.1]), explanation(("ok", "ng"), [0.4, 0.6])]
    header, rows = read_rows(scores_csv(names, explanations))
    assert header[:3] == ["file", "predicted", "verdict"] and [r["file"] for r in rows] == names
    assert all(abs(float(r["p_ok"]) + float(r["p_ng"]) - 1) < 1e-5 for r in rows)
    document = json.loads(scores_json(names, explanations, model="m"))
    assert document["model"] == "m" and [r["file"] for r in document["images"]] == names
    assert document["images"][1]["predicted"] == "ng" and "notes" not in document["images"][0]
    record = image_record("c.png", explanations[0], ["resized"], model="m")
    assert list(record)[:3] == ["file", "model", "classes"] and record["notes"] == ["resized"]


def test_target_classes() -> None:
    e = explanation(("ok", "ng"), [0.3, 0.7])
    assert target_classes("predicted", e) == [1]
    assert target_classes("all", e) == [0, 1]
    assert target_classes("ok", e) == [0]


def test_zip_and_folder_write_the_same_names_and_pixels(tmp_path: Path) -> None:
    e = explanation(("ok", "ng"), [0.3, 0.7])
    image = Image.new("RGB", (50, 30), (90, 120, 150))
    overlays = e.overlays(image)
    data = overlays_zip([("a.png", e, overlays), ("sub/a.jpg", e, overlays)])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        assert names == ["a-2_ng.png", "a-2_ok.png", "a_ng.png", "a_ok.png"]
        np.testing.assert_array_equal(np.asarray(Image.open(archive.open("a_ng.png"))), np.asarray(overlays["ng"]))
    export = FolderExport(tmp_path / "out", tmp_path / "maps", target="all")
    assert [export.add(n, image, e) for n in ("a.png", "sub/a.jpg")] == ["a", "a-2"]
    assert export.finish() == tmp_path / "out" / "results.csv"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*names, "results.csv"])
    assert np.load(tmp_path / "maps" / "a-2.npy").shape == (2, 30, 50)
    assert not [p for p in tmp_path.rglob(".*")]                            # no temporary files left


def test_cli_and_app_write_the_same_schema_and_duplicate_names(tmp_path: Path, squeeze_checkpoint: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Two different images both called part.png: the CLI's --out folder and the app's downloads agree."""
    import app_ui

    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)) for _ in range(2)]
    for folder, image in zip(("a", "b"), images):
        (tmp_path / "in" / folder).mkdir(parents=True)
        image.save(tmp_path / "in" / folder / "part.png")
    out = tmp_path / "out"
    assert main(["explain", str(tmp_path / "in"), "--model", str(squeeze_checkpoint), "--out", str(out),
                 "--target", "all", "--device", "cpu"]) == 0
    capsys.readouterr()
    cli_header, cli_rows = read_rows((out / "results.csv").read_text())
    cli_pngs = sorted(p.name for p in out.glob("*.png"))

    class Upload:
        def __init__(self, image: Image.Image) -> None:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            self.name, self.data = "part.png", buffer.getvalue()

        def getvalue(self) -> bytes:
            return self.data

    items, errors = app_ui.load_uploads([Upload(image) for image in images])
    assert not errors and [item.name for item in items] == ["part.png", "part-2.png"]
    with Explainer(load_model(str(squeeze_checkpoint), device="cpu")) as explainer:
        explanations = explainer.explain([item.image for item in items])
    app_header, app_rows = read_rows(app_ui.scores_csv([i.name for i in items], explanations).decode("utf-8"))
    with zipfile.ZipFile(io.BytesIO(app_ui.overlays_zip(items, explanations, app_ui.ViewSettings()))) as archive:
        app_pngs = sorted(archive.namelist())
    assert app_header == cli_header == ["file", "predicted", "verdict", "probability", "defect_probability",
                                        "p_ok", "p_ng", "method", "map_size", "domain", "domain_distance"]
    assert app_pngs == cli_pngs == ["part-2_ng.png", "part-2_ok.png", "part_ng.png", "part_ok.png"]
    assert [r["verdict"] for r in app_rows] == [r["verdict"] for r in cli_rows]


@pytest.mark.parametrize(("target", "drawn"), [("predicted", 1), ("c7", 1), ("all", 12)])
def test_folder_export_draws_only_the_overlays_it_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         target: str, drawn: int) -> None:
    """A 12-class model: ``predicted`` draws one full-size layer, not twelve, and each written file holds the
    pixels of the every-class default drawing, with its colour bar below."""
    import cam_core.explain.picture as picture

    classes = tuple(f"c{i}" for i in range(12))
    e = explanation(classes, list(np.linspace(1, 2, 12) / np.linspace(1, 2, 12).sum()))
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (30, 50, 3), dtype=np.uint8))
    scale = (-3.0, 3.0)
    every = picture.map_picture(e, image.size, mode=DEFAULT_MODE, colormap="viridis",
                                value_range=scale).overlays(image, 0.6)
    calls = []
    original = picture.heat_layer
    monkeypatch.setattr(picture, "heat_layer", lambda *a, **k: calls.append(1) or original(*a, **k))
    export = FolderExport(tmp_path, None, target=target, opacity=0.6, colormap="viridis", value_range=scale)
    export.add("part.png", image, e)
    assert len(calls) == drawn
    written = sorted(tmp_path.glob("part_*.png"))
    assert len(written) == drawn
    for path in written:
        c = classes.index(path.stem.removeprefix("part_"))
        pixels = np.asarray(Image.open(path).convert("RGB"))
        assert pixels.shape[0] > image.size[1]                       # the colour bar sits below the part
        np.testing.assert_array_equal(pixels[:image.size[1]], np.asarray(every[c].convert("RGB")))

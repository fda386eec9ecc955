"""Metrics (AUROC, confusion, pointing game, energy share, half-max IoU) and `evaluate` on folders."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import make_checkpoint
from PIL import Image, ImageDraw

from cam_core.errors import InputError
from cam_core.evaluation import (
    LOCALIZATION_KEYS,
    auroc,
    balanced_subset,
    binarize_mask,
    confusion,
    decode_mask,
    default_tolerance,
    energy_share,
    evaluate,
    fit_mask,
    format_report,
    half_max_iou,
    load_mask,
    localization_scores,
    pointing_hit,
)
from cam_core.explain.pipeline import Explainer
from cam_core.explain.render import upsample_maps
from cam_core.models import load_model
from cam_core.progress import Progress

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


# --------------------------------------------------------------------------- AUROC / confusion
def _pairwise_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels], scores[~labels]
    greater = (pos[:, None] > neg[None, :]).sum()
    equal = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * equal) / (pos.size * neg.size)


@pytest.mark.parametrize("seed", range(6))
def test_auroc_matches_pairwise_count_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    labels = rng.random(n) < 0.4
    labels[0], labels[1] = True, False
    scores = rng.integers(0, 6, n).astype(float) if seed % 2 else rng.random(n)   # heavy ties on odd seeds
    assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels), abs=1e-12)


def test_auroc_edge_cases() -> None:
    assert auroc([0.1, 0.2, 0.9], [0, 0, 1]) == 1.0
    assert auroc([0.9, 0.8, 0.1], [0, 0, 1]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))
    assert math.isnan(auroc([0.1, 0.2], [0, 0]))
    with pytest.raises(ValueError):
        auroc([0.1, float("nan")], [0, 1])


def test_confusion_rows_are_true_classes() -> None:
    m = confusion([0, 1, 1, 1, 0], [0, 0, 1, 1, 1], 2)
    assert m.tolist() == [[1, 1], [1, 2]]
    assert m.sum() == 5
    with pytest.raises(ValueError):
        confusion([2], [0], 2)


# --------------------------------------------------------------------------- localization metrics
def _square_mask(size: int = 64, box: tuple[int, int, int, int] = (20, 20, 30, 30)) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def _peak_map(size: int, x: int, y: int) -> np.ndarray:
    values = np.zeros((size, size), dtype=np.float32)
    values[y, x] = 1.0
    return values


def test_pointing_inside_outside_and_tolerance() -> None:
    mask = _square_mask()                                          # x, y in 20..29
    assert pointing_hit(_peak_map(64, 25, 25), mask, 0)
    assert not pointing_hit(_peak_map(64, 50, 50), mask, 5)
    assert pointing_hit(_peak_map(64, 33, 25), mask, 4)           # 4 px right of column 29
    assert not pointing_hit(_peak_map(64, 33, 25), mask, 3)
    assert pointing_hit(_peak_map(64, 32, 32), mask, 3 * math.sqrt(2) + 1e-9)   # diagonal distance √18
    assert not pointing_hit(_peak_map(64, 32, 32), mask, 4.2)
    assert not pointing_hit(np.ones((64, 64)), mask, 100)         # constant map: no peak, a miss
    with pytest.raises(ValueError):
        pointing_hit(_peak_map(64, 1, 1), np.zeros((64, 64), bool), 3)


def test_pointing_upsamples_a_coarse_map() -> None:
    coarse = np.zeros((4, 4), dtype=np.float32)
    coarse[1, 1] = 5.0                                             # cell covering x, y ∈ 16..31
    assert pointing_hit(coarse, _square_mask(), 0)
    assert not pointing_hit(coarse, _square_mask(box=(50, 50, 60, 60)), 5)


def test_energy_share_and_mask_share() -> None:
    mask = _square_mask()
    share, area = energy_share(mask.astype(np.float32), mask)
    assert share == pytest.approx(1.0)
    assert area == pytest.approx(100 / 64**2)
    uniform, _ = energy_share(np.ones((8, 8)), mask)               # evidence everywhere → chance level
    assert uniform == pytest.approx(area, rel=1e-5)
    assert energy_share(-np.ones((8, 8)), mask)[0] == 0.0          # no positive evidence
    negative_outside = np.where(mask, 1.0, -3.0)                   # negative values are not energy
    assert energy_share(negative_outside, mask)[0] == pytest.approx(1.0)


def test_half_max_iou() -> None:
    mask = _square_mask()
    assert half_max_iou(mask.astype(np.float32), mask) == pytest.approx(1.0)
    assert half_max_iou(_square_mask(box=(40, 40, 50, 50)).astype(np.float32), mask) == 0.0
    half = np.zeros((64, 64), np.float32)
    half[20:30, 20:25] = 1.0
    half[0:5, 0:5] = 0.4                                           # below half max: ignored
    assert half_max_iou(half, mask) == pytest.approx(0.5)
    assert half_max_iou(-np.ones((4, 4)), mask) == 0.0


def test_default_tolerance_scales_with_image() -> None:
    assert default_tolerance(224, 224) == pytest.approx(15.0)
    assert default_tolerance(512, 256) == pytest.approx(15 * 512 / 224)


def test_localization_scores_is_every_metric_at_once() -> None:
    mask = np.zeros((112, 224), dtype=bool)
    mask[40:60, 100:130] = True
    coarse = np.zeros((7, 7), dtype=np.float32)
    coarse[3, 3] = 4.0
    coarse[0, 6] = -2.0
    scores = localization_scores(coarse, mask)
    up = upsample_maps(coarse, mask.shape)
    tolerance = default_tolerance(224, 112)
    assert scores["tolerance_px"] == pytest.approx(15.0)
    assert scores["pointing"] == pointing_hit(up, mask, tolerance) is True
    assert (scores["energy"], scores["mask_share"]) == pytest.approx(energy_share(up, mask))
    assert scores["energy_ratio"] == pytest.approx(scores["energy"] / scores["mask_share"])
    assert scores["energy_ratio"] > 1                                # the evidence sits on the defect
    assert scores["iou"] == pytest.approx(half_max_iou(up, mask))
    x, y = scores["peak"]
    assert mask[y, x]
    far = localization_scores(coarse, np.roll(mask, 90, axis=1), tolerance_px=3)
    assert far["pointing"] is False and far["tolerance_px"] == 3.0 and far["energy_ratio"] < 1
    flat = localization_scores(np.ones((7, 7)), mask)
    assert flat["pointing"] is False and flat["peak"] is None
    assert flat["energy"] == pytest.approx(flat["mask_share"], rel=1e-5)   # chance level
    with pytest.raises(ValueError, match="empty"):
        localization_scores(coarse, np.zeros_like(mask))


def test_masks_are_binary_at_128_and_fit_their_image(tmp_path: Path) -> None:
    values = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    assert binarize_mask(values).tolist() == [[False, False, True, True]]
    assert binarize_mask(np.array([[0, 1, 1, 0]], dtype=np.uint8)).tolist() == [[False, True, True, False]]
    square = _square_mask(64)
    for name, picture in (("0-255", Image.fromarray((square * 255).astype(np.uint8))),
                          ("1-bit", Image.fromarray((square * 255).astype(np.uint8)).convert("1")),
                          ("0-1", Image.fromarray(square.astype(np.uint8)))):
        picture.save(tmp_path / f"{name}.png")
        assert (decode_mask((tmp_path / f"{name}.png").read_bytes(), "m.png") == square).all(), name
        assert (load_mask(tmp_path / f"{name}.png") == square).all(), name     # files and uploads agree
    rgb = Image.fromarray(np.stack([square * 255] * 3, axis=2).astype(np.uint8))
    buffer = io.BytesIO()
    rgb.save(buffer, "PNG")
    assert (decode_mask(buffer.getvalue()) == square).all()
    with pytest.raises(InputError):
        decode_mask(b"this is not an image", "m.png")
    same, note = fit_mask(square, (64, 64))
    assert same is not None and note is None and (same == square).all()
    bigger, note = fit_mask(square, (128, 96))
    assert bigger.shape == (96, 128) and note == ("mask 64×64 px resized to the image's 128×96 px "
                                                  "(nearest neighbour)")
    assert set(np.unique(bigger)) <= {False, True}
    assert bigger[40, 50] and not bigger[20, 20]                       # (20..29)·(2, 1.5) → x 40..59, y 30..44
    assert bigger.sum() == pytest.approx(square.sum() * 2 * 1.5, rel=0.1)


# --------------------------------------------------------------------------- evaluate on folders
def _dataset(root: Path, n_ok: int = 4, n_ng: int = 6, size: int = 64) -> Path:
    """ok/ and ng/ PNGs, masks/ for every ng (one all-zero), manifest.csv with two defect types."""
    rng = np.random.default_rng(1)
    for d in ("ok", "ng", "masks"):
        (root / d).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_ok):
        Image.fromarray(rng.integers(60, 120, (size, size), dtype=np.uint8)).save(root / "ok" / f"ok_{i}.png")
        rows.append([f"ok/ok_{i}.png", "ok", "none", "", 0])
    for i in range(n_ng):
        image = Image.fromarray(rng.integers(60, 120, (size, size), dtype=np.uint8)).convert("RGB")
        mask = Image.new("L", (size, size), 0)
        if i != 0:                                                 # ng_0 keeps an all-zero mask
            x, y = (int(v) for v in rng.integers(8, size - 16, 2))
            ImageDraw.Draw(mask).rectangle([x, y, x + 8, y + 3 + (i % 2) * 6], fill=255)
            image.paste((240, 240, 240), mask=mask)
        image.save(root / "ng" / f"ng_{i}.png")
        mask.save(root / "masks" / f"ng_{i}.png")
        kind = "scratch" if i % 2 else "pit"
        rows.append([f"ng/ng_{i}.png", "ng", kind, f"masks/ng_{i}.png", int(np.count_nonzero(np.asarray(mask)))])
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "defect_type", "mask", "mask_area_px"])
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def explainer(tmp_path_factory: pytest.TempPathFactory) -> Explainer:
    path = make_checkpoint(tmp_path_factory.mktemp("eval-model") / "m.safetensors", input_size=64)
    with Explainer(load_model(str(path), device="cpu"), "cam") as exp:
        yield exp


def _check_ranges(report) -> None:
    assert 0.0 <= report.accuracy <= 1.0
    assert math.isnan(report.auroc) or 0.0 <= report.auroc <= 1.0
    for summary in [report.overall, *report.per_type.values()]:
        assert set(summary) == set(LOCALIZATION_KEYS)
        if summary["n"]:
            for key in ("pointing", "energy_in_mask", "iou"):
                assert 0.0 <= summary[key] <= 1.0
            assert 0.0 < summary["mask_share"] < 1.0
            assert 0 <= summary["n_flagged"] <= summary["n"]


def test_pointing_on_flagged_parts_counts_only_the_ng_calls() -> None:
    from cam_core.evaluation import localization_summary as _summary

    def row(predicted: str, hit: bool) -> dict:
        return {"label": "ng", "predicted": predicted, "pointing": float(hit), "energy": 0.5, "mask_share": 0.1,
                "iou": 0.2}

    summary = _summary([row("ng", True), row("ng", False), row("ng", True), row("ok", False), row("ok", False)])
    assert summary["pointing"] == pytest.approx(0.4)
    assert summary["n_flagged"] == 3 and summary["pointing_flagged"] == pytest.approx(2 / 3)
    none_flagged = _summary([row("ok", True)])
    assert none_flagged["n_flagged"] == 0 and math.isnan(none_flagged["pointing_flagged"])


def test_evaluate_generated_folder(tmp_path: Path, explainer: Explainer) -> None:
    data = _dataset(tmp_path / "data")
    events: list[Progress] = []
    report = evaluate(data, explainer, progress=events.append)
    assert report.n_images == 10 and report.classes == ["ok", "ng"] and report.positive_class == "ng"
    assert np.asarray(report.confusion).sum() == 10
    assert report.skipped_empty_masks == 1 and report.missing_masks == 0
    assert set(report.per_type) == {"pit", "scratch"}
    assert report.per_type["pit"]["n"] == 2 and report.per_type["scratch"]["n"] == 3
    assert report.overall["n"] == 5
    _check_ranges(report)
    rows = {r["file"]: r for r in report.per_image}
    assert rows["ng/ng_0.png"]["pointing"] is None                 # all-zero mask: not localized
    assert rows["ng/ng_1.png"]["defect_type"] == "scratch" and isinstance(rows["ng/ng_1.png"]["pointing"], bool)
    assert rows["ok/ok_0.png"]["iou"] is None
    assert any("all-zero" in e.text() for e in events if e.stage == "message")
    counts = [(e.done, e.total) for e in events if e.stage == "image"]
    assert counts[-1] == (10, 10) and all(total == 10 for _, total in counts)
    assert [done for done, _ in counts] == sorted(done for done, _ in counts)
    json.dumps(report.to_json(), allow_nan=False)
    text = format_report(report)
    assert "Accuracy" in text and "pit" in text and "scratch" in text and "1 all-zero mask" in text


def test_evaluate_a_folder_of_symlinks_keeps_manifest_types(tmp_path: Path, explainer: Explainer) -> None:
    """A split made of symlinks into the real data (benchmarks/make_real_splits.py) must still find its manifest rows."""
    source = _dataset(tmp_path / "source")
    linked = tmp_path / "linked"
    for sub in ("ok", "ng", "masks"):
        (linked / sub).mkdir(parents=True)
        for file in (source / sub).iterdir():
            (linked / sub / file.name).symlink_to(file)
    (linked / "manifest.csv").write_bytes((source / "manifest.csv").read_bytes())
    report = evaluate(linked, explainer)
    assert set(report.per_type) == {"pit", "scratch"}
    assert {r["file"] for r in report.per_image} == {r["file"] for r in evaluate(source, explainer).per_image}


def test_evaluate_uses_localization_scores_and_reports_the_grid(tmp_path: Path, explainer: Explainer) -> None:
    data = _dataset(tmp_path / "data")
    report = evaluate(data, explainer)
    explanations = {}
    for row in report.per_image:
        if row["pointing"] is None:
            continue
        image = Image.open(data / row["file"]).convert("RGB")
        explanations[row["file"]] = explainer.explain_one(image, targets=[1])
        mask = load_mask(data / "masks" / Path(row["file"]).name)
        scores = localization_scores(explanations[row["file"]].map_of(1), mask)
        assert row["pointing"] == scores["pointing"]
        assert (row["energy"], row["mask_share"], row["iou"]) == pytest.approx(
            (scores["energy"], scores["mask_share"], scores["iou"]), abs=1e-6)
    assert len(explanations) == 5
    assert report.map_size == list(next(iter(explanations.values())).map_size)
    assert report.to_json()["map_size"] == report.map_size


def test_balanced_subset_takes_the_classes_in_turn(tmp_path: Path, explainer: Explainer) -> None:
    data = _dataset(tmp_path / "data", n_ok=2, n_ng=6)
    files, total = balanced_subset(data, ("ok", "ng"), 5)
    assert total == 8
    assert files == ["ng/ng_0.png", "ok/ok_0.png", "ng/ng_1.png", "ok/ok_1.png", "ng/ng_2.png"]
    everything, _ = balanced_subset(data, ("ok", "ng"), 200)
    assert len(everything) == 8 and everything[-2:] == ["ng/ng_4.png", "ng/ng_5.png"]
    assert evaluate(data, explainer, files=files).n_images == 5
    with pytest.raises(InputError, match="do not match"):
        balanced_subset(data, ("good", "bad"), 5)


def test_evaluate_subset_without_manifest_and_fixed_tolerance(tmp_path: Path, explainer: Explainer) -> None:
    data = _dataset(tmp_path / "data")
    (data / "manifest.csv").unlink()
    report = evaluate(data, explainer, files=["ng/ng_1.png", "ng/ng_2.png", "ok/ok_1.png"], tolerance_px=64)
    assert report.n_images == 3
    assert set(report.per_type) == {"all"}
    assert report.overall["pointing"] == 1.0                        # 64 px tolerance covers the whole image
    assert report.tolerance_px == 64
    _check_ranges(report)


def test_evaluate_rejects_folders_that_are_not_model_classes(tmp_path: Path, explainer: Explainer) -> None:
    data = _dataset(tmp_path / "data")
    (data / "ng").rename(data / "defective_parts")
    with pytest.raises(InputError, match="do not match the model's classes"):
        evaluate(data, explainer)
    with pytest.raises(InputError, match="not found"):
        evaluate(tmp_path / "missing", explainer)


@pytest.mark.shared_data
def test_evaluate_on_mpdd_metal_plate_subset(explainer: Explainer) -> None:
    root = SHARED_DATA / "mpdd_metal_plate"
    if not root.is_dir():
        pytest.skip(f"shared data not available: {root.resolve()} is absent")
    files = sorted(p.relative_to(root).as_posix() for p in (root / "ng").glob("*.jpg"))[:6]
    files += sorted(p.relative_to(root).as_posix() for p in (root / "ok").glob("*.jpg"))[:4]
    report = evaluate(root, explainer, files=files)
    assert report.n_images == 10
    assert set(report.per_type) == {"all"}                          # MPDD has no defect types
    assert report.overall["n"] == 6
    _check_ranges(report)
    assert 0 < report.overall["mask_share"] < 0.5
    assert all(r["file"].startswith(("ok/", "ng/")) for r in report.per_image)
    assert "all" in format_report(report)


def test_evaluate_finds_masks_by_the_shared_rule_without_a_manifest(tmp_path: Path, explainer: Explainer) -> None:
    """`Masks/` (any case) is not a class folder, and `<stem>_mask.png` names count, as in training and the app."""
    data = _dataset(tmp_path / "data")
    reference = evaluate(data, explainer)
    (data / "manifest.csv").unlink()
    (data / "masks").rename(data / "Masks")
    for i in (1, 2):
        (data / "Masks" / f"ng_{i}.png").rename(data / "Masks" / f"ng_{i}_mask.png")
    report = evaluate(data, explainer)
    assert report.classes == ["ok", "ng"] and report.n_images == reference.n_images
    assert report.missing_masks == 0 and report.skipped_empty_masks == 1
    assert report.overall["n"] == reference.overall["n"] == 5
    same = {r["file"]: (r["pointing"], r["iou"]) for r in reference.per_image}
    assert {r["file"]: (r["pointing"], r["iou"]) for r in report.per_image} == same


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width × height`` grey pixels but whose data holds almost nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def test_a_mask_declaring_a_huge_size_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(10_000, 8_000))        # 80 Mpx: over our 50, under PIL's own limits
    with pytest.raises(InputError, match="declares 10000×8000 pixels"):
        load_mask(path)
    path.write_bytes(_png_declaring(100_000, 100_000))     # PIL's decompression-bomb error: one line too
    with pytest.raises(InputError, match="mask bomb.png cannot be read"):
        load_mask(path)


def test_evaluate_skips_an_unreadable_mask_and_still_classifies_its_image(tmp_path: Path,
                                                                          explainer: Explainer) -> None:
    data = _dataset(tmp_path / "data")
    (data / "masks" / "ng_0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)        # damaged
    (data / "masks" / "ng_1.png").write_bytes(_png_declaring(100_000, 100_000))          # declares 10 Gpx
    events: list[Progress] = []
    report = evaluate(data, explainer, progress=events.append)
    assert report.n_images == 10                                    # every image classified
    assert sorted(s["file"] for s in report.skipped_files) == ["masks/ng_0.png", "masks/ng_1.png"]
    notes = {row["file"]: row["note"] for row in report.per_image}
    assert notes["ng/ng_0.png"] == notes["ng/ng_1.png"] == "mask unreadable: not localized"
    skipped = [e.message for e in events if e.stage == "message" and e.message.startswith("skipped masks/")]
    assert len(skipped) == 2
    assert "2 unreadable file(s) skipped" in format_report(report)


def test_one_peak_for_the_picture_and_the_pointing_game() -> None:
    from cam_core.evaluation.metrics import map_peak
    from cam_core.explain.render import peak_location

    rng = np.random.default_rng(5)
    for shape in ((7, 7), (13, 13), (10, 20)):
        coarse = rng.normal(size=shape).astype(np.float32)
        size = (224, 160)
        peak = map_peak(coarse, size)
        assert peak == peak_location(coarse, size)
        scores = localization_scores(coarse, np.ones((size[1], size[0]), bool))
        assert scores["peak"] == peak and scores["pointing"]
        # the upsampled map's own maximum lies within a cell of the same point
        from cam_core.explain.render import upsample_maps

        up = upsample_maps(coarse, (size[1], size[0]))
        y, x = np.unravel_index(int(np.argmax(up)), up.shape)
        assert abs(int(x) - peak[0]) <= size[0] / shape[1] and abs(int(y) - peak[1]) <= size[1] / shape[0]
    assert map_peak(np.ones((4, 4)), (8, 8)) is None

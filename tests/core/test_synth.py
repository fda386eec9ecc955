"""Tests for ``cam_core.synth``: determinism, dataset layout, honest masks, no trivial cue, conveyor video."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cam_core.synth import (
    DEFECT_TYPES,
    KINDS,
    SynthSample,
    conveyor_frames,
    generate_dataset,
    render_part,
)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


def _pixels(sample: SynthSample) -> np.ndarray:
    return np.asarray(sample.image, dtype=np.float64)


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def test_public_constants() -> None:
    assert KINDS == ("plate", "nut", "mixed")
    assert DEFECT_TYPES == ("scratch", "crack", "pit", "dent", "stain")


@pytest.mark.parametrize("kind", ["plate", "nut", "mixed"])
@pytest.mark.parametrize("defect", [None, "random"])
def test_render_part_is_deterministic(kind: str, defect: str | None) -> None:
    a = render_part(_rng(1, 2), kind=kind, size=96, defect=defect)
    b = render_part(_rng(1, 2), kind=kind, size=96, defect=defect)
    c = render_part(_rng(1, 3), kind=kind, size=96, defect=defect)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes()
    assert (a.label, a.defect_type, a.kind) == (b.label, b.defect_type, b.kind)
    assert a.image.tobytes() != c.image.tobytes()


def test_sample_format() -> None:
    ok = render_part(_rng(5), kind="nut", size=80)
    assert ok.image.mode == "RGB" and ok.image.size == (80, 80)
    assert ok.mask.dtype == np.uint8 and ok.mask.shape == (80, 80)
    assert not ok.mask.any()
    assert (ok.label, ok.defect_type, ok.kind) == ("ok", "none", "nut")
    assert ok.part_mask is not None and set(np.unique(ok.part_mask)) <= {0, 255}

    ng = render_part(_rng(5), kind="plate", size=80, defect="random")
    assert ng.label == "ng" and ng.defect_type in DEFECT_TYPES and ng.kind == "plate"
    assert set(np.unique(ng.mask)) == {0, 255}

    mixed = {render_part(_rng(6, i), kind="mixed", size=48).kind for i in range(12)}
    assert mixed == {"plate", "nut"}


@pytest.mark.parametrize(
    ("kind", "size", "seed", "defect"),
    [(k, s, sd, d) for k in ("plate", "nut") for s, sd in ((128, 21), (256, 22)) for d in DEFECT_TYPES],
)
def test_mask_is_exactly_where_the_defect_is(kind: str, size: int, seed: int, defect: str) -> None:
    # Same generator state with and without the defect: same part, same noise, only the defect differs.
    ok = render_part(_rng(seed, len(defect)), kind=kind, size=size)
    ng = render_part(_rng(seed, len(defect)), kind=kind, size=size, defect=defect)
    mask = ng.mask > 0
    area = int(mask.sum())
    assert ng.defect_type == defect
    assert 0.001 * size * size <= area <= 0.08 * size * size
    assert ng.part_mask is not None and ok.part_mask is not None
    assert np.array_equal(ng.part_mask, ok.part_mask)
    assert not (mask & (ng.part_mask == 0)).any(), "defect mask leaves the part"

    diff = np.abs(_pixels(ng) - _pixels(ok)).max(axis=2)
    near = _dilate(mask, 3)  # the camera blur spreads an edge by a pixel or two
    assert diff[mask].max() >= 20, "defect is not visible"
    assert np.median(diff[mask]) >= 4
    assert not ((diff >= 0.5 * diff.max()) & ~near).any(), "strong change outside the mask"
    assert diff[near].sum() >= 0.8 * diff.sum()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        render_part(_rng(0), kind="bolt")
    with pytest.raises(ValueError):
        render_part(_rng(0), defect="hole")
    with pytest.raises(ValueError):
        render_part(_rng(0), size=8)
    with pytest.raises(ValueError):
        generate_dataset("unused", count=1, seed=0, ng_fraction=1.5)
    with pytest.raises(ValueError, match="defect"):
        generate_dataset("unused", count=1, seed=0, defect="hole")


def _read_manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "manifest.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["file", "label", "defect_type", "kind", "mask", "mask_area_px"]
        return list(reader)


def test_generate_dataset_layout_and_manifest(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    root = generate_dataset(
        tmp_path / "ds", count=14, seed=3, size=64, progress=lambda p: calls.append((p.done, p.total))
    )
    assert root == tmp_path / "ds"
    assert calls == [(i, 14) for i in range(1, 15)]
    rows = _read_manifest(root)
    assert len(rows) == 14
    assert {r["label"] for r in rows} == {"ok", "ng"}
    assert {r["kind"] for r in rows} <= {"plate", "nut"}
    listed = {r["file"] for r in rows} | {r["mask"] for r in rows if r["mask"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*.png")}
    assert listed == on_disk
    for r in rows:
        image = Image.open(root / r["file"])
        assert image.mode == "RGB" and image.size == (64, 64)
        if r["label"] == "ok":
            assert r["file"].startswith("ok/ok_") and r["mask"] == "" and r["mask_area_px"] == "0"
            assert r["defect_type"] == "none"
        else:
            name = r["file"].removeprefix("ng/")
            assert r["file"].startswith("ng/ng_") and r["mask"] == f"masks/{name}"
            assert r["defect_type"] in DEFECT_TYPES
            mask = Image.open(root / r["mask"])
            assert mask.mode == "L" and mask.size == image.size
            m = np.asarray(mask)
            assert set(np.unique(m)) == {0, 255}
            assert int(r["mask_area_px"]) == int(np.count_nonzero(m)) > 0


def test_generate_dataset_is_deterministic_and_independent_of_count(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", count=8, seed=11, kind="nut", size=48, ng_fraction=0.5)
    b = generate_dataset(tmp_path / "b", count=5, seed=11, kind="nut", size=48, ng_fraction=0.5)
    rows_a, rows_b = _read_manifest(a), _read_manifest(b)
    assert rows_a[:5] == rows_b
    assert all(r["kind"] == "nut" for r in rows_a)
    for r in rows_b:
        assert (a / r["file"]).read_bytes() == (b / r["file"]).read_bytes()
    # re-running into a used folder leaves no stale images behind
    generate_dataset(a, count=3, seed=12, kind="plate", size=48)
    assert len(list(a.rglob("*_*.png"))) == 3 + sum(r["label"] == "ng" for r in _read_manifest(a))
    # all-OK and all-NG datasets
    for fraction, label in ((0.0, "ok"), (1.0, "ng")):
        root = generate_dataset(tmp_path / label, count=4, seed=1, size=48, ng_fraction=fraction)
        assert {r["label"] for r in _read_manifest(root)} == {label}


@pytest.mark.parametrize("defect", ["stain", "dent"])
def test_generate_dataset_can_draw_one_defect_type(tmp_path: Path, defect: str) -> None:
    rows = _read_manifest(generate_dataset(tmp_path, count=10, seed=4, kind="nut", size=64, defect=defect))
    assert {r["label"] for r in rows} == {"ok", "ng"}       # OK parts stay: a model must still tell them apart
    assert {r["defect_type"] for r in rows if r["label"] == "ng"} == {defect}
    assert all(int(r["mask_area_px"]) > 0 for r in rows if r["label"] == "ng")


def test_synth_command_refuses_a_defect_type_for_conveyor_frames(tmp_path: Path, capsys) -> None:
    from cam_core.cli import main

    assert main(["synth", str(tmp_path / "frames"), "--count", "2", "--kind", "conveyor", "--defect", "pit"]) == 2
    assert "--defect" in capsys.readouterr().err
    assert not (tmp_path / "frames").exists()


def _threshold_accuracy(feature: np.ndarray, labels: np.ndarray) -> float:
    """Best 1-D threshold (either polarity) on the first half, evaluated on the second half."""
    half = len(feature) // 2
    f_train, y_train = feature[:half], labels[:half]
    best = (-1.0, 0.0, 1.0)
    for thr in np.unique(f_train):
        for sign in (1.0, -1.0):
            acc = float(np.mean((sign * (f_train - thr) > 0) == y_train))
            if acc > best[0]:
                best = (acc, thr, sign)
    _, thr, sign = best
    return float(np.mean((sign * (feature[half:] - thr) > 0) == labels[half:]))


@pytest.mark.parametrize(("size", "count"), [(128, 200), (256, 80)])
def test_no_trivial_global_cue(size: int, count: int) -> None:
    means, stds, labels = [], [], []
    for i in range(count):
        rng = _rng(2024, size, i)
        ng = i % 2 == 1
        pixels = _pixels(render_part(rng, kind="mixed", size=size, defect="random" if ng else None))
        means.append(pixels.mean())
        stds.append(pixels.std())
        labels.append(ng)
    y = np.array(labels)
    assert _threshold_accuracy(np.array(means), y) < 0.65
    assert _threshold_accuracy(np.array(stds), y) < 0.65


def test_conveyor_frames() -> None:
    start = time.perf_counter()
    frames = list(conveyor_frames(seed=4, n_frames=150))
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"150 frames took {elapsed:.1f} s"
    assert len(frames) == 150
    for i, (frame, info) in enumerate(frames):
        assert frame.shape == (270, 480, 3) and frame.dtype == np.uint8
        assert info["index"] == i
    seen = {(p["id"], p["label"]) for _, info in frames for p in info["parts"]}
    assert {label for _, label in seen} == {"ok", "ng"}
    assert all((label == "ng") == ((pid + 1) % 3 == 0) for pid, label in seen)
    for _, info in frames[:5]:
        for p in info["parts"]:
            assert set(p) >= {"x", "y", "label"}

    again = list(conveyor_frames(seed=4, n_frames=3, width=160, height=120, parts=2, ng_every=2))
    again2 = list(conveyor_frames(seed=4, n_frames=3, width=160, height=120, parts=2, ng_every=2))
    other = list(conveyor_frames(seed=5, n_frames=3, width=160, height=120, parts=2, ng_every=2))
    assert all(f.shape == (120, 160, 3) for f, _ in again)
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(again, again2))
    assert not np.array_equal(again[0][0], other[0][0])


def test_conveyor_frames_can_report_the_defect_pixels_in_view() -> None:
    from cam_core.synth import conveyor_frames

    seen_ng = seen_ok = False
    for frame, info in conveyor_frames(seed=0, n_frames=60, masks=True):
        mask = info["defect_mask"]
        assert mask.shape == frame.shape[:2] and mask.dtype == np.uint8
        ng_in_view = any(p["label"] == "ng" and p["bbox"][0] < p["bbox"][2] for p in info["parts"])
        if mask.any():
            seen_ng = True
            assert ng_in_view            # defect pixels only where an NG nut is in view
        elif not ng_in_view:
            seen_ok = True
    assert seen_ng and seen_ok


def test_conveyor_dataset_layout_and_labels(tmp_path) -> None:
    import csv

    from cam_core.synth import generate_conveyor_dataset

    out = generate_conveyor_dataset(tmp_path / "c", count=12, seed=3, frames_per_clip=6)
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(rows) == 12 and {r["kind"] for r in rows} == {"conveyor"}
    for row in rows:
        assert (out / row["file"]).is_file()
        if row["label"] == "ng":
            mask = np.asarray(Image.open(out / row["mask"]))
            assert mask.any() and int(row["mask_area_px"]) == int(np.count_nonzero(mask))

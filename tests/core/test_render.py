"""Normalisation modes, colour maps, overlays and peaks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cam_core.explain.render import (
    colorize,
    draw_mask_outline,
    mask_outline,
    normalize_maps,
    overlay,
    peak_location,
    upsample_maps,
)


def test_shared_scale_keeps_a_weak_map_cold_while_per_map_stretches_it() -> None:
    strong = np.linspace(0, 10, 16, dtype=np.float32).reshape(4, 4)
    weak = np.full((4, 4), 0.5, dtype=np.float32)
    weak[0, 0] = 1.0
    maps = np.stack([strong, weak])
    shared, (lo, hi) = normalize_maps(maps, "shared")
    per_map, _ = normalize_maps(maps, "per-map")
    assert (lo, hi) == (0.0, 10.0)
    assert shared[1].max() == pytest.approx(0.1)   # cold on the shared scale
    assert per_map[1].max() == pytest.approx(1.0)  # per-map makes it look as hot as the strong one
    raw, used = normalize_maps(maps, "raw", value_range=(0.0, 5.0))
    assert used == (0.0, 5.0) and raw.max() == 1.0 and raw[1, 0, 0] == pytest.approx(0.2)
    with pytest.raises(ValueError):
        normalize_maps(maps, "raw")


def test_constant_and_nan_maps_do_not_produce_nan() -> None:
    maps = np.zeros((2, 3, 3), dtype=np.float32)
    for mode in ("shared", "per-map"):
        scaled, _ = normalize_maps(maps, mode)
        assert np.isfinite(scaled).all()
    maps[0, 0, 0] = np.nan
    assert np.isfinite(normalize_maps(maps, "raw", (0, 1))[0]).all()


def test_overlay_blends_with_opacity() -> None:
    image = Image.new("RGB", (40, 30), (100, 100, 100))
    values = np.ones((3, 3), dtype=np.float32)
    hot = colorize(np.ones((1, 1)), "jet")[0, 0].astype(int)
    none = np.asarray(overlay(image, values, opacity=0.0))
    full = np.asarray(overlay(image, values, opacity=1.0))
    half = np.asarray(overlay(image, values, opacity=0.5)).astype(int)
    assert (none == 100).all() and (full == hot).all()
    assert np.abs(half - (100 + hot) / 2).max() <= 1
    assert overlay(image, values).size == (40, 30)


def test_upsample_and_peak_are_in_image_pixels() -> None:
    grid = np.zeros((7, 7), dtype=np.float32)
    grid[1, 5] = 1.0
    x, y = peak_location(grid, (700, 350))
    assert (x, y) == (550, 75)
    up = upsample_maps(grid, (350, 700))
    assert up.shape == (350, 700)
    row, col = np.unravel_index(np.argmax(up), up.shape)
    assert abs(col - x) <= 50 and abs(row - y) <= 25
    assert colorize(np.zeros((2, 2)), "viridis").shape == (2, 2, 3)
    with pytest.raises(ValueError):
        colorize(np.zeros((2, 2)), "rainbow-unicorn")


def test_fast_overlay_matches_the_float_formula() -> None:
    """``overlay`` (8-bit PIL path) against ``(1-α)·image + α·colorize(upsample(map))`` in float."""
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    values = rng.random((7, 7)).astype(np.float32)
    heat = colorize(upsample_maps(values, (90, 160)), "turbo").astype(np.float32)
    for alpha in (0.25, 0.5, 1.0):
        reference = np.floor(np.clip((1 - alpha) * array + alpha * heat + 0.5, 0, 255))
        for source in (Image.fromarray(array), array):
            out = np.asarray(overlay(source, values, opacity=alpha, colormap="turbo")).astype(np.float32)
            diff = np.abs(out - reference)
            assert out.shape == (90, 160, 3)
            assert (diff <= 1).mean() > 0.999 and diff.max() <= 6, (alpha, diff.max())
    grey = overlay(np.full((10, 12), 50, dtype=np.uint8), np.full((3, 3), np.nan, dtype=np.float32), 1.0, "gray")
    assert grey.mode == "RGB" and (np.asarray(grey) == 0).all()  # NaN → 0 → black in "gray"
    with pytest.raises(ValueError):
        overlay(Image.new("RGB", (4, 4)), values, 0.0, "rainbow-unicorn")


def _neighbours(mask: np.ndarray, radius: int = 1) -> np.ndarray:
    """Pixels within chessboard distance ``radius`` of a mask pixel (mask included), by brute force."""
    near = np.zeros_like(mask)
    for y, x in zip(*np.nonzero(mask)):
        near[max(0, y - radius): y + radius + 1, max(0, x - radius): x + radius + 1] = True
    return near


def test_mask_outline_is_the_ring_just_outside_the_mask() -> None:
    mask = np.zeros((20, 24), dtype=bool)
    mask[5:12, 6:15] = True
    mask[12:15, 10:12] = True                       # a notch: the contour follows the shape
    mask[0:3, 20:24] = True                         # touches the border: open there
    for width in (1, 2):
        ring = mask_outline(mask, width)
        assert not (ring & mask).any()              # never on the defect itself
        assert (ring == (_neighbours(mask, width) & ~mask)).all()
    with pytest.raises(ValueError):
        mask_outline(np.zeros((2, 2, 3), dtype=bool))
    assert not mask_outline(np.zeros((5, 5), dtype=bool)).any()


def test_draw_mask_outline_changes_only_boundary_pixels() -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 200, (30, 40, 3), dtype=np.uint8)
    mask = np.zeros((30, 40), dtype=bool)
    mask[10:18, 12:25] = True
    out = np.asarray(draw_mask_outline(Image.fromarray(array), mask, (0, 255, 255), width=1))
    changed = (out != array).any(axis=2)
    boundary = _neighbours(mask) & ~mask
    assert changed.any() and not (changed & ~boundary).any()   # only on the boundary ring
    assert (out[boundary] == (0, 255, 255)).all()               # the whole ring, in the colour asked for
    assert (out[~boundary] == array[~boundary]).all()           # the defect and the rest untouched
    assert (np.asarray(draw_mask_outline(array, np.zeros((30, 40), bool))) == array).all()  # empty mask: a copy
    with pytest.raises(ValueError):
        draw_mask_outline(array, np.ones((15, 20), dtype=bool))  # resize the mask first

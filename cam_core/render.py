"""Turning raw class activation maps into pictures.

Maps arrive raw, at the network's feature resolution (``C×h×w``). Three normalisations:

- ``shared`` (default): one scale for all class maps of an image,
  ``v = (M - lo) / (hi - lo)`` with ``lo = min(M)``, ``hi = max(M)`` over *every* class map.
  An OK part's NG map then stays cold instead of being stretched to full red, which is what
  per-map min–max does (the "clean part looks hot" complaint of other tools).
- ``per-map``: each class map stretched to [0, 1] on its own (shape only, no comparison).
- ``raw``: a fixed ``value_range`` given by the caller (a model's calibrated range, or one fixed
  over a video), so colours mean the same thing from image to image and frame to frame.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

NormalizationMode = Literal["shared", "per-map", "raw"]
NORMALIZATION_MODES: tuple[str, ...] = ("shared", "per-map", "raw")
COLORMAPS: tuple[str, ...] = ("jet", "inferno", "viridis", "turbo", "gray")

_EPS = 1e-12


def upsample_maps(maps: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize ``C×h×w`` (or ``h×w``) maps to ``size = (H, W)``; values are not rescaled."""
    tensor = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    squeeze = tensor.ndim == 2
    if squeeze:
        tensor = tensor[None]
    out = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False)[0]
    return (out[0] if squeeze else out).numpy()


def normalize_maps(
    maps: np.ndarray,
    mode: NormalizationMode = "shared",
    value_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale ``C×h×w`` maps to [0, 1]; returns the scaled maps and the ``(lo, hi)`` used.

    For ``per-map`` the returned range is the one of the whole stack (for a colour bar only).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if mode == "per-map":
        lo = maps.min(axis=(-2, -1), keepdims=True)
        hi = maps.max(axis=(-2, -1), keepdims=True)
        scaled = (maps - lo) / np.maximum(hi - lo, _EPS)
        return np.clip(scaled, 0.0, 1.0), (float(maps.min()), float(maps.max()))
    if mode == "raw":
        if value_range is None:
            raise ValueError("raw normalisation needs a value_range (lo, hi)")
        lo_f, hi_f = float(value_range[0]), float(value_range[1])
    elif mode == "shared":
        lo_f, hi_f = (value_range if value_range is not None else (float(maps.min()), float(maps.max())))
    else:
        raise ValueError(f"unknown normalisation {mode!r}; choose one of {', '.join(NORMALIZATION_MODES)}")
    scaled = (maps - lo_f) / max(hi_f - lo_f, _EPS)
    return np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0), (lo_f, hi_f)


@lru_cache(maxsize=16)
def colormap_lut(name: str = "jet") -> np.ndarray:
    """A 256×3 uint8 lookup table for ``name`` (computed from anchor colours; no matplotlib needed)."""
    anchors = {
        "jet": [(0, 0, 0.5), (0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0), (0.5, 0, 0)],
        "inferno": [(0, 0, 0.02), (0.34, 0.06, 0.43), (0.73, 0.21, 0.33), (0.98, 0.55, 0.04), (0.99, 1, 0.64)],
        "viridis": [(0.27, 0.0, 0.33), (0.23, 0.32, 0.55), (0.13, 0.57, 0.55), (0.37, 0.79, 0.38), (0.99, 0.91, 0.14)],
        "turbo": [(0.19, 0.07, 0.23), (0.16, 0.48, 0.98), (0.1, 0.9, 0.71), (0.64, 0.99, 0.24),
                  (0.98, 0.73, 0.22), (0.85, 0.22, 0.03), (0.48, 0.02, 0.01)],
        "gray": [(0, 0, 0), (1, 1, 1)],
    }
    if name not in anchors:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    points = np.asarray(anchors[name], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(points))
    grid = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(grid, positions, points[:, ch]) for ch in range(3)], axis=1)
    return np.round(lut * 255).astype(np.uint8)


def colorize(values01: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map values in [0, 1] (``H×W``) to an ``H×W×3`` uint8 RGB image."""
    index = np.clip(np.nan_to_num(np.asarray(values01, dtype=np.float32)) * 255.0 + 0.5, 0, 255)
    return colormap_lut(colormap)[index.astype(np.uint8)]


def overlay(
    image: Image.Image | np.ndarray,
    values01: np.ndarray,
    opacity: float = 0.5,
    colormap: str = "jet",
) -> Image.Image:
    """Alpha-blend a [0, 1] map (any resolution) over ``image``: ``out = (1-α)·image + α·colour(map)``."""
    base = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.float32)
    height, width = base.shape[:2]
    values = np.asarray(values01, dtype=np.float32)
    if values.shape != (height, width):
        values = upsample_maps(values, (height, width))
    heat = colorize(values, colormap).astype(np.float32)
    alpha = float(np.clip(opacity, 0.0, 1.0))
    blended = (1.0 - alpha) * base + alpha * heat
    return Image.fromarray(np.clip(blended + 0.5, 0, 255).astype(np.uint8))


def peak_location(map_hw: np.ndarray, image_size: tuple[int, int]) -> tuple[int, int]:
    """The ``(x, y)`` pixel of the map's maximum in an image of ``image_size = (W, H)`` (cell centre)."""
    height, width = map_hw.shape
    row, col = np.unravel_index(int(np.argmax(map_hw)), map_hw.shape)
    img_w, img_h = image_size
    x = min(int((col + 0.5) * img_w / width), img_w - 1)
    y = min(int((row + 0.5) * img_h / height), img_h - 1)
    return x, y

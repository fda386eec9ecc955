"""Turning raw class activation maps into pictures.

Maps arrive raw, at the network's feature resolution (``C×h×w``). The normalisations:

- ``certainty`` (default): the ``halves`` drawing below on a per-image range set by the verdict
  (:mod:`cam_core.explain.certainty`): the winning class's strongest point is drawn as strong as the model is
  sure (a coin flip next to nothing, ≥ 80 % sure orange and red), the other maps in the same units.
- ``halves``: each class's positive centred evidence ``max(M̃_c, 0)`` on the model's one fixed scale
  ``[0, A]`` (its card's ``evidence_range``, :mod:`cam_core.explain.scale`): ``v = ½ + M̃ / (2A)``, drawn only
  where ``v > ½`` (:mod:`cam_core.explain.layers`), transparent elsewhere. For OK/NG, exactly one of the two
  maps is coloured at any pixel: the OK map where the part looks sound, the NG map where it looks defective.
  Colours mean the same evidence on every image; the margin is the map's mean, not its peak, so the
  strongest colour follows the certainty only loosely.
- ``halves-image``: the same, with ``A`` = this image's own largest ``|M̃|`` (shape only: no certainty).
- ``signed``: one map ``M_NG − M_OK`` (``= 2·M̃_NG``), on ``±2A`` with a diverging colour map, "neither"
  transparent. For more classes, each shown class's ``M̃_c`` on ``±A``.
- ``evidence`` (legacy): the maps of :meth:`cam_core.explain.pipeline.Explanation.evidence` (each class's map
  minus the mean over the classes; for OK/NG ``±(NG − OK)/2``) on a scale symmetric around zero,
  ``v = ½ + M̃ / (2A)`` with ``A = max |M̃|`` over every map of the image (or a fixed ``A``). The middle
  colour is "no evidence either way", the hot end is evidence *for* the class, the cold end evidence
  *against* it. Softmax ignores a constant added to every class's logit, so the common part of the raw
  maps decides nothing; drawing it is what paints a raw NG map red on clean parts too.
- ``shared``: one scale for all raw class maps of an image,
  ``v = (M - lo) / (hi - lo)`` with ``lo = min(M)``, ``hi = max(M)`` over *every* class map.
  An OK part's NG map then stays cold instead of being stretched to full red, which is what
  per-map min–max does (the "clean part looks hot" complaint of other tools).
- ``per-map``: each class map stretched to [0, 1] on its own (shape only, no comparison).
- ``raw``: a fixed ``value_range`` given by the caller (a model's calibrated range, or one fixed
  over a video), so colours mean the same thing from image to image and frame to frame.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from cam_core.options import Colormap, ScaleMode

if TYPE_CHECKING:
    import torch

NormalizationMode = Literal["certainty", "halves", "halves-image", "signed", "evidence", "shared", "per-map", "raw"]
NORMALIZATION_MODES: tuple[str, ...] = tuple(m.value for m in ScaleMode)
DEFAULT_MODE: NormalizationMode = "certainty"
CENTRED_MODES = frozenset({"certainty", "halves", "halves-image", "signed", "evidence"})   # drawn from Explanation.evidence()
FIXED_SCALE_MODES = frozenset({"halves", "signed", "evidence"})   # the model's evidence range when given
COLORMAPS: tuple[str, ...] = tuple(c.value for c in Colormap)

_EPS = 1e-12


def upsample_maps(maps: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize ``C×h×w`` (or ``h×w``) maps to ``size = (H, W)``; values are not rescaled."""
    import torch
    import torch.nn.functional as F

    tensor = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    squeeze = tensor.ndim == 2
    if squeeze:
        tensor = tensor[None]
    out = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False)[0]
    return (out[0] if squeeze else out).numpy()


def symmetric_range(maps: np.ndarray) -> tuple[float, float]:
    """``(−A, A)`` with ``A = max |maps|`` (at least a tiny epsilon, so a flat zero map is mid-scale)."""
    finite = np.asarray(maps, dtype=np.float32)
    finite = finite[np.isfinite(finite)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    top = max(top, 1e-6)
    return -top, top


def normalize_maps(
    maps: np.ndarray,
    mode: NormalizationMode = DEFAULT_MODE,
    value_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale ``C×h×w`` maps to [0, 1]; returns the scaled maps and the ``(lo, hi)`` used.

    The centred modes (``certainty``, ``halves``, ``halves-image``, ``signed``, ``evidence``) expect centred maps
    (:meth:`~cam_core.explain.pipeline.Explanation.evidence`) and scale them over :func:`symmetric_range` (or
    ``value_range``, which for ``certainty`` is the image's :func:`~cam_core.explain.certainty.certainty_range`;
    never for ``halves-image``), so 0 is always ``v = ½``.
    For ``per-map`` the returned range is the one of the whole stack (for a colour bar only).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if mode in CENTRED_MODES:
        fixed = value_range is not None and mode != "halves-image"
        lo_e, hi_e = value_range if fixed and value_range is not None else symmetric_range(maps)
        scaled = (maps - lo_e) / max(hi_e - lo_e, _EPS)
        return np.clip(np.nan_to_num(scaled, nan=0.5), 0.0, 1.0), (float(lo_e), float(hi_e))
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
        "coolwarm": [(0.23, 0.30, 0.75), (0.55, 0.69, 1.0), (0.87, 0.87, 0.87), (0.96, 0.6, 0.48), (0.71, 0.02, 0.15)],
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


@lru_cache(maxsize=16)
def _palette(name: str) -> bytes:
    """The 768-byte RGB palette of ``name`` for PIL ``P`` images."""
    return colormap_lut(name).tobytes()


def _rgb_image(image: Image.Image | np.ndarray) -> Image.Image:
    """``image`` as an RGB PIL image (``H×W``, ``H×W×3`` or ``H×W×4`` arrays; floats rounded and clipped)."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array.astype(np.float32)) + 0.5, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(array), "L").convert("RGB")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(array[..., :3]), "RGB")
    raise ValueError(f"overlay needs an H×W×3 image, not an array of shape {array.shape}")


def heat_image(values01: np.ndarray, size: tuple[int, int], colormap: str = "jet") -> Image.Image:
    """A [0, 1] map (any resolution) coloured with ``colormap`` at ``size = (W, H)``, as an RGB image.

    Resized bilinearly as 32-bit floats (pixel centres aligned, like ``upsample_maps``; a map larger
    than ``size`` is area-filtered), then quantised to 256 levels and coloured through the palette,
    as :func:`colorize` does.
    """
    palette = _palette(colormap)  # raises ValueError for an unknown name
    values = np.asarray(values01, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"a map is h×w, not an array of shape {values.shape}")
    field = Image.fromarray(np.ascontiguousarray(np.nan_to_num(values, nan=0.0)), "F")
    width, height = size
    if field.size != (width, height):
        field = field.resize((width, height), Image.Resampling.BILINEAR)
    # F → L clips to [0, 255] and truncates, so "+ 0.5" rounds (same levels as colorize).
    index = field.point(lambda v: v * 255.0 + 0.5).convert("L")
    index.putpalette(palette, "RGB")
    return index.convert("RGB")


def _alpha(opacity: float) -> float:
    """The blend weight of the map: ``opacity`` clipped to [0, 1] (NaN → 0)."""
    return float(np.clip(np.nan_to_num(float(opacity)), 0.0, 1.0))


def overlay(
    image: Image.Image | np.ndarray,
    values01: np.ndarray,
    opacity: float = 0.5,
    colormap: str = "jet",
) -> Image.Image:
    """Alpha-blend a [0, 1] map (any resolution) over ``image``: ``out = (1-α)·image + α·colour(map)``.

    All in PIL's 8-bit C code (:func:`heat_image`, then ``Image.blend``): a few ms per megapixel.
    ``Image.blend`` truncates, so a channel may be 1 below the rounded float result. Always returns
    a new RGB image the size of ``image``.
    """
    base = _rgb_image(image)
    alpha = _alpha(opacity)
    if alpha <= 0.0:
        _palette(colormap)  # still refuse an unknown colormap
        return base.copy()
    heat = heat_image(values01, base.size, colormap)
    return heat if alpha >= 1.0 else Image.blend(base, heat, alpha)


def peak_location(map_hw: np.ndarray, image_size: tuple[int, int]) -> tuple[int, int]:
    """The map's peak, the one definition used everywhere (the CSV's and JSON's ``peak``, the picture, the
    pointing game): the ``(x, y)`` pixel of an image of ``image_size = (W, H)`` at the centre of the map cell
    holding the maximum (the first one on ties), ``x = ⌊(col + ½)·W / w⌋``, ``y = ⌊(row + ½)·H / h⌋``.

    A map already at the image's size peaks at its own argmax pixel; a bilinear upsampling of a coarse map
    peaks within a pixel of the same point, since each upsampled value is a convex combination of cells."""
    height, width = map_hw.shape
    row, col = np.unravel_index(int(np.argmax(map_hw)), map_hw.shape)
    img_w, img_h = image_size
    x = min(int((col + 0.5) * img_w / width), img_w - 1)
    y = min(int((row + 0.5) * img_h / height), img_h - 1)
    return x, y


def mask_outline(mask_bool: np.ndarray, width: int = 1) -> np.ndarray:
    """The band of ``width`` pixels just outside a binary mask's boundary (``H×W`` bool).

    ``outline = dilate(mask, width) ∧ ¬mask`` with a 3×3 (8-neighbour) dilation repeated ``width``
    times: every outline pixel is a background pixel within ``width`` px (chessboard distance) of a mask
    pixel. Drawn outside the mask, the contour never hides the defect (nor the map under it), however
    thin a scratch is; along the image border, where there is no outside, the contour stays open.
    """
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is H×W, not an array of shape {mask.shape}")
    h, w = mask.shape
    grown = mask
    for _ in range(max(1, int(width))):
        padded = np.pad(grown, 1, constant_values=False)
        out = grown.copy()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                if dy != 1 or dx != 1:
                    out |= padded[dy:dy + h, dx:dx + w]
        grown = out
    return grown & ~mask


OUTLINE_COLOR = (255, 255, 255)   # defect outlines: white, which is at the hot end of none of the colour maps


def draw_mask_outline(
    image: Image.Image | np.ndarray,
    mask_bool: np.ndarray,
    color: tuple[int, int, int] = OUTLINE_COLOR,
    width: int = 2,
) -> Image.Image:
    """A new RGB copy of ``image`` with the contour of ``mask_bool`` (same ``H×W``) drawn in ``color``.

    The contour is :func:`mask_outline` (``width`` px just outside the mask), so the defect itself and
    the map over it stay visible. A mask of another size raises ``ValueError`` (resize it with
    nearest-neighbour first, e.g. :func:`cam_core.evaluation.fit_mask`).
    """
    base = _rgb_image(image).copy()
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.shape != (base.size[1], base.size[0]):
        raise ValueError(f"mask is {mask.shape[1]}×{mask.shape[0]} but the image is {base.size[0]}×{base.size[1]}")
    outline = mask_outline(mask, width)
    if outline.any():
        stamp = Image.fromarray(np.where(outline, 255, 0).astype(np.uint8), "L")
        base.paste(tuple(int(c) for c in color), mask=stamp)
    return base


def scale_words(mode: str, class_name: str) -> str:
    """What a colour means on a map of ``class_name`` drawn with ``mode``, in words for a caption (the full
    legend, with the colour map's own colours: :func:`cam_core.explain.legend.legend_of`)."""
    if mode == "certainty":
        return (f"coloured where the part shows signs of {class_name}, clear elsewhere; the strongest colour "
                "says how sure the model is of its verdict")
    if mode in ("halves", "halves-image"):
        return (f"coloured where the part shows signs of {class_name}, clear elsewhere"
                + (" (each image stretched to its own maximum: shape only)" if mode == "halves-image" else ""))
    if mode == "signed":
        return f"hot = more signs of {class_name}, cold = fewer, clear = neither"
    if mode == "evidence":
        return (f"hot = evidence for {class_name}, cold = evidence against it, middle colour = neither "
                "(scale symmetric around 0)")
    if mode == "per-map":
        return "hot = this map's own highest values (each map stretched on its own: shape only)"
    return "hot = highest raw values (raw maps include a part common to every class)"


def colorbar(colormap: str, scale: tuple[float, float], mode: str, width: int = 360, height: int = 34) -> Image.Image:
    """A horizontal colour bar for ``scale = (lo, hi)`` with its ends (and 0, for ``evidence``) labelled."""
    from PIL import ImageDraw, ImageFont

    bar_h = max(8, height // 2)
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (bar_h, 1))
    bar = Image.fromarray(colorize(ramp, colormap), "RGB")
    out = Image.new("RGB", (width, height), (255, 255, 255))
    out.paste(bar, (0, 0))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    lo, hi = scale
    if mode == "evidence":
        labels = [(0, f"{lo:.3g} against", "la"), (width // 2, "0", "ma"), (width - 1, f"for +{hi:.3g}", "ra")]
    else:
        labels = [(0, f"{lo:.3g}", "la"), (width - 1, f"{hi:.3g}", "ra")]
    for x, text, anchor in labels:
        draw.text((x, bar_h + 2), text, fill=(40, 40, 40), font=font, anchor=anchor)
    if mode == "evidence":
        draw.line([(width // 2, 0), (width // 2, bar_h - 1)], fill=(255, 255, 255), width=1)
    return out


def with_colorbar(image: Image.Image, colormap: str, scale: tuple[float, float], mode: str) -> Image.Image:
    """``image`` with its colour bar (:func:`colorbar`, as wide as the image) added below it."""
    width = image.size[0]
    bar = colorbar(colormap, scale, mode, width=width, height=max(26, min(40, width // 12)))
    out = Image.new("RGB", (width, image.size[1] + bar.size[1] + 2), (255, 255, 255))
    out.paste(_rgb_image(image), (0, 0))
    out.paste(bar, (0, image.size[1] + 2))
    return out

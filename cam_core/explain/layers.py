"""How a scaled map is laid over the part: which pixels are coloured, with which colour and how opaque.

Every normalisation (:func:`cam_core.explain.render.normalize_maps`) gives values ``v`` in [0, 1]. The
centred modes put "no evidence" at ``v = ½``; a :class:`DrawStyle` says how to draw them:

- ``halves`` (modes ``certainty``, ``halves``, ``halves-image``, and every gradient map): only the positive half,
  ``s = 2v − 1``, is drawn; ``colour = cmap(s)`` and ``α = opacity · min(1, s / FADE)`` where ``s > 0``,
  ``α = 0`` elsewhere, so the part shows through wherever the map holds no evidence for its class.
  The map is upsampled *before* the sign is taken (bilinear interpolation commutes with ``M̃ → −M̃``),
  so for two classes exactly one of the two maps is coloured at any pixel.
- ``signed`` (mode ``signed``): ``colour = cmap(v)`` over a diverging colour map, ``α = opacity ·
  min(1, |2v − 1| / FADE)``: "neither" is transparent, both ends are opaque.
- ``opaque`` (the raw modes and the legacy ``evidence``): ``colour = cmap(v)``, ``α = opacity`` everywhere.

A layer is one RGBA image (colour + per-pixel ``α`` at opacity 1): the app sends it to the browser once and
blends it there for any opacity (``out = part · (1 − o·α) + colour · o·α``, which is CSS ``opacity: o``);
exports blend it here with :func:`compose`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from PIL import Image

DrawStyle = Literal["halves", "signed", "opaque"]
FADE = 0.1      # evidence below a tenth of the scale fades in (a weak map reads faint, not just differently coloured)
DIVERGING_COLORMAPS: tuple[str, ...] = ("coolwarm",)   # a light, clear middle (jet's bright green is not "neither")
SIGNED_FALLBACK = "coolwarm"

HALVES_MODES = frozenset({"certainty", "halves", "halves-image"})   # drawn as positive halves


def draw_style(mode: str, centred: bool = True) -> DrawStyle:
    """The style of ``mode``; maps that cannot be centred (gradient methods, ≥ 0) are always drawn as halves."""
    if not centred and mode in HALVES_MODES | {"signed", "evidence"}:
        return "halves"
    if mode in HALVES_MODES:
        return "halves"
    return "signed" if mode == "signed" else "opaque"


def drawn_colormap(style: DrawStyle, chosen: str) -> str:
    """The colour map actually used: a signed map needs a diverging one with a quiet middle (coolwarm)."""
    if style == "signed" and chosen not in DIVERGING_COLORMAPS:
        return SIGNED_FALLBACK
    return chosen


def colour_index(values01: np.ndarray, style: DrawStyle) -> np.ndarray:
    """Where in the colour map (0..1) each value lands: ``2v − 1`` clipped at 0 for halves, ``v`` otherwise."""
    values = np.nan_to_num(np.asarray(values01, dtype=np.float32), nan=0.5 if style != "opaque" else 0.0)
    return np.clip(2.0 * values - 1.0, 0.0, 1.0) if style == "halves" else np.clip(values, 0.0, 1.0)


def alpha_of(values01: np.ndarray, style: DrawStyle) -> np.ndarray:
    """Per-pixel opacity in [0, 1] at opacity 1 (see the module docstring)."""
    values = np.nan_to_num(np.asarray(values01, dtype=np.float32), nan=0.5 if style != "opaque" else 0.0)
    if style == "opaque":
        return np.ones_like(values)
    strength = 2.0 * values - 1.0 if style == "halves" else np.abs(2.0 * values - 1.0)
    return np.clip(strength / FADE, 0.0, 1.0)


def drawn_strength(values01: np.ndarray, style: DrawStyle) -> np.ndarray:
    """How strong each pixel is drawn, 0 (nothing) … 1 (the scale's strong end): the colour index, for
    halves; ``|2v − 1|`` for signed maps; ``v`` for opaque ones. Benchmarks read "hot" from this."""
    values = np.clip(np.nan_to_num(np.asarray(values01, dtype=np.float32), nan=0.5), 0.0, 1.0)
    if style == "halves":
        return np.clip(2.0 * values - 1.0, 0.0, 1.0)
    return np.abs(2.0 * values - 1.0) if style == "signed" else values


@lru_cache(maxsize=16)
def _lut(name: str) -> np.ndarray:
    from cam_core.explain.render import colormap_lut

    return colormap_lut(name)


def heat_layer(values01: np.ndarray, size: tuple[int, int], colormap: str, style: DrawStyle) -> Image.Image:
    """The RGBA layer of a [0, 1] map (any resolution) at ``size = (W, H)``: colour and ``α`` at opacity 1.

    The values are upsampled bilinearly first (as 32-bit floats), then coloured and given their ``α``.
    """
    values = np.asarray(values01, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"a map is h×w, not an array of shape {values.shape}")
    lut = _lut(colormap)  # raises ValueError for an unknown name
    field = Image.fromarray(np.ascontiguousarray(np.nan_to_num(values, nan=0.5)), "F")
    width, height = int(size[0]), int(size[1])
    if field.size != (width, height):
        field = field.resize((width, height), Image.Resampling.BILINEAR)
    up = np.asarray(field, dtype=np.float32)
    index = np.clip(colour_index(up, style) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    alpha = np.clip(alpha_of(up, style) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgba = np.dstack([lut[index], alpha])
    return Image.fromarray(np.ascontiguousarray(rgba), "RGBA")


def at_opacity(alpha: Image.Image, opacity: float) -> Image.Image:
    """A layer's ``α`` (mode L) at ``opacity``: ``o·α``, with ``o`` clipped to [0, 1] (NaN → 0)."""
    o = float(np.clip(np.nan_to_num(float(opacity)), 0.0, 1.0))
    return alpha if o >= 1.0 else alpha.point(lambda a: a * o + 0.5)


def compose(image: Image.Image, layer: Image.Image, opacity: float = 0.5) -> Image.Image:
    """``image`` (RGB) with ``layer`` (RGBA, same size) blended at ``opacity``: ``out = image·(1 − o·α) + c·o·α``."""
    base = image if image.mode == "RGB" else image.convert("RGB")
    if not float(np.nan_to_num(float(opacity))) > 0.0:
        return base.copy()
    return Image.composite(layer.convert("RGB"), base, at_opacity(layer.getchannel("A"), opacity))


def styled_overlay(image: Image.Image, values01: np.ndarray, opacity: float, colormap: str,
                   style: DrawStyle) -> Image.Image:
    """:func:`heat_layer` of ``values01`` at ``image``'s size, blended over it with :func:`compose`."""
    base = image if image.mode == "RGB" else image.convert("RGB")
    return compose(base, heat_layer(values01, base.size, colormap, style), opacity)

"""A conveyor belt carrying hex nuts left to right, as video frames with exact defect masks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cam_core.synth.raster import aniso_noise, box_blur
from cam_core.synth.render import MIN_SIZE, SynthSample, render_with_coverage

__all__ = ["conveyor_frames"]


def _belt_texture(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """A seamlessly tiling rubber belt (period ``width``) with rails above and below; RGB float."""
    sc = height / 270.0
    rail = max(6, int(height * 0.09))
    belt = 0.16 + 0.02 * aniso_noise(rng, (height, width), 0.0, 60 * sc, 2 * sc)
    belt += 0.012 * aniso_noise(rng, (height, width), 0.0, 1.0, 1.0)
    xs = np.arange(width) + 0.5
    seam_every = width // max(1, round(width / (height * 1.6)))
    d = np.abs(((xs + seam_every / 2) % seam_every) - seam_every / 2)
    belt -= 0.05 * np.clip(1.5 - d, 0, 1)[None, :]
    tex = belt[..., None] * np.array([0.95, 1.0, 1.04])
    rail_lum = 0.42 + 0.03 * aniso_noise(rng, (rail, width), 0.0, 80 * sc, 0.6 * sc)
    rail_lum = rail_lum * np.linspace(1.1, 0.75, rail)[:, None]
    tex[:rail] = rail_lum[..., None]
    tex[height - rail :] = rail_lum[::-1][..., None]
    return tex, rail, height - rail


@dataclass
class _Nut:
    """One nut on the belt, rendered once: colour, coverage (alpha), soft shadow, lane and sample."""

    rgb: np.ndarray           # tile×tile×3 float32 in [0, 1]
    a: np.ndarray             # tile×tile×1 coverage
    sh: np.ndarray            # tile×tile blurred coverage (its shadow)
    y: float                  # centre row on the belt
    sample: SynthSample


def _nuts(rng: np.random.Generator, seed: int, parts: int, ng_every: int, tile: int, top: int, bottom: int
          ) -> list[_Nut]:
    """The ``parts`` nuts: nut ``k`` from ``default_rng([seed, k])``, NG when ``(k + 1) % ng_every == 0``."""
    nuts = []
    for k in range(parts):
        ng = ng_every > 0 and (k + 1) % ng_every == 0
        sample, cov = render_with_coverage(np.random.default_rng([seed, k]), "nut", tile, "random" if ng else None)
        rgb = np.asarray(sample.image, dtype=np.float32) / 255.0
        sh = box_blur(cov, max(2, tile // 25)).astype(np.float32)
        y = rng.uniform(top + tile / 2, bottom - tile / 2) if bottom - top > tile else (top + bottom) / 2
        nuts.append(_Nut(rgb=rgb, a=cov.astype(np.float32)[..., None], sh=sh, y=y, sample=sample))
    return nuts


def _clip(x0: int, y0: int, tile: int, width: int, height: int) -> tuple[int, int, int, int]:
    """The tile at ``(x0, y0)`` clipped to the frame: ``(x0, y0, x1, y1)`` (empty when ``x0 >= x1 or y0 >= y1``)."""
    return max(x0, 0), max(y0, 0), min(x0 + tile, width), min(y0 + tile, height)


def _paste_mask(defect: np.ndarray, mask: np.ndarray, left: int, top_y: int) -> None:
    """``defect = max(defect, mask)`` where the nut's tile lies in the frame."""
    height, width = defect.shape
    ax0, ay0, ax1, ay1 = _clip(left, top_y, mask.shape[0], width, height)
    if ax0 < ax1 and ay0 < ay1:
        np.maximum(defect[ay0:ay1, ax0:ax1], mask[ay0 - top_y:ay1 - top_y, ax0 - left:ax1 - left],
                   out=defect[ay0:ay1, ax0:ax1])


def _draw_nut(frame: np.ndarray, nut: _Nut, left: int, top_y: int, sh_off: int) -> None:
    """Darken the belt under the nut's shadow (offset by ``sh_off``), then blend the nut over it (in place)."""
    height, width = frame.shape[:2]
    tile = nut.a.shape[0]
    for off, blend in ((sh_off, "shadow"), (0, "part")):
        fx0, fy0 = left + off, top_y + off
        ax0, ay0, ax1, ay1 = _clip(fx0, fy0, tile, width, height)
        if ax0 >= ax1 or ay0 >= ay1:
            continue
        tsl = (slice(ay0 - fy0, ay1 - fy0), slice(ax0 - fx0, ax1 - fx0))
        region = frame[ay0:ay1, ax0:ax1]
        if blend == "shadow":
            region *= (1.0 - 0.6 * nut.sh[tsl])[..., None]
        else:
            a = nut.a[tsl]
            region *= 1.0 - a
            region += a * nut.rgb[tsl]


def _part_info(k: int, nut: _Nut, left: int, top_y: int, width: int, height: int) -> dict[str, Any]:
    tile = nut.a.shape[0]
    return {
        "id": k,
        "x": left + tile // 2,
        "y": top_y + tile // 2,
        "label": nut.sample.label,
        "defect_type": nut.sample.defect_type,
        "bbox": _clip(left, top_y, tile, width, height),
    }


def conveyor_frames(
    *,
    seed: int,
    n_frames: int,
    width: int = 480,
    height: int = 270,
    fps: int = 15,
    parts: int = 6,
    ng_every: int = 3,
    masks: bool = False,
) -> Iterator[tuple[np.ndarray, dict]]:
    """Yield ``(frame, info)`` for a belt carrying hex nuts left to right; every ``ng_every``-th nut is NG.

    ``frame`` is RGB uint8 ``height×width×3``; ``info = {"index", "time_s", "parts": [{"id", "x", "y",
    "label", "defect_type", "bbox"}]}`` lists the nuts in view (``x, y`` their centre in pixels, ``bbox``
    ``(x0, y0, x1, y1)`` of their tile clipped to the frame). The ``parts`` nuts are rendered once and loop
    forever; nut ``k`` (1-based) is NG when ``k % ng_every == 0`` (``ng_every <= 0``: all OK).
    ``masks=True`` adds ``info["defect_mask"]``: uint8 ``height×width``, 255 where a defect is in view.
    """
    if n_frames < 0 or width < 64 or height < 64 or parts < 1 or fps < 1:
        raise ValueError("need n_frames >= 0, width/height >= 64, parts >= 1, fps >= 1")
    rng = np.random.default_rng([seed, 0xC0FFEE])
    belt, top, bottom = _belt_texture(rng, height, 2 * width)
    period = belt.shape[1]
    # doubled so that every scrolled view is one contiguous slice
    belt = np.ascontiguousarray(np.concatenate([belt, belt[:, :width]], axis=1), dtype=np.float32)
    tile = max(MIN_SIZE, int((bottom - top) * 0.78))
    nuts = _nuts(rng, seed, parts, ng_every, tile, top, bottom)
    spacing = max(tile * 1.7, (width + tile) / parts + 1)
    loop = spacing * parts
    speed = width / (2.5 * fps)  # crosses the frame in 2.5 s
    x0 = width / 2 + tile / 2
    sh_off = max(2, tile // 14)
    noise = rng.standard_normal((4, height, width, 3), dtype=np.float32) * np.float32(0.01)
    for i in range(n_frames):
        travel = i * speed
        start = (-int(round(travel))) % period
        frame = belt[:, start : start + width].copy()
        infos = []
        defect = np.zeros((height, width), dtype=np.uint8) if masks else None
        for k, nut in enumerate(nuts):
            left = int(round((travel + x0 - k * spacing) % loop - tile))
            if left >= width:
                continue
            top_y = int(round(nut.y - tile / 2))
            if defect is not None and nut.sample.mask.any():
                _paste_mask(defect, nut.sample.mask, left, top_y)
            _draw_nut(frame, nut, left, top_y, sh_off)
            infos.append(_part_info(k, nut, left, top_y, width, height))
        yield _finish_frame(frame, noise[i % 4]), _frame_info(i, fps, infos, defect)


def _finish_frame(frame: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Add sensor noise to the float frame and quantise it to uint8 (in place up to the cast)."""
    frame += noise
    frame *= 255.0
    frame += 0.5
    np.clip(frame, 0.0, 255.0, out=frame)
    return frame.astype(np.uint8)


def _frame_info(i: int, fps: int, infos: list[dict[str, Any]], defect: np.ndarray | None) -> dict:
    info: dict = {"index": i, "time_s": i / fps, "parts": infos}
    if defect is not None:
        info["defect_mask"] = defect      # uint8 0/255: the defect pixels in view (all zero: an OK frame)
    return info

"""Deterministic synthetic machined parts, OK and NG, with exact defect masks.

Used to train and test the shipped OK/NG networks offline (numpy + Pillow only).

Two part kinds are drawn:

- ``plate``: a flat rectangular, rounded or disc plate, sometimes drilled, on a darker background;
- ``nut``: a hex nut seen from above (top face, chamfer ring, countersink, threaded through hole).

Every sample gets machined-metal texture (brushed, turned or face-milled grain), a random lighting
gradient, a specular band or blob, a drop shadow, slight blur and sensor noise, plus a random pose,
exposure and tint. OK and NG samples share all of that, including "nuisance" marks that are not defects
(faint straight brushing lines along the grain, soft extra highlights, low-frequency mottling), so a
network must look at the defect itself: global mean intensity and contrast carry no label information.

NG samples carry one defect type from :data:`DEFECT_TYPES`. Each defect is drawn as a float alpha
layer from analytic geometry (signed distances give the anti-aliasing), and its mask is exactly the
pixels where that alpha exceeds :data:`MASK_THRESHOLD`, clipped to the part's flat face.

Determinism: everything comes from the ``numpy.random.Generator`` handed in. Defect parameters are drawn
from a child generator seeded at a fixed point of the stream, so an NG sample and an OK sample rendered
from the same generator state show the same part and differ only where the defect is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from cam_core.synth.defects import DEFECT_TYPES, MASK_THRESHOLD, Scene, apply_defect
from cam_core.synth.raster import aniso_noise, box_blur, coverage, gauss_blur, shift, unit
from cam_core.synth.shapes import (
    Body,
    Finish,
    Pose,
    draw_finish,
    draw_pose,
    metal_grain,
    nuisance_lines,
    nut_body,
    plate_body,
)

__all__ = ["DATA_DESCRIPTION", "KINDS", "MIN_SIZE", "PART_KINDS", "SynthSample", "check_kind", "render_part",
           "render_with_coverage"]

KINDS = ("plate", "nut", "mixed")
#: How a model card names data made here (``trained_on``), shown next to every verdict of such a model.
DATA_DESCRIPTION = "synthetic parts (plates and hex nuts drawn by this product)"
PART_KINDS = ("plate", "nut")
MIN_SIZE = 32


@dataclass(frozen=True, eq=False)
class SynthSample:
    """One rendered part.

    ``mask`` is uint8 H×W with 0/255 (all zero for OK); ``part_mask`` is the part silhouette in the
    same format (through holes excluded), every mask pixel lies inside it.
    """

    image: Image.Image
    mask: np.ndarray
    label: str
    defect_type: str
    kind: str
    part_mask: np.ndarray | None = field(default=None, repr=False)


def _luminance(rng: np.random.Generator, p: Pose, f: Finish, body: Body) -> tuple[np.ndarray, np.ndarray]:
    """(luminance of the part's surface, metal tint): lighting gradient, grain, specular, nuisance marks."""
    size, sc, shape, center, grain_angle = p.size, p.sc, p.shape, p.center, p.grain_angle
    xx, yy, base, gradient, grain_amp, style = p.xx, p.yy, f.base, f.gradient, f.grain_amp, body.style
    proj = _projection(p)
    lum = base * (1.0 + gradient * 2.0 * proj)
    grain = metal_grain(rng, size, sc, style, grain_angle, center)
    mottle = aniso_noise(rng, shape, 0.0, rng.uniform(20, 60) * sc, rng.uniform(20, 60) * sc)
    # specular: a band across the grain (brushed metal smears the highlight) or a blob
    hl_amp = rng.uniform(0.04, 0.26)
    if rng.random() < 0.6:
        ga = unit(grain_angle)
        t = (xx - center[0]) * ga[0] + (yy - center[1]) * ga[1]
        hl = np.exp(-(((t - rng.uniform(-0.3, 0.3) * size) / (rng.uniform(0.05, 0.22) * size)) ** 2))
    else:
        c = center + rng.uniform(-0.3, 0.3, 2) * size
        hl = np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * (rng.uniform(0.08, 0.25) * size) ** 2))
    lum += hl_amp * hl * (1.0 + 0.5 * grain)
    lum += grain_amp * grain + rng.uniform(0.0, 0.035) * mottle
    # nuisance (never a defect): soft second highlight, faint straight brushing lines
    if rng.random() < 0.5:
        c = center + rng.uniform(-0.35, 0.35, 2) * size
        s2 = rng.uniform(0.04, 0.12) * size
        lum += rng.uniform(0.02, 0.08) * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * s2 * s2))
    lum += nuisance_lines(rng, size, sc, grain_angle)
    lum += body.extra
    metal_tint = 1.0 + rng.normal(0.0, 0.025, 3)
    metal_tint /= metal_tint.mean()
    return lum, metal_tint


def _projection(p: Pose) -> np.ndarray:
    """Position along the light direction, in image sizes (the lighting gradient's ramp)."""
    return ((p.xx - p.size / 2) * p.light[0] + (p.yy - p.size / 2) * p.light[1]) / p.size


def _background(rng: np.random.Generator, p: Pose, f: Finish, body: Body) -> tuple[np.ndarray, np.ndarray]:
    """(background luminance with the part's drop shadow, background tint)."""
    size, sc, shape, light, gradient = p.size, p.sc, p.shape, p.light, f.gradient
    proj, outer_cov, through = _projection(p), body.outer_cov, body.through
    bg_base = rng.uniform(0.05, 0.28)
    bg = bg_base * (1.0 + 0.6 * gradient * 2.0 * proj)
    bg += bg_base * 0.25 * aniso_noise(rng, shape, rng.uniform(0, math.pi), 40 * sc, 25 * sc)
    bg += bg_base * 0.12 * aniso_noise(rng, shape, rng.uniform(0, math.pi), 1.2 * sc, 1.0 * sc)
    palette = np.array(
        [[1.0, 1.0, 1.0], [0.85, 1.05, 0.95], [0.85, 0.95, 1.2], [1.15, 1.0, 0.8], [1.05, 0.95, 0.95]]
    )
    bg_tint = palette[int(rng.integers(len(palette)))] + rng.normal(0.0, 0.03, 3)
    sh_off = -light * size * rng.uniform(0.015, 0.05)
    shadow = box_blur(shift(outer_cov, int(round(sh_off[0])), int(round(sh_off[1]))), max(1, int(6 * sc)))
    bg *= 1.0 - rng.uniform(0.3, 0.7) * shadow
    bg *= 1.0 - rng.uniform(0.5, 0.85) * through  # seen through a hole: deep and dim
    return bg, bg_tint


def _camera(rng: np.random.Generator, rgb: np.ndarray, sc: float) -> np.ndarray:
    """Exposure, blur and sensor noise → uint8 RGB."""
    rgb = rgb * rng.uniform(0.85, 1.15) + rng.uniform(-0.03, 0.03)
    rgb = gauss_blur(rgb, rng.uniform(0.35, 0.85) * max(sc, 0.5))
    rgb = rgb + rng.normal(0.0, 1.0, rgb.shape) * rng.uniform(0.004, 0.018)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_with_coverage(
    rng: np.random.Generator, kind: str, size: int, defect: str | None
) -> tuple[SynthSample, np.ndarray]:
    """Render one part; also return the float part coverage (used for compositing in videos)."""
    pose = draw_pose(rng, kind, size)
    finish = draw_finish(rng, pose.sc)
    body = (plate_body if kind == "plate" else nut_body)(rng, pose, finish)
    lum, metal_tint = _luminance(rng, pose, finish, body)
    bg, bg_tint = _background(rng, pose, finish, body)
    part_cov, face_sdf = body.part_cov, body.face_sdf
    rgb = (lum * part_cov)[..., None] * metal_tint + (bg * (1 - part_cov))[..., None] * bg_tint

    # -- defect --------------------------------------------------------------------------------------
    face_cov = coverage(face_sdf) * part_cov
    scene = Scene(size=size, sc=pose.sc, light=pose.light, face_cov=face_cov, face_sdf=face_sdf, tint=metal_tint)
    mask = np.zeros(pose.shape, dtype=np.uint8)
    label, defect_type = "ok", "none"
    if defect is not None:
        drng = np.random.default_rng(pose.defect_seed)
        defect_type = str(drng.choice(DEFECT_TYPES)) if defect == "random" else defect
        rgb, alpha = apply_defect(drng, scene, rgb, defect_type)
        mask = np.where(alpha > MASK_THRESHOLD, 255, 0).astype(np.uint8)
        label = "ng"
    img = _camera(rng, rgb, pose.sc)
    part_mask = np.where(part_cov > 0.5, 255, 0).astype(np.uint8)
    sample = SynthSample(
        image=Image.fromarray(img, "RGB"),
        mask=mask,
        label=label,
        defect_type=defect_type,
        kind=kind,
        part_mask=part_mask,
    )
    return sample, part_cov


def check_kind(kind: str, allowed: tuple[str, ...]) -> None:
    if kind not in allowed:
        raise ValueError(f"kind must be one of {', '.join(allowed)}; got {kind!r}")


def render_part(
    rng: np.random.Generator, *, kind: str = "plate", size: int = 256, defect: str | None = None
) -> SynthSample:
    """Render one synthetic part.

    ``kind`` is ``"plate"``, ``"nut"`` or ``"mixed"`` (picked from ``rng``). ``defect=None`` gives an OK
    part, ``"random"`` a random type from :data:`DEFECT_TYPES`, or name a type. The result depends only
    on the generator's state.
    """
    check_kind(kind, KINDS)
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} px; got {size}")
    if defect is not None and defect != "random" and defect not in DEFECT_TYPES:
        raise ValueError(f"defect must be None, 'random' or one of {', '.join(DEFECT_TYPES)}; got {defect!r}")
    if kind == "mixed":
        kind = PART_KINDS[int(rng.integers(2))]
    sample, _ = render_with_coverage(rng, kind, int(size), defect)
    return sample

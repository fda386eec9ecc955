"""Defects drawn on a part's flat face: scratch, crack, pit, dent, stain, and their exact masks.

Each defect is drawn as a float alpha layer from analytic geometry (signed distances give the
anti-aliasing), and its mask is exactly the pixels where that alpha exceeds :data:`MASK_THRESHOLD`, clipped
to the part's flat face. Defect parameters come from their own generator (``drng``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cam_core.synth.raster import bezier, coverage, lowres_noise, smoothstep, stroke_alpha, unit

__all__ = ["DEFECT_TYPES", "MASK_THRESHOLD", "MAX_DEFECT_AREA", "MAX_SOFT_DEFECT_AREA", "MIN_DEFECT_AREA", "Scene",
           "apply_defect"]

DEFECT_TYPES = ("scratch", "crack", "pit", "dent", "stain")

#: A defect pixel belongs to the mask when its defect alpha exceeds this.
MASK_THRESHOLD = 0.25
#: Mask area bounds as fractions of the image area (stains and dents may grow to the larger bound).
MIN_DEFECT_AREA = 0.0012
MAX_DEFECT_AREA = 0.05
MAX_SOFT_DEFECT_AREA = 0.08


@dataclass
class Scene:
    """Geometry a defect needs: where the flat face is and where the light comes from."""

    size: int
    sc: float  # pixel lengths are given for 256 px images and scaled by this
    light: np.ndarray  # unit 2-D vector pointing towards the light, image coordinates (x right, y down)
    face_cov: np.ndarray  # coverage of the flat face where defects may appear, 0..1
    face_sdf: np.ndarray  # signed distance to the face edge in pixels, negative inside
    tint: np.ndarray  # metal tint, RGB multipliers


def _pick_center(drng: np.random.Generator, scene: Scene, margin: float) -> np.ndarray:
    """A random pixel centre at least ``margin`` px inside the flat face."""
    for m in (margin, margin / 2, 1.0, -0.5):
        idx = np.flatnonzero(scene.face_sdf < -m)
        if idx.size:
            i = int(idx[int(drng.integers(idx.size))])
            return np.array([i % scene.size + 0.5, i // scene.size + 0.5])
    return np.array([scene.size / 2, scene.size / 2])


def _draw_scratch(drng: np.random.Generator, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size, sc = scene.size, scene.sc
    shape = (size, size)
    alpha = np.zeros(shape)
    add = np.zeros(shape)
    mul = np.ones(shape)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    c = _pick_center(drng, scene, 6 * sc)
    for _ in range(1 if drng.random() < 0.7 else 2):
        length = drng.uniform(0.18, 0.42) * size
        d = unit(drng.uniform(0, 2 * math.pi))
        p = unit(math.atan2(d[1], d[0]) + math.pi / 2)
        start = c - d * length / 2 + drng.normal(0, 3 * sc, 2)
        ctrl = np.array(
            [
                start,
                start + d * length / 3 + p * drng.uniform(-0.3, 0.3) * length,
                start + d * 2 * length / 3 + p * drng.uniform(-0.3, 0.3) * length,
                start + d * length,
            ]
        )
        pts = bezier(ctrl, max(12, int(length / 3)))
        w = max(0.9, drng.uniform(1.0, 3.0) * sc)
        t = np.linspace(0.0, 1.0, len(pts))
        widths = w * (0.35 + 0.65 * np.sin(np.pi * t) ** 0.4)  # tapered ends
        a = stroke_alpha(shape, pts, widths)
        if drng.random() < 0.6:  # metal freshly exposed: bright
            add += a * drng.uniform(0.14, 0.35)
        else:
            mul *= 1.0 - a * drng.uniform(0.3, 0.6)
        # glint: where the groove wall catches the light
        g_pt = pts[int(drng.integers(len(pts) // 5, 4 * len(pts) // 5))]
        g_s = max(0.9, drng.uniform(1.2, 2.6) * sc)
        glint = np.exp(-((xx - g_pt[0]) ** 2 + (yy - g_pt[1]) ** 2) / (2 * g_s * g_s))
        glint = glint * (glint > 0.05)
        add += glint * drng.uniform(0.25, 0.5)
        alpha = np.maximum(alpha, np.maximum(a, glint))
    return alpha, mul, add


def _draw_crack(drng: np.random.Generator, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size, sc = scene.size, scene.sc
    shape = (size, size)
    c = _pick_center(drng, scene, 6 * sc)
    step = max(1.6, drng.uniform(2.5, 4.5) * sc)
    length = drng.uniform(0.14, 0.32) * size
    heading0 = drng.uniform(0, 2 * math.pi)

    def walk(start: np.ndarray, heading: float, n: int) -> np.ndarray:
        pts = [start]
        h = heading
        for _ in range(n):
            h += drng.normal(0.0, 0.5) + 0.3 * (heading - h)  # jagged but keeps a general direction
            pts.append(pts[-1] + unit(h) * step * drng.uniform(0.6, 1.4))
        return np.array(pts)

    n_main = max(4, int(length / step))
    main = walk(c - unit(heading0) * length / 2, heading0, n_main)
    w0 = max(1.0, drng.uniform(1.1, 2.2) * sc)
    t = np.linspace(0, 1, len(main))
    alpha = stroke_alpha(shape, main, w0 * (0.3 + 0.7 * np.sin(np.pi * t) ** 0.5))
    for _ in range(int(drng.integers(1, 4))):
        j = int(drng.integers(len(main) // 5, max(len(main) // 5 + 1, 4 * len(main) // 5)))
        heading = heading0 + drng.choice([-1, 1]) * drng.uniform(0.5, 1.1)
        br = walk(main[j], heading, max(3, int(n_main * drng.uniform(0.2, 0.5))))
        tb = np.linspace(0, 1, len(br))
        alpha = np.maximum(alpha, stroke_alpha(shape, br, w0 * 0.75 * (1 - 0.7 * tb)))
    mul = 1.0 - alpha * drng.uniform(0.55, 0.85)
    return alpha, mul, np.zeros(shape)


def _draw_pit(drng: np.random.Generator, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size, sc = scene.size, scene.sc
    shape = (size, size)
    n = int(drng.integers(1, 5))
    r_max = 7.5 if n == 1 else 5.5
    c0 = _pick_center(drng, scene, (r_max + 10) * sc)
    alpha = np.zeros(shape)
    mul = np.ones(shape)
    add = np.zeros(shape)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    for _ in range(n):
        c = c0 + (drng.normal(0, 7 * sc, 2) if n > 1 else 0.0)
        rad = max(1.4, drng.uniform(2.5, r_max) * sc)
        ext = int(rad * 2 + 4)
        x0, x1 = max(0, int(c[0]) - ext), min(size, int(c[0]) + ext + 1)
        y0, y1 = max(0, int(c[1]) - ext), min(size, int(c[1]) + ext + 1)
        if x0 >= x1 or y0 >= y1:
            continue
        px, py = xx[y0:y1, x0:x1] - c[0], yy[y0:y1, x0:x1] - c[1]
        ang = np.arctan2(py, px)
        r = np.hypot(px, py)
        shape_r = rad * (
            1
            + drng.uniform(0, 0.15) * np.cos(2 * ang + drng.uniform(0, 6.3))
            + drng.uniform(0, 0.1) * np.cos(3 * ang + drng.uniform(0, 6.3))
        )
        sdf = r - shape_r
        inside = coverage(sdf)
        # outward unit direction against the light: the lip facing the light shines,
        # the inner wall on the light side lies in shadow
        lit = (px * scene.light[0] + py * scene.light[1]) / (r + 1e-9)
        rim_w = max(1.0, 1.5 * sc)
        rim = np.clip(1.0 - np.abs(sdf - rim_w / 2) / rim_w, 0, 1) * np.clip(lit, 0, 1)
        dark = drng.uniform(0.6, 0.85) * (0.85 + 0.15 * lit)
        mul[y0:y1, x0:x1] *= 1.0 - inside * dark
        add[y0:y1, x0:x1] += rim * drng.uniform(0.2, 0.4)
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], np.maximum(inside, rim))
    return alpha, mul, add


def _ellipse_coords(size: int, c: np.ndarray, ang: float, semi_major: float, semi_minor: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in the frame of an ellipse centred at ``c``, major axis at ``ang``, scaled by its
    semi-axes: ``u² + v² < 1`` inside."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    u = ((xx - c[0]) * math.cos(ang) + (yy - c[1]) * math.sin(ang)) / semi_major
    v = (-(xx - c[0]) * math.sin(ang) + (yy - c[1]) * math.cos(ang)) / semi_minor
    return u, v


def _draw_dent(drng: np.random.Generator, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size, sc = scene.size, scene.sc
    sig = drng.uniform(5.0, 13.0) * sc
    c = _pick_center(drng, scene, 1.5 * sig)
    aspect = drng.uniform(1.0, 1.8)
    ang = drng.uniform(0, math.pi)
    u, v = _ellipse_coords(size, c, ang, sig * aspect, sig)
    h = np.exp(-0.5 * (u * u + v * v))
    gy, gx = np.gradient(h)
    sign = -1.0 if drng.random() < 0.75 else 1.0  # mostly dents (concave), sometimes bumps
    shade = sign * -(gx * scene.light[0] + gy * scene.light[1])
    shade /= np.abs(shade).max() + 1e-12
    add = shade * drng.uniform(0.12, 0.26)
    mul = 1.0 - h * drng.uniform(0.0, 0.08)
    # the visible footprint: where the shading is strong, plus the core where the slope changes sign
    alpha = np.maximum(np.abs(shade), h - 0.25)
    alpha = alpha * (h > 0.02)
    return alpha, mul, add


def _draw_stain(drng: np.random.Generator, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = scene.size
    shape = (size, size)
    rad = drng.uniform(0.05, 0.12) * size
    c = _pick_center(drng, scene, 0.6 * rad)
    aspect = drng.uniform(1.0, 1.7)
    ang = drng.uniform(0, math.pi)
    u, v = _ellipse_coords(size, c, ang, rad * aspect, rad)
    cells = max(4, int(size / (rad * 0.6)))
    f = 1.0 - (u * u + v * v) + 0.55 * lowres_noise(drng, shape, cells)
    alpha = smoothstep(0.0, drng.uniform(0.25, 0.6), f)
    kind = int(drng.integers(3))
    if kind == 0:  # rust / dried coolant: warm and darker
        col = np.array([1.0, 0.93, 0.84]) * drng.uniform(0.78, 0.9)
    elif kind == 1:  # oil film: darker, slightly blue-violet
        col = np.array([0.96, 0.95, 1.02]) * drng.uniform(0.7, 0.84)
    else:  # water spot: lighter with a dark drying ring
        col = np.array([1.0, 1.0, 1.0]) * drng.uniform(1.12, 1.25)
    mul = 1.0 + alpha[..., None] * (col - 1.0)
    ring = 4 * alpha * (1 - alpha)
    mul = mul * (1.0 - ring * drng.uniform(0.05, 0.15))[..., None]
    return alpha, mul, np.zeros(3)


_DRAWERS = {
    "scratch": _draw_scratch,
    "crack": _draw_crack,
    "pit": _draw_pit,
    "dent": _draw_dent,
    "stain": _draw_stain,
}


def apply_defect(
    drng: np.random.Generator, scene: Scene, rgb: np.ndarray, defect_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one defect on the face; returns the new RGB and the defect alpha (already clipped to the face)."""
    area = scene.size * scene.size
    max_frac = MAX_SOFT_DEFECT_AREA if defect_type in ("dent", "stain") else MAX_DEFECT_AREA
    # Redraw defects that ended up too small (e.g. clipped by the face edge) or too large; if none fits,
    # keep the one whose area is closest (in log scale) to 1 % of the image.
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    for _ in range(12):
        alpha, mul, add = _DRAWERS[defect_type](drng, scene)
        alpha = alpha * scene.face_cov
        n = int(np.count_nonzero(alpha > MASK_THRESHOLD))
        if MIN_DEFECT_AREA * area <= n <= max_frac * area:
            best = (0.0, alpha, mul, add)
            break
        miss = abs(math.log((n + 1) / (0.01 * area)))
        if best is None or miss < best[0]:
            best = (miss, alpha, mul, add)
    assert best is not None
    _, alpha, mul, add = best
    f = scene.face_cov
    mul = np.asarray(mul)
    if mul.ndim == 2:
        mul = mul[..., None]
    add = np.asarray(add)
    if add.ndim == 2:
        add = add[..., None] * scene.tint
    f3 = f[..., None]
    out = rgb * (1.0 + (mul - 1.0) * f3) + add * f3
    return out, alpha

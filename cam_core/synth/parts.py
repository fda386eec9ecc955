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

import csv
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

KINDS = ("plate", "nut", "mixed")
#: How a model card names data made here (``trained_on``), shown next to every verdict of such a model.
DATA_DESCRIPTION = "synthetic parts (plates and hex nuts drawn by cam_core.synth)"
DEFECT_TYPES = ("scratch", "crack", "pit", "dent", "stain")

#: A defect pixel belongs to the mask when its defect alpha exceeds this.
MASK_THRESHOLD = 0.25
#: Mask area bounds as fractions of the image area (stains and dents may grow to the larger bound).
MIN_DEFECT_AREA = 0.0012
MAX_DEFECT_AREA = 0.05
MAX_SOFT_DEFECT_AREA = 0.08

_PART_KINDS = ("plate", "nut")
_MIN_SIZE = 32
_NAME_RE = re.compile(r"^(ok|ng)_\d+\.png$")


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


@dataclass
class _Scene:
    """Geometry a defect needs: where the flat face is and where the light comes from."""

    size: int
    sc: float  # pixel lengths are given for 256 px images and scaled by this
    light: np.ndarray  # unit 2-D vector pointing towards the light, image coordinates (x right, y down)
    face_cov: np.ndarray  # coverage of the flat face where defects may appear, 0..1
    face_sdf: np.ndarray  # signed distance to the face edge in pixels, negative inside
    tint: np.ndarray  # metal tint, RGB multipliers


# --------------------------------------------------------------------------------------------- helpers


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _coverage(sdf: np.ndarray) -> np.ndarray:
    """Approximate pixel coverage of the region ``sdf < 0`` (sdf in pixels): a 1-px anti-aliased edge."""
    return np.clip(0.5 - sdf, 0.0, 1.0)


def _gauss_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _gauss_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over the first two axes (edge-replicated borders)."""
    if sigma <= 0.05:
        return img
    k = _gauss_kernel(sigma)
    r = len(k) // 2
    h, w = img.shape[:2]
    rest = [(0, 0)] * (img.ndim - 2)
    p = np.pad(img, [(r, r), (0, 0), *rest], mode="edge")
    out = sum(wt * p[i : i + h] for i, wt in enumerate(k))
    p = np.pad(out, [(0, 0), (r, r), *rest], mode="edge")
    return sum(wt * p[:, i : i + w] for i, wt in enumerate(k))


def _box_blur(img: np.ndarray, radius: int, passes: int = 2) -> np.ndarray:
    """Repeated box blur (≈ Gaussian with sigma ≈ radius·sqrt(passes/3)) via cumulative sums (2-D)."""
    if radius < 1:
        return img
    out = img.astype(np.float64)
    n = 2 * radius + 1
    for _ in range(passes):
        c = np.cumsum(np.pad(out, [(radius + 1, radius), (0, 0)], mode="edge"), axis=0)
        out = (c[n:] - c[:-n]) / n
        c = np.cumsum(np.pad(out, [(0, 0), (radius + 1, radius)], mode="edge"), axis=1)
        out = (c[:, n:] - c[:, :-n]) / n
    return out


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate a 2-D array by whole pixels, filling with zeros (no wrap-around)."""
    h, w = img.shape
    out = np.zeros_like(img)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = img[ys, xs]
    return out


def _aniso_noise(
    rng: np.random.Generator, shape: tuple[int, int], angle: float, len_along: float, len_across: float
) -> np.ndarray:
    """Unit-variance Gaussian noise, correlated ``len_along`` px along ``angle`` and ``len_across`` across.

    Filtered in the Fourier domain, so it tiles seamlessly with period ``shape``.
    """
    h, w = shape
    spec = np.fft.rfft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    c, s = math.cos(angle), math.sin(angle)
    f_al = fx * c + fy * s
    f_ac = -fx * s + fy * c
    spec *= np.exp(-2.0 * math.pi**2 * ((f_al * len_along) ** 2 + (f_ac * len_across) ** 2))
    out = np.fft.irfft2(spec, s=shape)
    return out / (out.std() + 1e-12)


def _noise_1d(rng: np.random.Generator, n: int, corr: float) -> np.ndarray:
    """Unit-variance 1-D Gaussian noise with correlation length ``corr`` samples."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spec *= np.exp(-2.0 * math.pi**2 * (f * corr) ** 2)
    out = np.fft.irfft(spec, n=n)
    return out / (out.std() + 1e-12)


def _ring_grain(rng: np.random.Generator, r: np.ndarray, corr: float) -> np.ndarray:
    """Concentric tool marks: 1-D noise looked up by the distance ``r`` (px) from a centre."""
    n = int(r.max()) + 8
    line = _noise_1d(rng, n, corr) + _noise_1d(rng, n, corr * 5.0) * 0.35
    return np.interp(r, np.arange(n, dtype=np.float64), line)


def _lowres_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: a ``cells``×``cells`` random grid upsampled bicubically."""
    grid = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((shape[1], shape[0]), Image.BICUBIC)
    return np.asarray(img, dtype=np.float64)


def _bezier(ctrl: np.ndarray, n: int) -> np.ndarray:
    """Points on a Bezier curve of any degree (de Casteljau), ``ctrl`` is k×2."""
    t = np.linspace(0.0, 1.0, n)[:, None, None]
    pts = np.broadcast_to(ctrl[None], (n, *ctrl.shape)).copy()
    while pts.shape[1] > 1:
        pts = pts[:, :-1] * (1.0 - t) + pts[:, 1:] * t
    return pts[:, 0]


def _stroke_alpha(shape: tuple[int, int], pts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a polyline of varying width (pts n×2 as x, y; widths n, in px).

    Each segment only touches its own bounding box, which keeps long thin strokes cheap.
    """
    h, w = shape
    alpha = np.zeros(shape)
    for i in range(len(pts) - 1):
        (ax, ay), (bx, by) = pts[i], pts[i + 1]
        wa, wb = widths[i], widths[i + 1]
        pad = max(wa, wb) / 2.0 + 1.5
        x0, x1 = int(max(0, math.floor(min(ax, bx) - pad))), int(min(w, math.ceil(max(ax, bx) + pad)))
        y0, y1 = int(max(0, math.floor(min(ay, by) - pad))), int(min(h, math.ceil(max(ay, by) + pad)))
        if x0 >= x1 or y0 >= y1:
            continue
        py, px = np.mgrid[y0:y1, x0:x1] + 0.5
        abx, aby = bx - ax, by - ay
        t = np.clip(((px - ax) * abx + (py - ay) * aby) / (abx * abx + aby * aby + 1e-12), 0.0, 1.0)
        d = np.hypot(px - ax - t * abx, py - ay - t * aby)
        a = np.clip((wa + (wb - wa) * t) / 2.0 + 0.5 - d, 0.0, 1.0)
        np.maximum(alpha[y0:y1, x0:x1], a, out=alpha[y0:y1, x0:x1])
    return alpha


def _unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def _normals(sdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit outward normals (x, y) of a signed distance field."""
    gy, gx = np.gradient(sdf)
    n = np.hypot(gx, gy) + 1e-9
    return gx / n, gy / n


# --------------------------------------------------------------------------------------------- parts


def _metal_grain(
    rng: np.random.Generator, size: int, sc: float, style: str, angle: float, center: np.ndarray
) -> np.ndarray:
    """Unit-ish variance grain for the part surface: ``brushed``, ``turned`` or ``milled``."""
    shape = (size, size)
    if style == "brushed":
        fine = _aniso_noise(rng, shape, angle, rng.uniform(10, 45) * sc, rng.uniform(0.35, 0.9) * sc)
        coarse = _aniso_noise(rng, shape, angle, rng.uniform(40, 120) * sc, rng.uniform(2.0, 5.0) * sc)
        g = fine + rng.uniform(0.3, 0.7) * coarse
    else:
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        if style == "turned":
            c = center
        else:  # face milling: arcs of a cutter whose centre lies well outside the part
            c = center + _unit(angle) * size * rng.uniform(0.8, 1.8)
        r = np.hypot(xx - c[0], yy - c[1])
        g = _ring_grain(rng, r, rng.uniform(0.4, 1.0) * sc)
        # tool marks are never perfect: let their strength wander over the surface
        g *= 0.75 + 0.25 * _aniso_noise(rng, shape, angle, 30 * sc, 30 * sc)
        g += 0.3 * _aniso_noise(rng, shape, angle, 20 * sc, 0.8 * sc)
    return g / (g.std() + 1e-12)


def _nuisance_lines(rng: np.random.Generator, size: int, sc: float, angle: float) -> np.ndarray:
    """Faint, straight, full-length brushing lines along the grain (not defects)."""
    out = np.zeros((size, size))
    n = int(rng.integers(0, 4))
    if n == 0:
        return out
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    for _ in range(n):
        a = angle + rng.normal(0.0, 0.03)
        nrm = _unit(a + math.pi / 2)
        off = rng.uniform(-0.4, 0.4) * size
        d = np.abs((xx - size / 2) * nrm[0] + (yy - size / 2) * nrm[1] - off)
        width = rng.uniform(0.7, 1.6) * max(sc, 0.6)
        amp = rng.uniform(0.012, 0.045) * rng.choice([-1.0, 1.0])
        out += amp * np.clip(width / 2 + 0.5 - d, 0.0, 1.0)
    return out


def _plate_geometry(
    rng: np.random.Generator, size: int, sc: float, lx: np.ndarray, ly: np.ndarray, scale: float
) -> tuple[np.ndarray, list[tuple[float, float, float]], str]:
    """Outline signed distance (px), drilled holes ``(x, y, r)`` in part-local px, and the plate style."""
    style = str(rng.choice(["rect", "rounded", "disc"], p=[0.4, 0.4, 0.2]))
    if style == "disc":
        a = b = size * rng.uniform(0.36, 0.44) * scale
        rr = a
    else:
        a = size * rng.uniform(0.36, 0.46) * scale
        b = size * rng.uniform(0.26, 0.40) * scale
        rr = rng.uniform(1.5, 6.0) * sc if style == "rect" else rng.uniform(0.12, 0.5) * min(a, b)
    qx, qy = np.abs(lx) - (a - rr), np.abs(ly) - (b - rr)
    outer = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rr

    holes: list[tuple[float, float, float]] = []
    pattern = str(rng.choice(["none", "center", "corners"], p=[0.4, 0.3, 0.3]))
    if pattern == "center":
        r = size * rng.uniform(0.05, 0.11) * scale
        holes.append((rng.uniform(-0.3, 0.3) * (a - 2.5 * r), rng.uniform(-0.3, 0.3) * (b - 2.5 * r), r))
    elif pattern == "corners":
        r = size * rng.uniform(0.025, 0.045) * scale
        if style == "disc":
            m = int(rng.choice([3, 4, 6]))
            rho = a - r * rng.uniform(2.2, 3.2)
            phase = rng.uniform(0, 2 * math.pi)
            holes += [
                (rho * math.cos(phase + 2 * math.pi * k / m), rho * math.sin(phase + 2 * math.pi * k / m), r)
                for k in range(m)
            ]
        else:
            inset = r * rng.uniform(2.0, 2.8) + 0.3 * rr
            holes += [(sx * (a - inset), sy * (b - inset), r) for sx in (-1, 1) for sy in (-1, 1)]
    return outer, holes, style


def _render(
    rng: np.random.Generator, kind: str, size: int, defect: str | None
) -> tuple[SynthSample, np.ndarray]:
    """Render one part; also return the float part coverage (used for compositing in videos)."""
    sc = size / 256.0
    shape = (size, size)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5

    # -- pose, light, surface style (all from rng, in a fixed order) --------------------------------
    if kind == "nut":
        theta = rng.uniform(-math.pi, math.pi)
    else:
        theta = rng.uniform(-0.35, 0.35) + rng.choice([0.0, math.pi / 2])
    scale = rng.uniform(0.9, 1.06)
    center = size / 2 + rng.uniform(-0.04, 0.04, 2) * size
    light_angle = rng.uniform(-math.pi, math.pi)
    light = _unit(light_angle)
    grain_angle = theta + (rng.choice([0.0, math.pi / 2]) if kind == "plate" else rng.uniform(0, math.pi))
    defect_seed = int(rng.integers(0, 2**62))  # defect parameters live in their own stream

    dx, dy = xx - center[0], yy - center[1]
    ct, st = math.cos(theta), math.sin(theta)
    lx, ly = ct * dx + st * dy, -st * dx + ct * dy
    r_img = np.hypot(dx, dy)
    radial_x, radial_y = dx / (r_img + 1e-9), dy / (r_img + 1e-9)
    radial_lit = radial_x * light[0] + radial_y * light[1]  # >0 where the outward radial faces the light

    base = rng.uniform(0.3, 0.66)
    gradient = rng.uniform(0.0, 0.22)
    grain_amp = rng.uniform(0.015, 0.065)
    bevel_w = rng.uniform(1.5, 4.0) * max(sc, 0.5)
    bevel_amp = rng.uniform(0.12, 0.3)

    through = np.zeros(shape)  # coverage of through holes (background seen below, dimmed)
    extra = np.zeros(shape)  # region-specific shading added to the flat-face luminance
    if kind == "plate":
        outer, holes, plate_style = _plate_geometry(rng, size, sc, lx, ly, scale)
        if plate_style == "disc" and rng.random() < 0.6:
            style = "turned"
        else:
            style = str(rng.choice(["brushed", "milled"], p=[0.7, 0.3]))
        face_sdf = outer + bevel_w
        hole_sdf = np.full(shape, 1e6)
        for hx, hy, hr in holes:
            d = np.hypot(lx - hx, ly - hy) - hr
            hole_sdf = np.minimum(hole_sdf, d)
            # perspective: the bottom opening shifts towards the image centre, uncovering the far wall
            hc = center + np.array([ct * hx - st * hy, st * hx + ct * hy])
            to_c = (size / 2 - hc) / (np.hypot(*(size / 2 - hc)) + 1e-9)
            off = 0.03 + 0.1 * np.hypot(*(hc - size / 2)) / size
            bx = hc[0] + to_c[0] * off * hr - center[0]
            by = hc[1] + to_c[1] * off * hr - center[1]
            d_through = np.hypot(ct * bx + st * by - lx, -st * bx + ct * by - ly) - hr * 0.9
            through = np.maximum(through, _coverage(d_through))
        chamfer_w = rng.uniform(1.5, 3.5) * max(sc, 0.5)
        face_sdf = np.maximum(face_sdf, -(hole_sdf - chamfer_w))
        outer_cov = _coverage(outer)
        # edge bevel and hole chamfers are tilted facets: shade them by their normal against the light
        nx, ny = _normals(outer)
        bevel = (outer > -bevel_w) * (nx * light[0] + ny * light[1])
        hnx, hny = _normals(hole_sdf)
        chamfer = ((hole_sdf > 0) & (hole_sdf < chamfer_w)) * -(hnx * light[0] + hny * light[1])
        wall = _coverage(hole_sdf) * (1 - through)
        extra += bevel_amp * (bevel + chamfer) - wall * (base * rng.uniform(0.4, 0.7))
        extra += wall * 0.15 * -(hnx * light[0] + hny * light[1])
        part_cov = outer_cov * (1 - through)
    else:
        r_in = size * rng.uniform(0.30, 0.37) * scale  # across-flats / 2
        r_ch = r_in * rng.uniform(0.93, 1.03)  # chamfer circle
        r_h = r_in * rng.uniform(0.46, 0.58)  # thread major radius
        r_cs = r_h * rng.uniform(1.08, 1.2)  # countersink outer radius
        r_t = r_h * rng.uniform(0.8, 0.87)  # through opening
        style = "turned" if rng.random() < 0.75 else "brushed"
        hexd = np.full(shape, -1e6)
        for k in range(3):
            nrm_a = theta + k * math.pi / 3
            hexd = np.maximum(hexd, np.abs(dx * math.cos(nrm_a) + dy * math.sin(nrm_a)))
        hexd = hexd - r_in
        outer = np.maximum(hexd, r_img - r_in * 1.1547 + 0.3 * sc)  # corners very slightly rounded
        outer_cov = _coverage(outer)
        through = _coverage(r_img - r_t)
        face_sdf = np.maximum(np.maximum(outer + bevel_w, r_img - r_ch), r_cs + 1.0 - r_img)
        chamfer = _smoothstep(-0.5, 0.5, r_img - r_ch) * (outer < 0)
        cs = (r_img >= r_h) & (r_img < r_cs)
        thread = (r_img >= r_t) & (r_img < r_h)
        pitch = max(1.9, rng.uniform(2.2, 3.4) * sc)
        depth = np.clip((r_img - r_t) / (r_h - r_t), 0.0, 1.0) ** 0.7
        rings = 0.5 + 0.5 * np.cos(2 * math.pi * (r_img - r_t) / pitch + rng.uniform(0, 6.3))
        nx, ny = _normals(outer)
        bevel = (outer > -bevel_w) * (nx * light[0] + ny * light[1])
        extra += chamfer * (bevel_amp * 1.3 * radial_lit - base * rng.uniform(0.05, 0.2))
        extra += cs * (-bevel_amp * 1.2 * radial_lit - base * 0.1)
        extra += thread * (
            -base * (1 - 0.45 * depth) + base * depth * 0.35 * rings - 0.12 * radial_lit * depth
        )
        extra += bevel_amp * bevel * (1 - chamfer)
        # turned top face: slight brightness change with radius
        extra += rng.uniform(-0.12, 0.12) * base * np.clip(r_img / r_in - 0.6, -0.6, 0.6)
        part_cov = outer_cov * (1 - through)

    # -- part luminance ----------------------------------------------------------------------------
    proj = ((xx - size / 2) * light[0] + (yy - size / 2) * light[1]) / size
    lum = base * (1.0 + gradient * 2.0 * proj)
    grain = _metal_grain(rng, size, sc, style, grain_angle, center)
    mottle = _aniso_noise(rng, shape, 0.0, rng.uniform(20, 60) * sc, rng.uniform(20, 60) * sc)
    # specular: a band across the grain (brushed metal smears the highlight) or a blob
    hl_amp = rng.uniform(0.04, 0.26)
    if rng.random() < 0.6:
        ga = _unit(grain_angle)
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
    lum += _nuisance_lines(rng, size, sc, grain_angle)
    lum += extra
    metal_tint = 1.0 + rng.normal(0.0, 0.025, 3)
    metal_tint /= metal_tint.mean()

    # -- background --------------------------------------------------------------------------------
    bg_base = rng.uniform(0.05, 0.28)
    bg = bg_base * (1.0 + 0.6 * gradient * 2.0 * proj)
    bg += bg_base * 0.25 * _aniso_noise(rng, shape, rng.uniform(0, math.pi), 40 * sc, 25 * sc)
    bg += bg_base * 0.12 * _aniso_noise(rng, shape, rng.uniform(0, math.pi), 1.2 * sc, 1.0 * sc)
    palette = np.array(
        [[1.0, 1.0, 1.0], [0.85, 1.05, 0.95], [0.85, 0.95, 1.2], [1.15, 1.0, 0.8], [1.05, 0.95, 0.95]]
    )
    bg_tint = palette[int(rng.integers(len(palette)))] + rng.normal(0.0, 0.03, 3)
    sh_off = -light * size * rng.uniform(0.015, 0.05)
    shadow = _box_blur(_shift(outer_cov, int(round(sh_off[0])), int(round(sh_off[1]))), max(1, int(6 * sc)))
    bg *= 1.0 - rng.uniform(0.3, 0.7) * shadow
    bg *= 1.0 - rng.uniform(0.5, 0.85) * through  # seen through a hole: deep and dim

    rgb = (lum * part_cov)[..., None] * metal_tint + (bg * (1 - part_cov))[..., None] * bg_tint

    # -- defect --------------------------------------------------------------------------------------
    face_cov = _coverage(face_sdf) * part_cov
    scene = _Scene(size=size, sc=sc, light=light, face_cov=face_cov, face_sdf=face_sdf, tint=metal_tint)
    mask = np.zeros(shape, dtype=np.uint8)
    label, defect_type = "ok", "none"
    if defect is not None:
        drng = np.random.default_rng(defect_seed)
        defect_type = str(drng.choice(DEFECT_TYPES)) if defect == "random" else defect
        rgb, alpha = _apply_defect(drng, scene, rgb, defect_type)
        mask = np.where(alpha > MASK_THRESHOLD, 255, 0).astype(np.uint8)
        label = "ng"

    # -- camera --------------------------------------------------------------------------------------
    rgb = rgb * rng.uniform(0.85, 1.15) + rng.uniform(-0.03, 0.03)
    rgb = _gauss_blur(rgb, rng.uniform(0.35, 0.85) * max(sc, 0.5))
    rgb = rgb + rng.normal(0.0, 1.0, rgb.shape) * rng.uniform(0.004, 0.018)
    img = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
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


# --------------------------------------------------------------------------------------------- defects


def _pick_center(drng: np.random.Generator, scene: _Scene, margin: float) -> np.ndarray:
    """A random pixel centre at least ``margin`` px inside the flat face."""
    for m in (margin, margin / 2, 1.0, -0.5):
        idx = np.flatnonzero(scene.face_sdf < -m)
        if idx.size:
            i = int(idx[int(drng.integers(idx.size))])
            return np.array([i % scene.size + 0.5, i // scene.size + 0.5])
    return np.array([scene.size / 2, scene.size / 2])


def _draw_scratch(drng: np.random.Generator, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size, sc = scene.size, scene.sc
    shape = (size, size)
    alpha = np.zeros(shape)
    add = np.zeros(shape)
    mul = np.ones(shape)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    c = _pick_center(drng, scene, 6 * sc)
    for _ in range(1 if drng.random() < 0.7 else 2):
        length = drng.uniform(0.18, 0.42) * size
        d = _unit(drng.uniform(0, 2 * math.pi))
        p = _unit(math.atan2(d[1], d[0]) + math.pi / 2)
        start = c - d * length / 2 + drng.normal(0, 3 * sc, 2)
        ctrl = np.array(
            [
                start,
                start + d * length / 3 + p * drng.uniform(-0.3, 0.3) * length,
                start + d * 2 * length / 3 + p * drng.uniform(-0.3, 0.3) * length,
                start + d * length,
            ]
        )
        pts = _bezier(ctrl, max(12, int(length / 3)))
        w = max(0.9, drng.uniform(1.0, 3.0) * sc)
        t = np.linspace(0.0, 1.0, len(pts))
        widths = w * (0.35 + 0.65 * np.sin(np.pi * t) ** 0.4)  # tapered ends
        a = _stroke_alpha(shape, pts, widths)
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


def _draw_crack(drng: np.random.Generator, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
            pts.append(pts[-1] + _unit(h) * step * drng.uniform(0.6, 1.4))
        return np.array(pts)

    n_main = max(4, int(length / step))
    main = walk(c - _unit(heading0) * length / 2, heading0, n_main)
    w0 = max(1.0, drng.uniform(1.1, 2.2) * sc)
    t = np.linspace(0, 1, len(main))
    alpha = _stroke_alpha(shape, main, w0 * (0.3 + 0.7 * np.sin(np.pi * t) ** 0.5))
    for _ in range(int(drng.integers(1, 4))):
        j = int(drng.integers(len(main) // 5, max(len(main) // 5 + 1, 4 * len(main) // 5)))
        heading = heading0 + drng.choice([-1, 1]) * drng.uniform(0.5, 1.1)
        br = walk(main[j], heading, max(3, int(n_main * drng.uniform(0.2, 0.5))))
        tb = np.linspace(0, 1, len(br))
        alpha = np.maximum(alpha, _stroke_alpha(shape, br, w0 * 0.75 * (1 - 0.7 * tb)))
    mul = 1.0 - alpha * drng.uniform(0.55, 0.85)
    return alpha, mul, np.zeros(shape)


def _draw_pit(drng: np.random.Generator, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        inside = _coverage(sdf)
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


def _draw_dent(drng: np.random.Generator, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size, sc = scene.size, scene.sc
    sig = drng.uniform(5.0, 13.0) * sc
    c = _pick_center(drng, scene, 1.5 * sig)
    aspect = drng.uniform(1.0, 1.8)
    ang = drng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    u = ((xx - c[0]) * math.cos(ang) + (yy - c[1]) * math.sin(ang)) / (sig * aspect)
    v = (-(xx - c[0]) * math.sin(ang) + (yy - c[1]) * math.cos(ang)) / sig
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


def _draw_stain(drng: np.random.Generator, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = scene.size
    shape = (size, size)
    rad = drng.uniform(0.05, 0.12) * size
    c = _pick_center(drng, scene, 0.6 * rad)
    aspect = drng.uniform(1.0, 1.7)
    ang = drng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    u = ((xx - c[0]) * math.cos(ang) + (yy - c[1]) * math.sin(ang)) / (rad * aspect)
    v = (-(xx - c[0]) * math.sin(ang) + (yy - c[1]) * math.cos(ang)) / rad
    cells = max(4, int(size / (rad * 0.6)))
    f = 1.0 - (u * u + v * v) + 0.55 * _lowres_noise(drng, shape, cells)
    alpha = _smoothstep(0.0, drng.uniform(0.25, 0.6), f)
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


def _apply_defect(
    drng: np.random.Generator, scene: _Scene, rgb: np.ndarray, defect_type: str
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


# --------------------------------------------------------------------------------------------- public


def _check_kind(kind: str, allowed: tuple[str, ...]) -> None:
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
    _check_kind(kind, KINDS)
    if size < _MIN_SIZE:
        raise ValueError(f"size must be at least {_MIN_SIZE} px; got {size}")
    if defect is not None and defect != "random" and defect not in DEFECT_TYPES:
        raise ValueError(f"defect must be None, 'random' or one of {', '.join(DEFECT_TYPES)}; got {defect!r}")
    if kind == "mixed":
        kind = _PART_KINDS[int(rng.integers(2))]
    sample, _ = _render(rng, kind, int(size), defect)
    return sample


def generate_dataset(
    out_dir: str | Path,
    *,
    count: int,
    seed: int,
    kind: str = "mixed",
    size: int = 256,
    ng_fraction: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``count`` samples under ``out_dir`` and return it.

    Layout: ``ok/ok_00012.png``, ``ng/ng_00012.png``, ``masks/ng_00012.png`` (mode L, 0/255) and
    ``manifest.csv`` (``file,label,defect_type,kind,mask,mask_area_px``). Sample ``i`` comes from
    ``default_rng([seed, i])``: its label, kind and pixels do not depend on ``count``. PNGs left over in
    ``ok/``, ``ng/`` and ``masks/`` from an earlier run with this naming are removed first so that the
    folders always match the manifest.
    """
    _check_kind(kind, KINDS)
    if count < 0:
        raise ValueError(f"count must be >= 0; got {count}")
    if not 0.0 <= ng_fraction <= 1.0:
        raise ValueError(f"ng_fraction must be within [0, 1]; got {ng_fraction}")
    if size < _MIN_SIZE:
        raise ValueError(f"size must be at least {_MIN_SIZE} px; got {size}")
    out = Path(out_dir)
    dirs = {name: out / name for name in ("ok", "ng", "masks")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            if old.is_file() and _NAME_RE.match(old.name):
                old.unlink()
    digits = max(5, len(str(max(count - 1, 0))))
    rows: list[list[str | int]] = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        is_ng = bool(rng.random() < ng_fraction)
        part_kind = _PART_KINDS[int(rng.integers(2))] if kind == "mixed" else kind
        s = render_part(rng, kind=part_kind, size=size, defect="random" if is_ng else None)
        name = f"{s.label}_{i:0{digits}d}.png"
        s.image.save(dirs[s.label] / name, compress_level=1)
        if is_ng:
            Image.fromarray(s.mask, "L").save(dirs["masks"] / name, compress_level=1)
            area = int(np.count_nonzero(s.mask))
            rows.append([f"ng/{name}", "ng", s.defect_type, s.kind, f"masks/{name}", area])
        else:
            rows.append([f"ok/{name}", "ok", "none", s.kind, "", 0])
        if progress is not None:
            progress(i + 1, count)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "defect_type", "kind", "mask", "mask_area_px"])
        writer.writerows(rows)
    return out


def _belt_texture(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """A seamlessly tiling rubber belt (period ``width``) with rails above and below; RGB float."""
    sc = height / 270.0
    rail = max(6, int(height * 0.09))
    belt = 0.16 + 0.02 * _aniso_noise(rng, (height, width), 0.0, 60 * sc, 2 * sc)
    belt += 0.012 * _aniso_noise(rng, (height, width), 0.0, 1.0, 1.0)
    xs = np.arange(width) + 0.5
    seam_every = width // max(1, round(width / (height * 1.6)))
    d = np.abs(((xs + seam_every / 2) % seam_every) - seam_every / 2)
    belt -= 0.05 * np.clip(1.5 - d, 0, 1)[None, :]
    tex = belt[..., None] * np.array([0.95, 1.0, 1.04])
    rail_lum = 0.42 + 0.03 * _aniso_noise(rng, (rail, width), 0.0, 80 * sc, 0.6 * sc)
    rail_lum = rail_lum * np.linspace(1.1, 0.75, rail)[:, None]
    tex[:rail] = rail_lum[..., None]
    tex[height - rail :] = rail_lum[::-1][..., None]
    return tex, rail, height - rail


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
    tile = max(_MIN_SIZE, int((bottom - top) * 0.78))
    nuts = []
    for k in range(parts):
        ng = ng_every > 0 and (k + 1) % ng_every == 0
        sample, cov = _render(np.random.default_rng([seed, k]), "nut", tile, "random" if ng else None)
        rgb = np.asarray(sample.image, dtype=np.float32) / 255.0
        sh = _box_blur(cov, max(2, tile // 25)).astype(np.float32)
        y = rng.uniform(top + tile / 2, bottom - tile / 2) if bottom - top > tile else (top + bottom) / 2
        nuts.append({"rgb": rgb, "a": cov.astype(np.float32)[..., None], "sh": sh, "y": y, "sample": sample})
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
            top_y = int(round(nut["y"] - tile / 2))
            if defect is not None and nut["sample"].mask.any():
                ax0, ay0, ax1, ay1 = max(left, 0), max(top_y, 0), min(left + tile, width), min(top_y + tile, height)
                if ax0 < ax1 and ay0 < ay1:
                    np.maximum(defect[ay0:ay1, ax0:ax1], nut["sample"].mask[ay0 - top_y:ay1 - top_y,
                                                                             ax0 - left:ax1 - left],
                               out=defect[ay0:ay1, ax0:ax1])
            for off, blend in ((sh_off, "shadow"), (0, "part")):
                fx0, fy0 = left + off, top_y + off
                ax0, ay0 = max(fx0, 0), max(fy0, 0)
                ax1, ay1 = min(fx0 + tile, width), min(fy0 + tile, height)
                if ax0 >= ax1 or ay0 >= ay1:
                    continue
                tsl = (slice(ay0 - fy0, ay1 - fy0), slice(ax0 - fx0, ax1 - fx0))
                region = frame[ay0:ay1, ax0:ax1]
                if blend == "shadow":
                    region *= (1.0 - 0.6 * nut["sh"][tsl])[..., None]
                else:
                    a = nut["a"][tsl]
                    region *= 1.0 - a
                    region += a * nut["rgb"][tsl]
            s = nut["sample"]
            infos.append(
                {
                    "id": k,
                    "x": left + tile // 2,
                    "y": top_y + tile // 2,
                    "label": s.label,
                    "defect_type": s.defect_type,
                    "bbox": (max(left, 0), max(top_y, 0), min(left + tile, width), min(top_y + tile, height)),
                }
            )
        frame += noise[i % 4]
        frame *= 255.0
        frame += 0.5
        np.clip(frame, 0.0, 255.0, out=frame)
        out = frame.astype(np.uint8)
        info: dict = {"index": i, "time_s": i / fps, "parts": infos}
        if defect is not None:
            info["defect_mask"] = defect      # uint8 0/255: the defect pixels in view (all zero: an OK frame)
        yield out, info


def generate_conveyor_dataset(out_dir: str | Path, *, count: int, seed: int, frames_per_clip: int = 8,
                              progress: Callable[[int, int], None] | None = None) -> Path:
    """``count`` whole conveyor frames as OK/NG images, in :func:`generate_dataset`'s layout.

    A frame is NG when a defect pixel is in view (its mask: those pixels). Clip ``j`` uses seed
    ``[seed, j]`` (``conveyor_frames``), and ``frames_per_clip`` frames are drawn from it at random times, so
    frames show nuts entering, centred and leaving. Teaches a part classifier the conveyor scene, which whole
    video frames show and single-part images do not.
    """
    out = Path(out_dir)
    dirs = {name: out / name for name in ("ok", "ng", "masks")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    rows: list[list[str | int]] = []
    digits = max(5, len(str(max(count - 1, 0))))
    done = 0
    clip = 0
    while done < count:
        rng = np.random.default_rng([seed, clip, 7])
        wanted = set(rng.choice(150, size=frames_per_clip, replace=False).tolist())
        for frame, info in conveyor_frames(seed=int(seed * 100003 + clip), n_frames=max(wanted) + 1, masks=True):
            if info["index"] not in wanted or done >= count:
                continue
            mask = info["defect_mask"]
            label = "ng" if mask.any() else "ok"
            name = f"{label}_{done:0{digits}d}.png"
            Image.fromarray(frame).save(dirs[label] / name, compress_level=1)
            if label == "ng":
                Image.fromarray(mask, "L").save(dirs["masks"] / name, compress_level=1)
                types = sorted({p["defect_type"] for p in info["parts"] if p["label"] == "ng"})
                rows.append([f"ng/{name}", "ng", "+".join(types), "conveyor", f"masks/{name}",
                             int(np.count_nonzero(mask))])
            else:
                rows.append([f"ok/{name}", "ok", "none", "conveyor", "", 0])
            done += 1
            if progress is not None:
                progress(done, count)
        clip += 1
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "defect_type", "kind", "mask", "mask_area_px"])
        writer.writerows(rows)
    return out

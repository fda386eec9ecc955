"""The two part kinds as geometry and shading: a plate (rectangular, rounded or disc, maybe drilled) and
a hex nut seen from above (top face, chamfer ring, countersink, threaded through hole), and the surface
grain of machined metal (brushed, turned or face-milled) with nuisance marks that are not defects.

Every function draws its random numbers from the generator passed in, in a fixed order: the rendered
samples depend on that order, so a change here changes every synthetic image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cam_core.synth.raster import aniso_noise, coverage, normals, ring_grain, smoothstep, unit

__all__ = ["Body", "Finish", "Pose", "draw_finish", "draw_pose", "metal_grain", "nuisance_lines", "nut_body",
           "plate_body"]


@dataclass
class Pose:
    """Where the part lies and where the light comes from, with the pixel grids derived from that."""

    size: int
    sc: float                 # pixel lengths are given for 256 px images and scaled by this
    theta: float              # rotation of the part
    scale: float
    center: np.ndarray
    light: np.ndarray         # unit 2-D vector towards the light (x right, y down)
    grain_angle: float
    defect_seed: int          # defect parameters live in their own stream
    xx: np.ndarray
    yy: np.ndarray
    dx: np.ndarray            # pixel offsets from the part centre
    dy: np.ndarray
    lx: np.ndarray            # the same in part coordinates
    ly: np.ndarray
    r_img: np.ndarray         # distance from the part centre
    radial_lit: np.ndarray    # >0 where the outward radial faces the light

    @property
    def shape(self) -> tuple[int, int]:
        return (self.size, self.size)


def draw_pose(rng: np.random.Generator, kind: str, size: int) -> Pose:
    """Pose, light and grain direction (all from ``rng``, in a fixed order)."""
    sc = size / 256.0
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    if kind == "nut":
        theta = rng.uniform(-math.pi, math.pi)
    else:
        theta = rng.uniform(-0.35, 0.35) + rng.choice([0.0, math.pi / 2])
    scale = rng.uniform(0.9, 1.06)
    center = size / 2 + rng.uniform(-0.04, 0.04, 2) * size
    light_angle = rng.uniform(-math.pi, math.pi)
    light = unit(light_angle)
    grain_angle = theta + (rng.choice([0.0, math.pi / 2]) if kind == "plate" else rng.uniform(0, math.pi))
    defect_seed = int(rng.integers(0, 2**62))  # defect parameters live in their own stream

    dx, dy = xx - center[0], yy - center[1]
    ct, st = math.cos(theta), math.sin(theta)
    lx, ly = ct * dx + st * dy, -st * dx + ct * dy
    r_img = np.hypot(dx, dy)
    radial_x, radial_y = dx / (r_img + 1e-9), dy / (r_img + 1e-9)
    radial_lit = radial_x * light[0] + radial_y * light[1]  # >0 where the outward radial faces the light
    return Pose(size=size, sc=sc, theta=theta, scale=scale, center=center, light=light, grain_angle=grain_angle,
                defect_seed=defect_seed, xx=xx, yy=yy, dx=dx, dy=dy, lx=lx, ly=ly, r_img=r_img,
                radial_lit=radial_lit)


@dataclass
class Finish:
    """Surface brightness, lighting gradient, grain strength and edge bevel of one part."""

    base: float
    gradient: float
    grain_amp: float
    bevel_w: float
    bevel_amp: float


def draw_finish(rng: np.random.Generator, sc: float) -> Finish:
    """The :class:`Finish` (from ``rng``, in a fixed order)."""
    base = rng.uniform(0.3, 0.66)
    gradient = rng.uniform(0.0, 0.22)
    grain_amp = rng.uniform(0.015, 0.065)
    bevel_w = rng.uniform(1.5, 4.0) * max(sc, 0.5)
    bevel_amp = rng.uniform(0.12, 0.3)
    return Finish(base=base, gradient=gradient, grain_amp=grain_amp, bevel_w=bevel_w, bevel_amp=bevel_amp)


@dataclass
class Body:
    """A part's silhouette and the shading that belongs to its shape."""

    outer_cov: np.ndarray     # coverage of the outline (holes included)
    part_cov: np.ndarray      # coverage of the part (through holes excluded)
    through: np.ndarray       # coverage of through holes (background seen below, dimmed)
    face_sdf: np.ndarray      # signed distance to the flat face's edge, negative inside
    extra: np.ndarray         # region-specific shading added to the flat-face luminance
    style: str                # the surface grain: brushed, turned or milled


def metal_grain(
    rng: np.random.Generator, size: int, sc: float, style: str, angle: float, center: np.ndarray
) -> np.ndarray:
    """Unit-ish variance grain for the part surface: ``brushed``, ``turned`` or ``milled``."""
    shape = (size, size)
    if style == "brushed":
        fine = aniso_noise(rng, shape, angle, rng.uniform(10, 45) * sc, rng.uniform(0.35, 0.9) * sc)
        coarse = aniso_noise(rng, shape, angle, rng.uniform(40, 120) * sc, rng.uniform(2.0, 5.0) * sc)
        g = fine + rng.uniform(0.3, 0.7) * coarse
    else:
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        if style == "turned":
            c = center
        else:  # face milling: arcs of a cutter whose centre lies well outside the part
            c = center + unit(angle) * size * rng.uniform(0.8, 1.8)
        r = np.hypot(xx - c[0], yy - c[1])
        g = ring_grain(rng, r, rng.uniform(0.4, 1.0) * sc)
        # tool marks are never perfect: let their strength wander over the surface
        g *= 0.75 + 0.25 * aniso_noise(rng, shape, angle, 30 * sc, 30 * sc)
        g += 0.3 * aniso_noise(rng, shape, angle, 20 * sc, 0.8 * sc)
    return g / (g.std() + 1e-12)


def nuisance_lines(rng: np.random.Generator, size: int, sc: float, angle: float) -> np.ndarray:
    """Faint, straight, full-length brushing lines along the grain (not defects)."""
    out = np.zeros((size, size))
    n = int(rng.integers(0, 4))
    if n == 0:
        return out
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    for _ in range(n):
        a = angle + rng.normal(0.0, 0.03)
        nrm = unit(a + math.pi / 2)
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


def plate_body(rng: np.random.Generator, p: Pose, f: Finish) -> Body:
    """A plate: outline, drilled holes with their chamfers and walls, edge bevel."""
    size, sc, shape, light, center = p.size, p.sc, p.shape, p.light, p.center
    lx, ly, scale, ct, st = p.lx, p.ly, p.scale, math.cos(p.theta), math.sin(p.theta)
    base, bevel_w, bevel_amp = f.base, f.bevel_w, f.bevel_amp
    through = np.zeros(shape)
    extra = np.zeros(shape)
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
        through = np.maximum(through, coverage(d_through))
    chamfer_w = rng.uniform(1.5, 3.5) * max(sc, 0.5)
    face_sdf = np.maximum(face_sdf, -(hole_sdf - chamfer_w))
    outer_cov = coverage(outer)
    # edge bevel and hole chamfers are tilted facets: shade them by their normal against the light
    nx, ny = normals(outer)
    bevel = (outer > -bevel_w) * (nx * light[0] + ny * light[1])
    hnx, hny = normals(hole_sdf)
    chamfer = ((hole_sdf > 0) & (hole_sdf < chamfer_w)) * -(hnx * light[0] + hny * light[1])
    wall = coverage(hole_sdf) * (1 - through)
    extra += bevel_amp * (bevel + chamfer) - wall * (base * rng.uniform(0.4, 0.7))
    extra += wall * 0.15 * -(hnx * light[0] + hny * light[1])
    part_cov = outer_cov * (1 - through)
    return Body(outer_cov=outer_cov, part_cov=part_cov, through=through, face_sdf=face_sdf, extra=extra, style=style)


def nut_body(rng: np.random.Generator, p: Pose, f: Finish) -> Body:
    """A hex nut from above: hexagonal outline, chamfer ring, countersink and threaded through hole."""
    size, sc, shape, light, theta = p.size, p.sc, p.shape, p.light, p.theta
    dx, dy, r_img, radial_lit, scale = p.dx, p.dy, p.r_img, p.radial_lit, p.scale
    base, bevel_w, bevel_amp = f.base, f.bevel_w, f.bevel_amp
    extra = np.zeros(shape)
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
    outer_cov = coverage(outer)
    through = coverage(r_img - r_t)
    face_sdf = np.maximum(np.maximum(outer + bevel_w, r_img - r_ch), r_cs + 1.0 - r_img)
    chamfer = smoothstep(-0.5, 0.5, r_img - r_ch) * (outer < 0)
    cs = (r_img >= r_h) & (r_img < r_cs)
    thread = (r_img >= r_t) & (r_img < r_h)
    pitch = max(1.9, rng.uniform(2.2, 3.4) * sc)
    depth = np.clip((r_img - r_t) / (r_h - r_t), 0.0, 1.0) ** 0.7
    rings = 0.5 + 0.5 * np.cos(2 * math.pi * (r_img - r_t) / pitch + rng.uniform(0, 6.3))
    nx, ny = normals(outer)
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
    return Body(outer_cov=outer_cov, part_cov=part_cov, through=through, face_sdf=face_sdf, extra=extra, style=style)

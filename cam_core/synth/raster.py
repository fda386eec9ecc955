"""Raster helpers for the synthetic parts: anti-aliased coverage, blurs, correlated noise, strokes.

All of them are pure numpy (plus Pillow's bicubic resize in :func:`lowres_noise`); every random number
comes from the generator passed in.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

__all__ = ["aniso_noise", "bezier", "box_blur", "coverage", "gauss_blur", "lowres_noise", "noise_1d", "normals",
           "ring_grain", "shift", "smoothstep", "stroke_alpha", "unit"]


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def coverage(sdf: np.ndarray) -> np.ndarray:
    """Approximate pixel coverage of the region ``sdf < 0`` (sdf in pixels): a 1-px anti-aliased edge."""
    return np.clip(0.5 - sdf, 0.0, 1.0)


def _gauss_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gauss_blur(img: np.ndarray, sigma: float) -> np.ndarray:
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


def box_blur(img: np.ndarray, radius: int, passes: int = 2) -> np.ndarray:
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


def shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Translate a 2-D array by whole pixels, filling with zeros (no wrap-around)."""
    h, w = img.shape
    out = np.zeros_like(img)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = img[ys, xs]
    return out


def aniso_noise(
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


def noise_1d(rng: np.random.Generator, n: int, corr: float) -> np.ndarray:
    """Unit-variance 1-D Gaussian noise with correlation length ``corr`` samples."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spec *= np.exp(-2.0 * math.pi**2 * (f * corr) ** 2)
    out = np.fft.irfft(spec, n=n)
    return out / (out.std() + 1e-12)


def ring_grain(rng: np.random.Generator, r: np.ndarray, corr: float) -> np.ndarray:
    """Concentric tool marks: 1-D noise looked up by the distance ``r`` (px) from a centre."""
    n = int(r.max()) + 8
    line = noise_1d(rng, n, corr) + noise_1d(rng, n, corr * 5.0) * 0.35
    return np.interp(r, np.arange(n, dtype=np.float64), line)


def lowres_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: a ``cells``×``cells`` random grid upsampled bicubically."""
    grid = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    img = Image.fromarray(grid, mode="F").resize((shape[1], shape[0]), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float64)


def bezier(ctrl: np.ndarray, n: int) -> np.ndarray:
    """Points on a Bezier curve of any degree (de Casteljau), ``ctrl`` is k×2."""
    t = np.linspace(0.0, 1.0, n)[:, None, None]
    pts = np.broadcast_to(ctrl[None], (n, *ctrl.shape)).copy()
    while pts.shape[1] > 1:
        pts = pts[:, :-1] * (1.0 - t) + pts[:, 1:] * t
    return pts[:, 0]


def stroke_alpha(shape: tuple[int, int], pts: np.ndarray, widths: np.ndarray) -> np.ndarray:
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


def unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def normals(sdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit outward normals (x, y) of a signed distance field."""
    gy, gx = np.gradient(sdf)
    n = np.hypot(gx, gy) + 1e-9
    return gx / n, gy / n

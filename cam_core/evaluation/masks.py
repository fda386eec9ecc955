"""Defect masks: binary H×W arrays, read from files or uploads and fitted to their image.

A pixel ≥ 128 is defect (masks whose values are all 0/1 use ``> 0``), see :func:`binarize_mask`;
:func:`load_mask` reads mask files, :func:`decode_mask` uploaded bytes (with the image loader's limits) and
:func:`fit_mask` resizes a mask to its image (nearest neighbour). Which mask belongs to which image is
:mod:`cam_core.data.dataset`'s rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cam_core.errors import InputError

__all__ = ["binarize_mask", "decode_mask", "fit_mask", "load_mask"]


def binarize_mask(values: np.ndarray) -> np.ndarray:
    """A single-channel mask → H×W bool: a pixel ≥ 128 is defect (``> 0`` when every value is 0 or 1)."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"a mask is H×W, not an array of shape {values.shape}")
    return values > (127 if values.max(initial=0) > 1 else 0)


def load_mask(path: str | Path) -> np.ndarray:
    """A binary mask file → H×W bool (see :func:`binarize_mask`)."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            _check_mask_size(opened.size, path.name)      # from the header, before the pixels are decoded
            opened.load()
            picture = opened if opened.mode in ("1", "L", "P", "I", "I;16") else opened.convert("L")
            values = np.asarray(picture)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"mask {path.name} cannot be read ({str(exc)[:200]})") from None
    if values.ndim != 2:
        raise InputError(f"mask {path.name} is not a single-channel image")
    return binarize_mask(values)


def _check_mask_size(size: tuple[int, int], name: str) -> None:
    """A mask's declared size, bounded like an image's (:data:`cam_core.data.imaging.MAX_IMAGE_PIXELS`)."""
    from cam_core.data.imaging import MAX_IMAGE_PIXELS

    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"mask {name} declares {width}×{height} pixels; masks above "
                         f"{MAX_IMAGE_PIXELS / 1e6:.0f} million pixels are refused")


def decode_mask(data: bytes, name: str = "mask") -> np.ndarray:
    """Uploaded mask bytes → H×W bool (see :func:`binarize_mask`).

    Decoded with :func:`cam_core.data.imaging.load_image`, so the image limits apply (file size, pixel
    count, formats, EXIF orientation) and a bad file raises :class:`InputError`; colour masks are
    converted to grayscale first.
    """
    from cam_core.data.imaging import load_image

    loaded = load_image(data, name=name)
    return binarize_mask(np.asarray(loaded.image.convert("L")))


def fit_mask(mask_bool: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """``mask_bool`` at ``size = (W, H)``: unchanged (note ``None``), or resized nearest-neighbour with a note."""
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a mask is H×W, not an array of shape {mask.shape}")
    width, height = int(size[0]), int(size[1])
    if mask.shape == (height, width):
        return mask, None
    picture = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L")
    resized = np.asarray(picture.resize((width, height), Image.Resampling.NEAREST)) >= 128
    note = (f"mask {mask.shape[1]}×{mask.shape[0]} px resized to the image's {width}×{height} px "
            "(nearest neighbour)")
    return resized, note

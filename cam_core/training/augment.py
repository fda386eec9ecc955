"""Augmentation, per batch with torch ops on the training device.

One affine resampling (``grid_sample``, reflection padding) per image plus a photometric jitter:

- horizontal and vertical flips (p = ½ each), rotation uniform in ±10°;
- random resized crop: area 80–100 % of the working copy, aspect ratio 0.9–1.1 of its own, anywhere inside;
- brightness ×U(0.8, 1.2), contrast ×U(0.8, 1.2) around the image mean;
- ImageNet mean/std normalisation (:func:`normalize`).

Defect masks follow the same geometry.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cam_core.checkpoints import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["AUGMENTATION", "WORKING_SCALE", "augment_batch", "augment_with_maps", "augment_with_masks", "normalize"]

WORKING_SCALE = 1.15            # training images are kept at 1.15× their network input size
ROTATION_DEG = 10.0
CROP_AREA = (0.8, 1.0)
CROP_ASPECT = (0.9, 1.1)
BRIGHTNESS = 0.2
CONTRAST = 0.2

#: The augmentation in words (the model card's ``training.augmentation``).
AUGMENTATION = [
    "random horizontal flip (p=0.5)",
    "random vertical flip (p=0.5)",
    f"random rotation ±{ROTATION_DEG:g}° (reflection padding)",
    f"random resized crop: area {CROP_AREA[0]:.0%}–{CROP_AREA[1]:.0%}, aspect {CROP_ASPECT[0]}–{CROP_ASPECT[1]}, "
    f"from a copy at {WORKING_SCALE}× the network input size",
    f"brightness ×U({1 - BRIGHTNESS:g}, {1 + BRIGHTNESS:g})",
    f"contrast ×U({1 - CONTRAST:g}, {1 + CONTRAST:g})",
    "ImageNet mean/std normalisation",
]


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def augment_batch(images: Tensor, out_size: int | tuple[int, int], generator: torch.Generator) -> Tensor:
    """uint8 ``N×3×H×W`` → augmented float ``N×3×h×w`` in [0, 1] (flips, rotation, crop, jitter).

    ``out_size``: ``S`` (square) or ``(h, w)``, of about the input's aspect ratio ``r = H/W``.
    One affine map per image sends output coordinates ``u ∈ [-1, 1]²`` to input coordinates
    ``A⁻¹R(θ)A·diag(w·f_x, h·f_y)·u + c`` with ``A = diag(1, r)`` (so the rotation is a rotation in
    pixels), crop half-extents ``w, h``, flips ``f = ±1`` and centre ``c``.
    Random numbers come from ``generator`` (CPU), so a seed fixes the augmentation on any device.
    """
    return augment_with_masks(images, None, out_size, generator)[0]


def _affine(n: int, ratio: float, generator: torch.Generator) -> Tensor:
    """``N×2×3`` affine maps of :func:`augment_batch` (crop, rotation, flips) for images of aspect ``ratio``."""
    area = _uniform(n, *CROP_AREA, generator)
    log_aspect = _uniform(n, math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1]), generator)
    w = torch.sqrt(area * torch.exp(log_aspect)).clamp(max=1.0)
    h = torch.sqrt(area / torch.exp(log_aspect)).clamp(max=1.0)
    cx = (1 - w) * _uniform(n, -1, 1, generator)
    cy = (1 - h) * _uniform(n, -1, 1, generator)
    angle = torch.deg2rad(_uniform(n, -ROTATION_DEG, ROTATION_DEG, generator))
    fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos * w * fx, -sin * ratio * h * fy, cx], dim=1),
                        torch.stack([sin / ratio * w * fx, cos * h * fy, cy], dim=1)], dim=1)


def augment_with_masks(images: Tensor, masks: Tensor | None, out_size: int | tuple[int, int],
                       generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """:func:`augment_batch`, moving uint8 ``N×1×H×W`` ``masks`` by the same geometry → float [0, 1] masks."""
    x, moved, _ = augment_with_maps(images, masks, None, out_size, generator)
    return x, moved


def augment_with_maps(images: Tensor, masks: Tensor | None, maps: Tensor | None, out_size: int | tuple[int, int],
                      generator: torch.Generator) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """:func:`augment_with_masks`, also moving float ``N×k×h×w`` ``maps`` (any grid over the same field of
    view, e.g. a teacher's CAM) by the same geometry, bilinearly, to the output size. The random numbers drawn
    do not depend on ``maps``."""
    out_h, out_w = (out_size, out_size) if isinstance(out_size, int) else out_size
    n = images.shape[0]
    theta = _affine(n, images.shape[-2] / images.shape[-1], generator)
    brightness = _uniform(n, 1 - BRIGHTNESS, 1 + BRIGHTNESS, generator).view(n, 1, 1, 1)
    contrast = _uniform(n, 1 - CONTRAST, 1 + CONTRAST, generator).view(n, 1, 1, 1)
    device = images.device
    x = images.to(torch.float32).div_(255.0)
    if masks is not None:
        x = torch.cat([x, masks.to(device=device, dtype=torch.float32).div_(255.0)], dim=1)
    grid = F.affine_grid(theta.to(device), [n, x.shape[1], out_h, out_w], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    moved_maps = None if maps is None else F.grid_sample(maps.to(device=device, dtype=torch.float32), grid,
                                                         mode="bilinear", padding_mode="reflection",
                                                         align_corners=False)
    moved_masks = x[:, 3:4] if masks is not None else None
    x = x[:, :3]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast.to(device) + mean) * brightness.to(device)
    return x.clamp_(0.0, 1.0), moved_masks, moved_maps


def normalize(x: Tensor) -> Tensor:
    """ImageNet mean/std normalisation of float [0, 1] ``N×3×H×W``, channels-last."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

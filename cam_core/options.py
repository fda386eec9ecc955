"""Options as types: every choice the CLI, the app and the core offer, and the settings of a view and of a video run.

One home for each list of choices. The CLI's ``choices=`` and the app's widgets read these enums; the values
are the strings users type (``--method gradcam++``), so ``Method.GRADCAM_PP == "gradcam++"``. The settings
objects check their ranges once, when they are made (:class:`ViewSettings`, :class:`VideoSettings`), so a
bad value (``--opacity 5``, ``--opacity nan``) is refused with one clear :class:`~cam_core.errors.InputError`
line before any model is loaded or any work starts.

This module imports nothing from the rest of ``cam_core`` but its errors, so every layer can use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, TypeVar

from cam_core.errors import InputError

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "Colormap", "Device", "Freeze", "Layout", "Method", "Pretrained",
           "Resize", "ScaleMode", "VideoSettings", "ViewSettings", "choices", "parse_option", "upload_types"]


class Method(StrEnum):
    """How the maps are made: CAM (the class weights, exact) or a gradient-weighted method."""

    CAM = "cam"
    GRADCAM = "gradcam"
    GRADCAM_PP = "gradcam++"


class ScaleMode(StrEnum):
    """The colour scale of a map (:mod:`cam_core.explain.render`): each class's positive evidence with the
    strongest colour set by the verdict's certainty (default), the same on the model's fixed scale or per image
    (shape only), one signed NG − OK map, both signs per map, or raw maps."""

    CERTAINTY = "certainty"
    HALVES = "halves"
    HALVES_IMAGE = "halves-image"
    SIGNED = "signed"
    EVIDENCE = "evidence"
    SHARED = "shared"
    PER_MAP = "per-map"
    RAW = "raw"


class Layout(StrEnum):
    """A video frame: the NG map over the frame, or OK | NG side by side."""

    OVERLAY = "overlay"
    SIDE_BY_SIDE = "side-by-side"


class Device(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Resize(StrEnum):
    """How an image becomes the network's input: squashed to a square, or at its own aspect ratio."""

    SQUARE = "square"
    ASPECT = "aspect"


class Freeze(StrEnum):
    """Training: keep the early ImageNet stages frozen (``auto``) or train everything (``none``)."""

    AUTO = "auto"
    NONE = "none"


class Pretrained(StrEnum):
    """Training: start from ImageNet weights where this machine has them (``auto``), always, or never."""

    AUTO = "auto"
    IMAGENET = "imagenet"
    NONE = "none"


class Colormap(StrEnum):
    JET = "jet"
    INFERNO = "inferno"
    VIRIDIS = "viridis"
    TURBO = "turbo"
    GRAY = "gray"
    COOLWARM = "coolwarm"


#: File types, defined once: the loaders, folder listings and the app's upload boxes read these.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif")

E = TypeVar("E", bound=StrEnum)


def choices(enum: type[StrEnum]) -> list[str]:
    """The values of ``enum`` in order, for ``argparse`` ``choices=`` and select boxes."""
    return [member.value for member in enum]


def upload_types(extensions: tuple[str, ...]) -> list[str]:
    """Extensions without their dot (``["png", "jpg", …]``), as upload widgets take them."""
    return [ext.lstrip(".") for ext in extensions]


def parse_option(enum: type[E], value: str, what: str) -> E:
    """``value`` as a member of ``enum``, or :class:`InputError`: "unknown {what} 'x'; choose one of a, b"."""
    try:
        return enum(value)
    except ValueError:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(choices(enum))}") from None


# --------------------------------------------------------------------------- ranges, checked here only


def _opacity_problem(opacity: float) -> str | None:
    ok = isinstance(opacity, int | float) and 0.0 <= float(opacity) <= 1.0   # NaN fails both comparisons
    return None if ok else f"opacity must be between 0 and 1, not {opacity}"


def _range_problem(value_range: tuple[float, float] | None) -> str | None:
    if value_range is None:
        return None
    ok = (len(value_range) == 2 and all(isinstance(v, int | float) and math.isfinite(v) for v in value_range)
          and value_range[0] < value_range[1])
    return None if ok else f"value_range must be two finite numbers lo < hi, not {value_range}"


def _raise_problems(problems: list[str | None]) -> None:
    found = [p for p in problems if p]
    if found:
        raise InputError("; ".join(found))


def _coerce(settings: Any, **enums: tuple[type[StrEnum], str]) -> list[str | None]:
    """Turn the string fields named in ``enums`` into their enum members (frozen: ``object.__setattr__``);
    returns one problem per unknown value."""
    problems: list[str | None] = []
    for name, (enum, what) in enums.items():
        try:
            object.__setattr__(settings, name, parse_option(enum, getattr(settings, name), what))
        except InputError as exc:
            problems.append(str(exc))
    return problems


@dataclass(frozen=True)
class ViewSettings:
    """How maps are drawn (never affects the verdict): colour scale, opacity ``0 ≤ α ≤ 1``, colormap, and the
    fixed ``(lo, hi)`` scale in force (:func:`cam_core.explain.scale.scale_in_force`) with ``scale_source``, where
    it came from in words. Made with strings or enums; raises :class:`InputError` when a value is out of range."""

    mode: ScaleMode = ScaleMode.CERTAINTY
    opacity: float = 0.5
    colormap: Colormap = Colormap.JET
    value_range: tuple[float, float] | None = None
    scale_source: str | None = None

    def __post_init__(self) -> None:
        problems = _coerce(self, mode=(ScaleMode, "colour scale"), colormap=(Colormap, "colormap"))
        _raise_problems([*problems, _opacity_problem(self.opacity), _range_problem(self.value_range)])

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"normalization": self.mode.value, "opacity": self.opacity,
                               "colormap": self.colormap.value}
        if self.value_range:
            out["value_range"] = list(self.value_range)
        return out


@dataclass(frozen=True)
class VideoSettings:
    """What shapes an explained video (:func:`cam_core.video.explain_video`; the app compares it with its
    widgets to tell when a result is stale).

    ``every = N ≥ 1`` explains frames ``0, N, 2N, …``; frames are downscaled so their longer side is
    ≤ ``max_side ≥ 16``; ``batch_size ≥ 1`` frames go through the network at once; the verdict is NG when
    ``p(ng) ≥ threshold`` (``0 ≤ threshold ≤ 1``); ``value_range``: a fixed evidence scale ``(lo, hi)``
    (default: the model card's, else fixed from the first frames); ``track_parts``: a conveyor, each part
    followed across frames and given one verdict (:mod:`cam_core.video.parts`).
    """

    layout: Layout = Layout.OVERLAY
    opacity: float = 0.5
    colormap: Colormap = Colormap.JET
    every: int = 1
    max_side: int = 1280
    batch_size: int = 8
    threshold: float = 0.5
    value_range: tuple[float, float] | None = None
    track_parts: bool = False

    def __post_init__(self) -> None:
        problems = _coerce(self, layout=(Layout, "layout"), colormap=(Colormap, "colormap"))
        _raise_problems([
            *problems,
            _opacity_problem(self.opacity),
            None if _is_int(self.every) and self.every >= 1 else f"every must be 1 or more, not {self.every}",
            None if _is_int(self.max_side) and self.max_side >= 16 else
            f"max_side must be at least 16 pixels, not {self.max_side}",
            None if _is_int(self.batch_size) and self.batch_size >= 1 else
            f"batch_size must be 1 or more, not {self.batch_size}",
            None if isinstance(self.threshold, int | float) and 0.0 <= self.threshold <= 1.0 else
            f"threshold must be between 0 and 1, not {self.threshold}",
            _range_problem(self.value_range),
        ])

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

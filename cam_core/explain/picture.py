"""What is drawn for one explanation: which class maps, on which scale, in which style and colour map.

:func:`map_picture` is the one place that decides it for the app, the exports, the report and the CLI
(:meth:`cam_core.explain.pipeline.Explanation.class_overlays` calls it). Its :class:`MapPicture` carries
the RGBA layers (colour + per-pixel opacity, :mod:`cam_core.explain.layers`) and everything a legend needs
(:func:`cam_core.explain.legend.legend_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from cam_core.explain.certainty import certainty_scale, is_trusted, untrusted_values
from cam_core.explain.layers import DrawStyle, compose, draw_style, drawn_colormap, heat_layer
from cam_core.explain.render import CENTRED_MODES, NormalizationMode, normalize_maps

__all__ = ["Mapped", "MapPicture", "drawn_classes", "map_picture", "signed_pair"]


class Mapped(Protocol):
    """What a picture reads of one explanation (:class:`~cam_core.explain.pipeline.Explanation` is one): its
    classes, which of them have maps, the maps a mode draws, and whether they can be centred."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def class_indices(self) -> tuple[int, ...]: ...

    @property
    def defect_index(self) -> int | None: ...

    @property
    def method(self) -> str: ...

    @property
    def is_centrable(self) -> bool: ...

    @property
    def logits(self) -> np.ndarray: ...

    def display_maps(self, classes: Sequence[int], mode: NormalizationMode = ...) -> np.ndarray: ...


@dataclass(frozen=True)
class MapPicture:
    """The drawn maps of one image: ``layers[c]`` (RGBA at the image size) for each class ``c`` drawn."""

    classes: tuple[int, ...]
    class_names: tuple[str, ...]     # the model's class names (all of them)
    values01: dict[int, np.ndarray]  # the scaled maps at feature resolution
    layers: dict[int, Image.Image]
    scale: tuple[float, float]       # the range of the drawn values the colours span
    fixed: bool                      # on the model's fixed scale (else this image's own)
    mode: str
    style: DrawStyle
    colormap: str                    # the colour map actually used
    method: str
    signed_pair: tuple[int, int] | None = None   # (other, defect) when one "defect − other" map is drawn
    certainty: float | None = None   # the strength g(m) of the verdict's peak, on the certainty scale
    trusted: bool = True             # False: the domain check does not trust the verdict (maps drawn weaker)

    def overlays(self, image: Image.Image, opacity: float) -> dict[int, Image.Image]:
        """Every layer blended over ``image`` (the size the layers were drawn at) at ``opacity``."""
        return {c: compose(image, layer, opacity) for c, layer in self.layers.items()}

    def title(self, c: int) -> str:
        """``"NG map"``, or ``"NG − OK"`` for a signed pair."""
        if self.signed_pair is not None:
            other, defect = self.signed_pair
            return f"{self.class_names[defect].upper()} − {self.class_names[other].upper()}"
        return f"{self.class_names[c].upper()} map"


def signed_pair(explanation: Mapped, mode: str) -> tuple[int, int] | None:
    """``(other, defect)`` when ``mode`` draws one signed map: ``signed`` on a two-class CAM with a defect class."""
    defect = explanation.defect_index
    if mode != "signed" or not explanation.is_centrable or len(explanation.classes) != 2 or defect is None:
        return None
    return 1 - defect, defect


def drawn_classes(explanation: Mapped, classes: Sequence[int], mode: str) -> list[int]:
    """The maps drawn for ``classes``: all of them, except one defect-class map for a signed pair."""
    pair = signed_pair(explanation, mode)
    return [pair[1]] if pair is not None else list(classes)


def map_picture(explanation: Mapped, size: tuple[int, int], classes: Sequence[int] | None = None, *,
                mode: str, colormap: str = "jet", value_range: tuple[float, float] | None = None) -> MapPicture:
    """The layers of ``classes`` (default: every mapped class) at ``size = (W, H)``.

    ``value_range`` is the fixed scale (the model's evidence range, or the raw range for ``raw``); the
    ``certainty`` mode sets its own per image (:func:`cam_core.explain.certainty.certainty_range`), and caps a part
    the domain check does not trust; the other centred modes draw such a part's maps pulled toward "neither"
    (:func:`~cam_core.explain.certainty.untrusted_values`). It is
    ignored for gradient maps in the centred modes (each image on its own scale; see
    :mod:`cam_core.explain.scale`). A signed pair is drawn as ``M_defect − M_other = 2·M̃_defect``, so its
    scale is twice the evidence scale.
    """
    chosen = drawn_classes(explanation, list(explanation.class_indices) if classes is None else classes, mode)
    centred = explanation.is_centrable
    certainty = certainty_scale(explanation) if mode == "certainty" and centred else None
    if certainty is not None:
        value_range = certainty.range
    use_range = value_range if (centred or mode not in CENTRED_MODES) and mode != "halves-image" else None
    scaled, scale = normalize_maps(explanation.display_maps(chosen, mode), mode, use_range)  # type: ignore[arg-type]
    style = draw_style(mode, centred)
    cmap = drawn_colormap(style, colormap)
    pair = signed_pair(explanation, mode)
    if pair is not None:
        scale = (2 * scale[0], 2 * scale[1])
    values = dict(zip(chosen, scaled))
    if certainty is not None:   # the other classes' maps stay below the hot quarter: orange and red mean the verdict
        cap = 0.5 + 0.5 * certainty.others_cap
        values = {c: (v if c == certainty.winner else np.minimum(v, cap)) for c, v in values.items()}
    trusted = is_trusted(explanation)
    if not trusted and certainty is None and centred and mode in CENTRED_MODES:   # a fixed scale: pulled to "neither"
        values = {c: untrusted_values(v) for c, v in values.items()}
    layers = {c: heat_layer(v, size, cmap, style) for c, v in values.items()}
    return MapPicture(classes=tuple(chosen), class_names=tuple(explanation.classes), values01=values, layers=layers,
                      scale=(float(scale[0]), float(scale[1])), fixed=use_range is not None and certainty is None,
                      mode=mode, style=style, colormap=cmap, method=explanation.method, signed_pair=pair,
                      certainty=None if certainty is None else certainty.strength,
                      trusted=trusted)

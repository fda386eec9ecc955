"""Rendering: one explained frame as it appears in the output video (map overlay(s) and the verdict box).

:func:`frame_view` turns an :class:`~cam_core.explain.pipeline.Explanation` into what a frame shows: the
verdict (:func:`cam_core.explain.verdict.verdict_of` with the video's threshold) and the map panels on the
video's fixed colour scale. :class:`FrameRenderer` draws it: ``layout="overlay"`` one panel (the defect map,
:func:`~cam_core.explain.verdict.overlay_class`), ``"side-by-side"`` OK | NG
(:func:`~cam_core.explain.verdict.shown_classes`) with captions; the verdict box top-left, red for NG,
green for OK, grey for models without a defect class.

How a panel is drawn (:data:`LAYOUT_STYLES`, the draw styles of :mod:`cam_core.explain.layers`): the overlay is
``signed`` (a diverging map, red where the model sees evidence of the class, blue where it sees evidence against,
no colour where it sees neither); side by side, each panel is drawn as ``halves`` (only the evidence *for* its
own class), so at any pixel at most one of OK | NG is coloured and the OK panel is not the NG panel's mirror. In
both, a clean part shows in its own colours instead of under an opaque tint (jet's bright green for "neither").

A frame the domain check does not trust (the part is unlike the model's training data, :mod:`cam_core.domain`)
is drawn as the app draws such a part: no alarm colours, however sure the model says it is. Its maps keep their
shape but are pulled toward "neither" (:func:`cam_core.explain.certainty.untrusted_values`, the rule of every
fixed scale), so they stay in the middle quarter of the bar (pale in coolwarm, the cool end of jet as halves,
never a strong red), and its verdict box is grey and says "not trusted".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cam_core.explain.certainty import is_trusted, untrusted_values
from cam_core.explain.layers import DrawStyle, at_opacity, drawn_colormap, heat_layer
from cam_core.explain.render import colormap_lut, normalize_maps
from cam_core.explain.verdict import Verdict, VerdictKind, overlay_class, shown_classes, verdict_of
from cam_core.options import Layout
from cam_core.video.decode import Frame

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

LAYOUTS: tuple[Layout, ...] = tuple(Layout)
VERDICT_COLOURS: dict[VerdictKind, tuple[int, int, int]] = {
    "ng": (205, 30, 30), "ok": (25, 140, 60), "other": (45, 45, 45)}
CAPTION_COLOUR = (30, 30, 30)
UNTRUSTED_COLOUR = VERDICT_COLOURS["other"]
#: How each layout draws its panels (see the module docstring).
LAYOUT_STYLES: dict[Layout, DrawStyle] = {Layout.OVERLAY: "signed", Layout.SIDE_BY_SIDE: "halves"}
#: The words at the two ends of the frame's colour bar, as the app's legend words them.
BAR_WORDS: dict[DrawStyle, tuple[str, str]] = {"signed": ("against", "for"), "halves": ("none", "strong"),
                                                "opaque": ("against", "for")}


@dataclass(frozen=True)
class Panel:
    """One map drawn over the frame."""

    values01: np.ndarray   # h×w in [0, 1], feature resolution
    caption: str


@dataclass(frozen=True)
class FrameView:
    """What an explained frame shows: its verdict and its map panel(s), left to right."""

    verdict: Verdict
    panels: tuple[Panel, ...]
    trusted: bool = True   # False: the domain check flags the frame (maps pulled toward "neither", grey box)
    style: DrawStyle = "signed"   # how the panels are drawn (:data:`LAYOUT_STYLES`)

    @property
    def verdict_text(self) -> str:
        """The verdict box's words: ``NG 0.97``, or ``NG 0.97 not trusted`` for a frame the domain check flags."""
        text = f"{self.verdict.label} {self.verdict.probability:.2f}"
        return text if self.trusted else f"{text} not trusted"

    @property
    def verdict_colour(self) -> tuple[int, int, int]:
        """Red for NG, green for OK, grey for other classes and for every verdict not to trust."""
        return VERDICT_COLOURS[self.verdict.kind] if self.trusted else UNTRUSTED_COLOUR


@dataclass(frozen=True)
class Job:
    """A decoded frame and the view it gets (its own, or the last explained frame's)."""

    frame: Frame
    view: FrameView


def panel_classes(explanation: Explanation, layout: Layout) -> list[int]:
    """Classes shown: overlay → :func:`overlay_class`; side-by-side → :func:`shown_classes` (OK | NG)."""
    if layout == "overlay":
        return [overlay_class(explanation)]
    return shown_classes(explanation)


def frame_view(explanation: Explanation, layout: Layout, threshold: float, value_range: tuple[float, float]
               ) -> FrameView:
    """The verdict (NG when ``p(ng) ≥ threshold``) and the evidence maps of :func:`panel_classes`, scaled to
    [0, 1] on the video's one fixed ``value_range``; pulled toward ½ when the domain check flags the frame."""
    shown = panel_classes(explanation, layout)
    scaled, _ = normalize_maps(explanation.display_maps(shown, "evidence"), "evidence", value_range)
    trusted = is_trusted(explanation)
    if not trusted:
        scaled = untrusted_values(scaled)
    panels = tuple(Panel(values01=scaled[i], caption=f"{explanation.classes[c]} map") for i, c in enumerate(shown))
    return FrameView(verdict=verdict_of(explanation, threshold), panels=panels, trusted=trusted,
                     style=LAYOUT_STYLES[Layout(layout)])


COLOUR_STEPS = 4   # a map is coloured at this multiple of its own resolution, then scaled to the frame once


@dataclass(frozen=True)
class FrameLayer:
    """A panel's colours and its per-pixel weight ``o·α`` at the frame's size, made once per view: a frame is
    then the colour pasted over it through the weight, ``out = frame·(1 − o·α) + colour·o·α``."""

    colour: Image.Image   # RGB
    weight: Image.Image   # L: o·α·255


def frame_layer(values01: np.ndarray, size: tuple[int, int], colormap: str, style: DrawStyle,
                opacity: float) -> FrameLayer:
    """The panel's layer (:func:`~cam_core.explain.layers.heat_layer`) at ``size = (W, H)``: coloured at
    ``COLOUR_STEPS`` × the map's own resolution, then its colour and its ``α`` resized once each, bilinearly.
    Between two coloured samples the value changes by a quarter of a map cell, so this stays within a palette
    step of colouring every pixel, at a fraction of the cost at 720p. Resizing colour and ``α`` apart (not
    premultiplied) adds no fringe: in every style the colour is continuous where ``α`` falls to 0 (``cmap(0)``
    for halves, the diverging map's middle for signed)."""
    height, width = values01.shape
    small = (width * COLOUR_STEPS, height * COLOUR_STEPS)
    layer = heat_layer(values01, small if small[0] < size[0] and small[1] < size[1] else size, colormap, style)
    colour, weight = layer.convert("RGB"), layer.getchannel("A")
    if layer.size != size:
        colour = colour.resize(size, Image.Resampling.BILINEAR)
        weight = weight.resize(size, Image.Resampling.BILINEAR)
    return FrameLayer(colour=colour, weight=at_opacity(weight, opacity))


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_box(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int,
              fill: tuple[int, int, int], anchor_bottom: bool = False) -> None:
    """White ``text`` on a ``fill`` box at ``xy`` (its top-left corner, or bottom-left with ``anchor_bottom``)."""
    font = _font(size)
    pad = max(2, size // 4)
    left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), text, font=font))
    width, height = right - left + 2 * pad, bottom - top + 2 * pad
    x, y = xy
    if anchor_bottom:
        y -= height
    draw.rectangle((x, y, x + width, y + height), fill=fill)
    draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 255), font=font)


@lru_cache(maxsize=8)
def colour_bar(width: int, height: int, colormap: str) -> Image.Image:
    """The colour map's own ramp, left to right: for a ``signed`` panel from evidence against the class through
    neither to evidence for it; for a ``halves`` panel from no evidence for the class to strong evidence."""
    ramp = colormap_lut(colormap)[np.linspace(0, 255, max(2, width)).round().astype(np.intp)][:, :3]
    return Image.fromarray(np.repeat(ramp[None].astype(np.uint8), max(1, height), axis=0), "RGB")


def _draw_bar(out: Image.Image, colormap: str, style: DrawStyle, size: int, margin: int) -> None:
    """``against [ramp] for`` (or ``none [ramp] strong``) in the bottom-right corner of ``out``: what the map
    colours mean."""
    draw = ImageDraw.Draw(out)
    font_size = max(8, size * 3 // 4)
    font = _font(font_size)
    width, height = out.size
    bar_w, bar_h = max(40, width // 8), max(6, font_size * 2 // 3)
    words = [(w, draw.textbbox((0, 0), w, font=font)) for w in BAR_WORDS[style]]
    text_w = sum(int(box[2] - box[0]) for _, box in words)
    pad = max(2, font_size // 4)
    box_w, box_h = bar_w + text_w + 4 * pad, max(bar_h, font_size) + 2 * pad
    x0, y0 = width - margin - box_w, height - margin - box_h
    draw.rectangle((x0, y0, x0 + box_w, y0 + box_h), fill=CAPTION_COLOUR)
    x = x0 + pad
    (left_word, left_box), (right_word, right_box) = words
    draw.text((x - left_box[0], y0 + pad - left_box[1]), left_word, fill=(255, 255, 255), font=font)
    x += int(left_box[2] - left_box[0]) + pad
    out.paste(colour_bar(bar_w, bar_h, colormap), (x, y0 + (box_h - bar_h) // 2))
    x += bar_w + pad
    draw.text((x - right_box[0], y0 + pad - right_box[1]), right_word, fill=(255, 255, 255), font=font)


class FrameRenderer:
    """Draws the output frames of one run: map panel(s) side by side, captions when there are several,
    verdict box (top-left, red for NG, green for OK) on the first, and the colour bar (bottom right) that says
    what the colours mean. ``colormap`` is the one chosen; a signed panel is drawn on a diverging one
    (:func:`~cam_core.explain.layers.drawn_colormap`).

    A view's layers (:func:`frame_layer`) are made once and reused by every frame that shows that view (the
    frames between two explained ones, ``every > 1``).
    """

    def __init__(self, opacity: float, colormap: str) -> None:
        self.opacity, self.colormap = opacity, colormap
        self._view: FrameView | None = None
        self._size = (0, 0)
        self._layers: tuple[FrameLayer, ...] = ()

    def _layers_of(self, view: FrameView, size: tuple[int, int]) -> tuple[FrameLayer, ...]:
        if view is not self._view or size != self._size:
            self._view, self._size = view, size
            colormap = drawn_colormap(view.style, self.colormap)
            self._layers = tuple(frame_layer(p.values01, size, colormap, view.style, self.opacity)
                                 for p in view.panels)
        return self._layers

    def render(self, job: Job) -> Image.Image:
        """One output frame for ``job``."""
        base = Image.fromarray(job.frame.image)
        width, height = base.size
        layers = self._layers_of(job.view, base.size)
        out = base if len(layers) == 1 else Image.new("RGB", (width * len(layers), height))
        for i, layer in enumerate(layers):
            if out is not base:
                out.paste(base, (i * width, 0))
            out.paste(layer.colour, (i * width, 0), layer.weight)   # frame·(1 − o·α) + colour·o·α
        draw = ImageDraw.Draw(out)
        size = max(10, round(0.06 * height))
        margin = max(2, size // 3)
        if len(layers) > 1:
            for i, panel in enumerate(job.view.panels):
                _text_box(draw, (i * width + margin, height - margin), panel.caption, max(8, size * 3 // 4),
                          CAPTION_COLOUR, anchor_bottom=True)
        _text_box(draw, (margin, margin), job.view.verdict_text, size, job.view.verdict_colour)
        _draw_bar(out, drawn_colormap(job.view.style, self.colormap), job.view.style, size, margin)
        return out

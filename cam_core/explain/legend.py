"""Legends made from what is drawn: a colour bar drawn by the same code as the map, and its words.

:func:`legend_of` is the one legend of the app, the exported overlays, the report and the video. The bar is
:func:`cam_core.explain.layers.heat_layer` of a ramp, over a checkerboard where the map is transparent; the
words name the colour map's own colours (:func:`colour_name`), the scale in force and the method. ``words``
are plain (for the verdict area and the report); ``details`` hold the numbers and the formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cam_core.explain.certainty import HOT, P_HOT, TAU, UNTRUSTED_CAP, UNTRUSTED_SPREAD
from cam_core.explain.layers import DrawStyle, compose, heat_layer
from cam_core.explain.picture import MapPicture
from cam_core.explain.render import CENTRED_MODES, colormap_lut

__all__ = ["Legend", "bar_labels", "colour_name", "legend_of", "method_label", "with_legend"]

_NAMED: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "light grey": (210, 210, 210),
    "dark blue": (0, 0, 130), "blue": (40, 60, 230), "light blue": (140, 175, 255), "cyan": (0, 240, 240),
    "green": (30, 160, 60), "light green": (150, 240, 80), "yellow": (250, 230, 30), "pale yellow": (250, 250, 160),
    "orange": (250, 140, 10), "red": (215, 20, 20), "dark red": (125, 0, 0), "purple": (90, 20, 110),
    "violet": (150, 50, 160), "teal": (30, 145, 140), "salmon": (245, 150, 120), "crimson": (180, 5, 40),
}
_METHODS = {"cam": "CAM", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++"}


def colour_name(rgb: tuple[int, int, int] | np.ndarray) -> str:
    """The nearest plain colour name of an RGB triple (0..255)."""
    colour = np.asarray(rgb, dtype=np.float32)[:3]
    return min(_NAMED, key=lambda name: float(np.sum((np.asarray(_NAMED[name], np.float32) - colour) ** 2)))


def _colour_at(colormap: str, t: float) -> str:
    return colour_name(colormap_lut(colormap)[int(round(np.clip(t, 0.0, 1.0) * 255))])


def method_label(method: str) -> str:
    return _METHODS.get(method, method)


@dataclass(frozen=True)
class Legend:
    """A map's colour bar (``bar``), its heading, plain words and the numbers behind them."""

    title: str
    bar: Image.Image
    words: str
    details: str


def _pulled(picture: MapPicture) -> bool:
    """A part not to trust on a fixed evidence scale: its maps are drawn pulled toward "neither"."""
    return not picture.trusted and picture.certainty is None and picture.method == "cam" and picture.mode in CENTRED_MODES


def _words(picture: MapPicture, c: int) -> str:
    text = _plain_words(picture, c)
    text = text[:1].upper() + text[1:]
    if _pulled(picture):
        return (f"For reference only: this part is unlike the model's training data, so its verdict is not trusted "
                f"and its maps are drawn at {UNTRUSTED_SPREAD:.0%} of their strength. {text}")
    return text


def _plain_words(picture: MapPicture, c: int) -> str:
    name = picture.class_names[c].upper()
    cmap, style = picture.colormap, picture.style
    weak, strong = _colour_at(cmap, 0.05), _colour_at(cmap, 1.0)
    if picture.method != "cam":
        return (f"{method_label(picture.method)}: coloured where the network's decision for {name} depends most on "
                f"the part, from faint {weak} (a little) to {strong} (most). No colour: nothing. Each image is on "
                "its own scale, so this shows where, not how sure.")
    if style == "halves" and picture.certainty is not None and not picture.trusted:
        return (f"Coloured where the model sees signs of {name}, for reference only: this part is unlike the "
                f"model's training data, so its verdict is not trusted and no map goes past "
                f"{_colour_at(cmap, UNTRUSTED_CAP)}, however sure the model says it is. No colour: no sign of it.")
    if style == "halves" and picture.certainty is not None:
        return (f"Coloured where the model sees signs of {name}. The strongest colour says how sure the model is "
                f"of its verdict: faint {weak} = a coin flip, {_colour_at(cmap, HOT)} from {P_HOT:.0%} sure, "
                f"{strong} = certain; only the chosen class's map reaches them. No colour: no sign of it.")
    if style == "halves":
        how = ("as strong as in the model's clearest parts" if picture.fixed
               else "this image's strongest point (shape only: where, not how sure)")
        return (f"Coloured where the model sees signs of {name}: faint {weak} = weak, {strong} = {how}. "
                "No colour: no sign of it; the part shows through.")
    if style == "signed" and picture.signed_pair is not None:
        other = picture.class_names[picture.signed_pair[0]].upper()
        return (f"{strong} = more signs of {name} than {other}, {_colour_at(cmap, 0.0)} = more signs of {other}; "
                "no colour = neither. Stronger colour, stronger signs.")
    if style == "signed":
        return (f"{strong} = signs of {name}, {_colour_at(cmap, 0.0)} = signs against it; no colour = neither.")
    if picture.mode == "evidence":
        return (f"{strong} = signs of {name}, {_colour_at(cmap, 0.0)} = signs against it, "
                f"{_colour_at(cmap, 0.5)} = neither.")
    own = " Each map is stretched on its own: shape only." if picture.mode == "per-map" else ""
    return (f"Raw map values, {_colour_at(cmap, 0.0)} = lowest to {strong} = highest. Raw maps include a part "
            f"common to every class, so colour here is not evidence for {name}.{own}")


def _details(picture: MapPicture, scale_source: str | None) -> str:
    lo, hi = picture.scale
    where = (f"the model's scale, {scale_source}" if picture.fixed and scale_source
             else "a fixed scale" if picture.fixed else "this image's own scale")
    if picture.certainty is not None:
        capped = "" if picture.trusted else f" (capped at {UNTRUSTED_CAP:g}: not trusted)"
        numbers = (f"certainty scale: the verdict's strongest point drawn at k = {picture.certainty:.2f}{capped} of the bar, "
                   f"colours span 0 … {hi:.3g} for this image; map = max(M̃_c, 0)·k/U, U = the verdict's map peak, "
                   f"k = g(m) of the logit margin m: {HOT}·m/logit({P_HOT}) below {P_HOT:.0%}, then "
                   f"{HOT} + {1 - HOT}·(1 − e^(−(m − logit({P_HOT}))/{TAU:g}))")
    elif picture.style == "halves" and picture.method == "cam":
        numbers = f"colours span 0 … {hi:.3g} ({where}); map = max(M̃_c, 0), M̃_c = M_c − mean_k M_k"
    elif picture.style == "halves":
        numbers = f"colours span 0 … {hi:.3g} (this image's maximum); Grad-CAM maps are ≥ 0 and not centred"
    elif picture.signed_pair is not None:
        numbers = f"colours span {lo:.3g} … {hi:.3g} ({where}); map = M_NG − M_OK = 2·M̃_NG"
    else:
        numbers = f"colours span {lo:.3g} … {hi:.3g} ({where})"
    if _pulled(picture):
        numbers += f"; not trusted: drawn v' = ½ + (v − ½)·{UNTRUSTED_SPREAD:g}"
    return (f"{method_label(picture.method)} · colour map {picture.colormap} · {numbers} · "
            f"CAM_c(x, y) = Σ_k w_ck·A_k(x, y)")


def _ramp_values(style: DrawStyle, width: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, width, dtype=np.float32)
    return 0.5 + 0.5 * t if style == "halves" else t


def _checker(size: tuple[int, int], cell: int = 6) -> Image.Image:
    yy, xx = np.mgrid[:size[1], :size[0]]
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 205, 240).astype(np.uint8)
    return Image.fromarray(board, "L").convert("RGB")


def bar_labels(picture: MapPicture) -> list[tuple[float, str, str]]:
    """(position 0..1, text, anchor) under the bar; a part not to trust says so where its maps stop."""
    if picture.style == "halves" and picture.certainty is not None:
        # two spaces: the default bitmap font's space is 2 px wide
        middle = (HOT, f"{P_HOT:.0%}  sure") if picture.trusted else (UNTRUSTED_CAP, "NOT  TRUSTED:  no  further")
        return [(0.0, "unsure", "la"), (*middle, "ma"), (1.0, "certain", "ra")]
    if picture.style == "halves":
        strong = "strong" if picture.fixed else "this image's max"
        return [(0.0, "none", "la"), (0.15, "weak", "ma"), (1.0, strong, "ra")]
    if picture.style == "signed":
        if picture.signed_pair is not None:
            other, defect = (picture.class_names[i].upper() for i in picture.signed_pair)
            return [(0.0, f"more {other}", "la"), (0.5, "neither", "ma"), (1.0, f"more {defect}", "ra")]
        return [(0.0, "against", "la"), (0.5, "neither", "ma"), (1.0, "for", "ra")]
    if picture.mode == "evidence":
        return [(0.0, f"{picture.scale[0]:.3g} against", "la"), (0.5, "0", "ma"), (1.0, f"for +{picture.scale[1]:.3g}", "ra")]
    return [(0.0, f"{picture.scale[0]:.3g}", "la"), (1.0, f"{picture.scale[1]:.3g}", "ra")]


def colour_bar(picture: MapPicture, width: int = 360, height: int = 34) -> Image.Image:
    """The bar: the map's own style and colours over a ramp, transparent parts over a checkerboard, labelled."""
    bar_h = max(8, height // 2)
    ramp = np.tile(_ramp_values(picture.style, width), (bar_h, 1))
    bar = compose(_checker((width, bar_h)), heat_layer(ramp, (width, bar_h), picture.colormap, picture.style), 1.0)
    out = Image.new("RGB", (width, height), (255, 255, 255))
    out.paste(bar, (0, 0))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default()
    if picture.certainty is not None:   # where this part's verdict sits on the bar
        x = min(width - 2, max(1, int(round(picture.certainty * (width - 1)))))
        draw.polygon([(x - 5, bar_h + 1), (x + 5, bar_h + 1), (x, bar_h - 6)], fill=(0, 0, 0), outline=(255, 255, 255))
    for t, text, anchor in bar_labels(picture):
        if 0.0 < t < 1.0 and width < 260:
            continue        # a narrow bar keeps only its ends
        draw.text((min(width - 1, int(t * width)), bar_h + 2), text, fill=(40, 40, 40), font=font, anchor=anchor)
    return out


def legend_of(picture: MapPicture, c: int, scale_source: str | None = None, width: int = 360) -> Legend:
    """The legend of the map of class ``c`` in ``picture`` (``scale_source``: where a fixed scale came from)."""
    return Legend(title=picture.title(c), bar=colour_bar(picture, width=width), words=_words(picture, c),
                  details=_details(picture, scale_source))


def with_legend(image: Image.Image, picture: MapPicture) -> Image.Image:
    """``image`` with its colour bar (:func:`colour_bar`, as wide as the image) added below it."""
    width = image.size[0]
    bar = colour_bar(picture, width=width, height=max(26, min(40, width // 12)))
    out = Image.new("RGB", (width, image.size[1] + bar.size[1] + 2), (255, 255, 255))
    out.paste(image.convert("RGB"), (0, 0))
    out.paste(bar, (0, image.size[1] + 2))
    return out

"""Pictures for the screen and for downloads: screen-size copies, overlays, JPEG/PNG bytes, raw-map figures."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from app_ui.cache import cached
from app_ui.inputs import InputImage
from app_ui.widgets import ViewSettings
from cam_core.explain import OUTLINE_COLOR
from cam_core.report import fit_within

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

DISPLAY_MAX_SIDE = 1024          # overlays shown on screen are drawn at most this large
OUTLINE_WIDTH = 2                # px at screen size
PLOTLY_SCALES = {"jet": "jet", "inferno": "inferno", "viridis": "viridis", "turbo": "turbo", "gray": "gray"}


def display_copy(item: InputImage) -> Image.Image:
    """The image at screen size (longest side ≤ :data:`DISPLAY_MAX_SIDE`), cached by content."""
    return cached("display", item.digest, lambda: fit_within(item.image, DISPLAY_MAX_SIDE))


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG for downloads, as every export writes it (:func:`cam_core.explain.export.png_bytes`)."""
    from cam_core.explain import png_bytes

    return png_bytes(image)


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG for the screen: ~5 ms for 1 MP where PNG takes 90–160 ms (and is 4–10× larger on the wire)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def render_overlays(explanation: Explanation, image: Image.Image, classes: Sequence[int],
                    view: ViewSettings) -> tuple[dict[int, Image.Image], tuple[float, float]]:
    """Overlays of ``classes`` on ``image`` with the view settings, plus the raw range the colours span."""
    return explanation.class_overlays(image, classes, mode=view.mode, opacity=view.opacity,  # type: ignore[arg-type]
                                      colormap=view.colormap, value_range=view.value_range)


def outlined(overlays: dict[int, Image.Image], outline: np.ndarray, width: int) -> dict[int, Image.Image]:
    """Every overlay with the contour of the defect mask ``outline`` drawn over it."""
    from cam_core.explain.render import draw_mask_outline

    return {c: draw_mask_outline(im, outline, OUTLINE_COLOR, width) for c, im in overlays.items()}


def render_maps(explanation: Explanation, image: Image.Image, classes: Sequence[int],
                view: ViewSettings, outline: np.ndarray | None = None) -> tuple[dict[int, bytes], tuple[float, float]]:
    """Screen overlays as JPEG bytes (shown with ``st.image(..., output_format="JPEG")``, passed through
    untouched by Streamlit), plus the raw colour range. ``outline``: a defect mask at ``image``'s size,
    whose contour is drawn over every overlay (:func:`cam_core.explain.render.draw_mask_outline`)."""
    from cam_core.explain.legend import with_legend

    picture = map_picture_of(explanation, image, classes, view)
    overlays = picture.overlays(image.convert("RGB"), view.opacity)
    if outline is not None:
        overlays = outlined(overlays, outline, OUTLINE_WIDTH)
    overlays = {c: with_legend(im, picture) for c, im in overlays.items()}
    return {c: encode_jpeg(im) for c, im in overlays.items()}, picture.scale


def map_picture_of(explanation: Explanation, image: Image.Image, classes: Sequence[int], view: ViewSettings) -> Any:
    """:func:`cam_core.explain.picture.map_picture` of ``classes`` at ``image``'s size with the view settings."""
    from cam_core.explain.picture import map_picture

    return map_picture(explanation, image.size, classes, mode=view.mode, colormap=view.colormap,
                       value_range=view.value_range)


def raw_grid_figure(raw: np.ndarray, title: str, colormap: str,
                    zrange: tuple[float, float] | None) -> Any:
    """Plotly heatmap of one raw map at the network's own resolution; hover shows each cell's value."""
    import plotly.graph_objects as go

    h, w = raw.shape
    figure = go.Figure(go.Heatmap(
        z=raw, colorscale=PLOTLY_SCALES.get(colormap, "jet"),
        zmin=None if zrange is None else zrange[0], zmax=None if zrange is None else zrange[1],
        hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>"))
    figure.update_layout(title=f"{title} ({h}×{w})", height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    figure.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    figure.update_xaxes(constrain="domain")
    return figure

"""The maps on screen: the model's fixed scale (cached per model file), and the maps blended in the browser.

The server draws each map once as a small RGBA layer (colour + per-pixel opacity, at most
:data:`LAYER_SIDE` px: the map is smooth, the browser upsamples it); the page shows the part and the layers
stacked, and the opacity slider sets the layers' CSS ``opacity`` in the browser (no round trip). The slider's
value is kept in the browser (``localStorage``), so it survives reruns and page changes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st
from PIL import Image

from app_ui.drawing import OUTLINE_WIDTH, display_copy, encode_jpeg
from app_ui.inputs import InputImage
from app_ui.masks import display_mask
from app_ui.models import CAM, get_explainer, model_card, model_ref
from app_ui.widgets import _keep_overlay
from cam_core.explain import COLORMAPS, OUTLINE_COLOR
from cam_core.explain.legend import Legend, legend_of
from cam_core.explain.picture import MapPicture, map_picture
from cam_core.explain.scale import ModelScale, model_scale, recorded_scale

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

LAYER_SIDE = 320           # the RGBA layers sent to the browser are at most this large (longest side)
OPACITY_KEY = "cam-inspector-opacity"


@st.cache_resource(max_entries=16, show_spinner="Measuring the model's colour scale…")
def _scale_of(name: str, path: str, mtime_ns: int, size: int) -> ModelScale:
    del path, mtime_ns, size  # cache key only: a replaced file is measured again
    return model_scale(get_explainer(name, CAM).bundle)


def model_scale_of(model: str) -> ModelScale:
    """The fixed evidence scale of ``model``: its card's (read without loading the network), else measured once
    per file version."""
    ref = model_ref(model)
    recorded = recorded_scale(model_card(ref).evidence_limits)
    return recorded if recorded is not None else _scale_of(ref.name, ref.path, ref.mtime_ns, ref.size)


def screen_picture(explanation: Explanation, display: Image.Image, classes: Sequence[int], mode: str,
                   colormap: str, value_range: tuple[float, float] | None) -> MapPicture:
    """The layers of ``classes`` at the browser's layer size (``display``'s aspect, longest side ≤ LAYER_SIDE)."""
    width, height = display.size
    factor = min(1.0, LAYER_SIDE / max(width, height))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return map_picture(explanation, size, classes, mode=mode, colormap=colormap, value_range=value_range)


def _uri(image: Image.Image, fmt: str) -> str:
    if fmt == "JPEG":
        data, mime = encode_jpeg(image.convert("RGB")), "image/jpeg"
    else:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        data, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


_CSS = """
.cb{font-family:inherit}.cb-row{display:flex;gap:14px;flex-wrap:wrap}.cb-fig{flex:1 1 260px;margin:0;min-width:0;max-width:640px}
.cb-stack{position:relative;line-height:0}.cb-stack img{width:100%;height:auto;display:block;border-radius:4px}
.cb-stack img.cb-layer{position:absolute;left:0;top:0;height:100%;image-rendering:auto}
.cb-title{font-weight:600;margin:6px 0 2px}.cb-bar{width:100%;max-width:420px;display:block;margin-top:2px}
.cb-words{font-size:.85em;color:#555;margin-top:2px}.cb-ctl{display:flex;gap:10px;align-items:center;margin:4px 0 10px}
.cb-ctl input{flex:0 1 260px}
"""

_SCRIPT = """
(function(){const root=document.getElementById(%(id)s);if(!root)return;const key=%(key)s;
const slider=root.querySelector('input.cb-opacity');const out=root.querySelector('.cb-value');
let v=%(default)s;try{const s=window.localStorage.getItem(key);if(s!==null&&!isNaN(parseFloat(s)))v=parseFloat(s);}catch(e){}
function apply(x){root.querySelectorAll('img.cb-layer').forEach(function(im){im.style.opacity=x;});
out.textContent=Math.round(x*100)+' %%';}
slider.value=v;apply(v);
slider.addEventListener('input',function(){const x=parseFloat(slider.value);apply(x);
try{window.localStorage.setItem(key,String(x));}catch(e){}});})();
"""


def blend_html(part: Image.Image, picture: MapPicture, legends: dict[int, Legend], opacity: float = 0.5) -> str:
    """HTML of the part under each layer, with one opacity slider that blends them in the browser."""
    esc = html.escape
    uid = f"cb-{uuid.uuid4().hex[:12]}"
    base = _uri(part, "JPEG")
    figures = []
    for c in picture.classes:
        legend = legends[c]
        figures.append(
            f"<figure class='cb-fig'><div class='cb-title'>{esc(legend.title)}</div><div class='cb-stack'>"
            f"<img class='cb-base' src='{base}' alt='part'><img class='cb-layer' src='{_uri(picture.layers[c], 'PNG')}' "
            f"alt='{esc(legend.title)}' style='opacity:{opacity}'></div>"
            f"<img class='cb-bar' src='{_uri(legend.bar, 'PNG')}' alt='colour bar'>"
            f"<div class='cb-words'>{esc(legend.words)}</div></figure>")
    script = _SCRIPT % {"id": json.dumps(uid), "key": json.dumps(OPACITY_KEY), "default": float(opacity)}
    return (f"<style>{_CSS}</style><div class='cb' id='{uid}'><div class='cb-ctl'><label>Opacity</label>"
            f"<input class='cb-opacity' type='range' min='0' max='1' step='0.05' value='{opacity}' "
            f"aria-label='Opacity'><span class='cb-value'></span></div>"
            f"<div class='cb-row'>{''.join(figures)}</div></div><script>{script}</script>")


def show_blended_maps(container: Any, part: Image.Image, explanation: Explanation, classes: Sequence[int],
                      mode: str, colormap: str, value_range: tuple[float, float] | None,
                      scale_source: str | None, opacity: float = 0.5) -> MapPicture:
    """The maps of ``classes`` over ``part`` (the screen copy, outline drawn), blended in the browser, with
    their colour bars and words; the numbers behind them sit in a "details" expander."""
    picture = screen_picture(explanation, part, classes, mode, colormap, value_range)
    legends = {c: legend_of(picture, c, scale_source, width=420) for c in picture.classes}
    container.html(blend_html(part, picture, legends, opacity), unsafe_allow_javascript=True)
    with container.expander("Details: scale, method, numbers"):
        first = legends[picture.classes[0]]
        st.caption(first.details)
        for c in picture.classes:
            raw = explanation.map_of(c)
            st.caption(f"{legends[c].title}: raw map {float(np.min(raw)):.3g} … {float(np.max(raw)):.3g}, "
                       f"grid {raw.shape[0]}×{raw.shape[1]}")
    return picture


def grid_values(explanation: Explanation, c: int, mode: str) -> tuple[np.ndarray, str]:
    """The values the maps of ``mode`` are drawn from, at the network's grid, and what they are called."""
    from cam_core.explain.layers import HALVES_MODES
    from cam_core.explain.render import CENTRED_MODES

    grid = explanation.display_maps([c], mode)[0]  # type: ignore[arg-type]
    if mode in CENTRED_MODES and explanation.is_centrable:
        return (np.maximum(grid, 0.0) if mode in HALVES_MODES else grid), "evidence"
    return grid, "raw map"


def grid_range(explanation: Explanation, classes: Sequence[int], mode: str,
               value_range: tuple[float, float] | None) -> tuple[float, float] | None:
    """The grids' colour range: one for all raw maps (``shared``), the fixed one (``raw``), else each its own."""
    if mode == "shared":
        shown = explanation.display_maps(list(classes), "shared")
        return float(shown.min()), float(shown.max())
    return value_range if mode == "raw" else None


def outlined_display(item: InputImage) -> Image.Image:
    """The screen copy of ``item`` with its defect outline drawn (when it has a mask)."""
    from cam_core.explain.render import draw_mask_outline

    display = display_copy(item)
    outline = display_mask(item, display.size)
    return display if outline is None else draw_mask_outline(display, outline, OUTLINE_COLOR, OUTLINE_WIDTH)


def colormap_control(container: Any) -> str:
    """The colour map select box (``cfg_colormap``, the same value on every page)."""
    return str(container.selectbox("Colormap", list(COLORMAPS), key="cfg_colormap", on_change=_keep_overlay))

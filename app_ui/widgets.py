"""Widgets and display pieces shared by the pages: view controls, verdicts, hints and captions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import streamlit as st

from app_ui.domain import domain_caption
from app_ui.state import DEFAULTS, KEPT_OVERLAY
from cam_core.checkpoints import ModelCard
from cam_core.domain import DomainResult
from cam_core.explain import Verdict
from cam_core.explain.scale import ModelScale, scale_in_force
from cam_core.options import Colormap, ScaleMode, ViewSettings, choices

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle

NORM_LABELS: dict[str, str] = {ScaleMode.CERTAINTY: "Evidence for each class, strength = certainty",
                               ScaleMode.HALVES: "Evidence for each class (model's fixed scale)",
                               ScaleMode.HALVES_IMAGE: "Evidence for each class, shape only (own scale)",
                               ScaleMode.SIGNED: "NG − OK, one map", ScaleMode.EVIDENCE: "For / against, both maps",
                               ScaleMode.SHARED: "Raw, shared", ScaleMode.PER_MAP: "Raw, per map",
                               ScaleMode.RAW: "Raw, calibrated"}
APP_MODES = (ScaleMode.CERTAINTY, ScaleMode.HALVES, ScaleMode.HALVES_IMAGE, ScaleMode.SIGNED, ScaleMode.SHARED, ScaleMode.PER_MAP)
TRAIN_OWN_HINT = ("Train a model on your own OK and NG pictures on the **Models** page (one ZIP with an ok "
                  "folder and an ng folder): about 8 minutes for 700 pictures on a 2-core computer.")
COLOUR_SCALE_HELP = (
    "Evidence for each class, strength = certainty (default): each map is coloured only where the part shows "
    "signs of its class, and the verdict's strongest colour says how sure the model is: a coin flip draws next to "
    "nothing, 80 % sure reaches orange, a certain call red. Model's fixed scale: the same colour means the same "
    "evidence on every image. Shape only: each image stretched to its own strongest point. NG − OK: one map, both signs. "
    "Raw: the maps before centring, which carry a part common to every class that decides nothing.")


def view_controls(container: Any = None, value_range: tuple[float, float] | None = None,
                  overlay: bool = True, scale: ModelScale | None = None) -> ViewSettings:
    """Normalisation, opacity and colormap widgets (shared by every page through ``cfg_*`` keys).

    ``value_range``: the card's raw map range (offers "Raw, calibrated"); ``scale``: the model's fixed evidence
    scale. ``overlay=False`` leaves opacity and colormap to the caller (Explain blends the maps in the browser),
    and returns their current values."""
    container = container or st.sidebar
    modes = [m.value for m in APP_MODES] + ([ScaleMode.RAW.value] if value_range else [])
    if st.session_state.get("cfg_norm") not in modes:
        st.session_state["cfg_norm"] = DEFAULTS["cfg_norm"]
    mode = container.radio("Colour scale", modes, format_func=NORM_LABELS.get, key="cfg_norm",
                           help=COLOUR_SCALE_HELP)
    if overlay:
        opacity, colormap = overlay_controls(container)
    else:
        opacity = float(st.session_state.get("cfg_opacity", DEFAULTS["cfg_opacity"]))
        colormap = str(st.session_state.get("cfg_colormap", DEFAULTS["cfg_colormap"]))
    in_force = scale_in_force(mode, True, None if scale is None else scale.range, value_range)
    source = ("the range recorded at training" if mode == ScaleMode.RAW else scale.source if scale is not None
              else None)
    return ViewSettings(mode=ScaleMode(mode), opacity=opacity, colormap=Colormap(colormap), value_range=in_force,
                        scale_source=source if in_force is not None else None)


def _keep_overlay() -> None:
    """A copy outside the widget keys (callbacks run before the script): a change made in a fragment rerun
    (Explain's maps) must survive page switches, which Streamlit's widget cleanup would otherwise undo."""
    state = st.session_state
    state[KEPT_OVERLAY] = (float(state["cfg_opacity"]), str(state["cfg_colormap"]))


def overlay_controls(container: Any = None, colormap_container: Any = None) -> tuple[float, str]:
    """Opacity and colormap widgets (``cfg_opacity``, ``cfg_colormap``: the same values on every page)."""
    container = container or st.sidebar
    opacity = container.slider("Opacity", 0.0, 1.0, step=0.05, key="cfg_opacity", on_change=_keep_overlay,
                               help="0 = image only, 1 = heatmap only")
    colormap = (colormap_container or container).selectbox("Colormap", choices(Colormap), key="cfg_colormap",
                                                           on_change=_keep_overlay)
    return float(opacity), colormap


def verdict_text(verdict: Verdict, domain: DomainResult | None = None) -> str:
    """``:red[**NG 97.3%**]`` (red = defect, green = OK, blue = other classes), for ``st.header``; greyed and
    struck through when the image is unlike the model's training data."""
    if domain is not None and domain.outside:
        return f":gray[~~{verdict.text}~~ · not trusted]"
    colour = "blue" if verdict.is_positive is None else ("red" if verdict.is_positive else "green")
    return f":{colour}[**{verdict.text}**]"


def show_verdict(container: Any, verdict: Verdict, small: bool = False, trained_on: str | None = None,
                 domain: DomainResult | None = None) -> None:
    """The verdict as a coloured heading (no anchor link), what the model was trained on below it, and the
    domain check (greyed with the reason when the image is unlike the training data)."""
    (container.subheader if small else container.header)(verdict_text(verdict, domain), anchor=False)
    if domain is not None and domain.outside:
        container.error(domain_caption(domain))
    elif domain is not None:
        container.caption(domain_caption(domain))
    if trained_on:
        container.caption(f"Model trained on: {trained_on}")


def synthetic_model_hint(container: Any, bundle: ModelBundle, own: Sequence[str], what: str = "photographs") -> None:
    """A visible warning when a model that only knows synthetic parts is shown the user's own inputs ``own``."""
    if bundle.card.synthetic_only and own:
        container.warning(
            f"**{bundle.name} has only seen synthetic parts** (plates and hex nuts drawn by this product), not "
            f"{what} like {own[0]}{' and the others' if len(own) > 1 else ''}. Its verdicts and maps on them "
            "say little about your parts. " + TRAIN_OWN_HINT, icon=":material/warning:")


def map_caption(explanation: Any, c: int, scale: tuple[float, float], mode: str,
                scale_text: str | None = None) -> str:
    """Caption under the map of class ``c``: what a colour means, in words, then the numbers of the scale; first
    "for reference only" when the domain check does not trust the part (its maps are drawn weaker,
    :mod:`cam_core.explain.certainty`)."""
    from cam_core.explain.certainty import is_trusted
    from cam_core.explain.render import scale_words

    class_name, raw = explanation.classes[c].upper(), explanation.map_of(c)
    if mode == "per-map":
        lo, hi = float(raw.min()), float(raw.max())
        numbers = f"own scale {lo:.3g} … {hi:.3g}"
    else:
        label = scale_text or ("shared scale" if mode == "shared" else "calibrated scale" if mode == "raw"
                               else "evidence scale")
        numbers = f"{label} {scale[0]:.3g} … {scale[1]:.3g}"
    flagged = "" if is_trusted(explanation) else "For reference only (part unlike the training data, not trusted) · "
    return f"{flagged}{class_name} map: {scale_words(mode, class_name)} · {numbers} · raw map " \
           f"{float(raw.min()):.3g} … {float(raw.max()):.3g}"


def model_card_label(name: str, card: ModelCard, where: str) -> str:
    """``**name** · arch · ok, NG* · imported from line7.pt · user``: what it is, its defect class (marked
    ``*``), and where it came from when it was imported or converted (the card's ``origin``)."""
    defect = card.defect_index
    classes = ", ".join(f"{c}*" if i == defect else c for i, c in enumerate(card.classes))
    origin = card.origin or {}
    came = f"{origin.get('format', 'imported').replace('_', ' ')} from {origin['file']}" if origin.get("file") else ""
    return " · ".join(part for part in (f"**{name}**", card.arch, classes, came, where) if part)

"""Defect masks in the app: uploaded masks attached to their images, outlined on screen and scored.

The naming rule (which mask belongs to which image) is the data set's own,
:func:`cam_core.data.dataset.match_masks`; decoding, fitting and scoring are
:mod:`cam_core.evaluation` functions (the ones :func:`~cam_core.evaluation.evaluate` uses too). This
module only caches them and draws the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from app_ui.cache import cached
from app_ui.errors import error_line, log
from app_ui.inputs import SAMPLE_MASK_SOURCE, DefectMask, InputImage, digest_of
from app_ui.models import MapMethod, model_ref
from cam_core import CamInspectorError
from cam_core.data import MaskMatch, match_masks

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation


def _decoded_mask(data: bytes, name: str) -> np.ndarray:
    """:func:`cam_core.evaluation.decode_mask` of uploaded bytes, cached by content (raises ``InputError``)."""
    from cam_core.evaluation import decode_mask

    return cached("masks", ("mask", digest_of(data)), lambda: decode_mask(data, name))


def _fitted(raw: np.ndarray, item: InputImage, name: str, key: str) -> DefectMask:
    from cam_core.evaluation import fit_mask

    mask, note = fit_mask(raw, item.image.size)
    return DefectMask(mask=mask, source=name, key=key, notes=(note,) if note else ())


def _match_warnings(items: Sequence[InputImage], names: Sequence[str], match: MaskMatch) -> list[str]:
    """One line per mask that matches no image or reaches an image that already has one (in upload order)."""
    warnings: list[str] = []
    for m, name in enumerate(names):
        if m in match.unmatched:
            warnings.append(f"Defect mask {name} matches no image: name it like its image (part7.png or "
                            "part7_mask.png for part7.jpg).")
        for ignored, index in match.ignored:
            if ignored == m:
                warnings.append(f"Defect mask {name} ignored: {items[index].name} already has the mask "
                                f"{names[match.masks[index]]}.")
    return warnings


def _uploaded_mask(item: InputImage, name: str, upload: Any, warnings: list[str]) -> DefectMask | None:
    """The upload decoded and fitted to ``item``; ``None`` (and a warning) when it cannot be read."""
    try:
        data = upload.getvalue()
        return _fitted(_decoded_mask(data, name), item, name, f"upload:{digest_of(data)}")
    except CamInspectorError as exc:
        warnings.append(f"Defect mask {error_line(name, exc)} — {item.name} is explained without a mask.")
    except Exception as exc:  # noqa: BLE001 - a bad mask must not stop the image
        log.exception("decoding the mask %s failed", name)
        warnings.append(f"Defect mask {name} could not be read ({type(exc).__name__}) — {item.name} is "
                        "explained without a mask.")
    return None


def attach_masks(items: Sequence[InputImage], uploads: Iterable[Any] | None) -> tuple[list[InputImage], list[str]]:
    """Give each image its defect mask; returns the images and warnings (unreadable or unmatched masks).

    Uploaded masks are matched to images by the data set's naming rule (``part7.png`` or
    ``part7_mask.png`` ↔ ``part7.jpg``; an exact stem wins). A mask of another size is resized to the
    image (nearest neighbour, with a note). Built-in samples keep their own mask unless an upload matches
    them; masks attached by earlier uploads are dropped, so removing a mask upload removes its outline. An
    unreadable mask gives a warning and its image is explained without it.
    """
    from cam_core.data import sanitize_filename

    files = list(uploads or [])
    names = [sanitize_filename(getattr(upload, "name", "mask"), "mask") for upload in files]
    match = match_masks([item.name for item in items], [getattr(upload, "name", "mask") for upload in files])
    warnings = _match_warnings(items, names, match)
    out: list[InputImage] = []
    for i, item in enumerate(items):
        mask = item.mask if item.mask is not None and item.mask.source == SAMPLE_MASK_SOURCE else None
        if i in match.masks:
            m = match.masks[i]
            mask = _uploaded_mask(item, names[m], files[m], warnings)
        out.append(item if mask is item.mask else dataclasses.replace(item, mask=mask))
    return out, warnings


def mask_scores(model: str, method: MapMethod, item: InputImage, explanation: Explanation,
                class_index: int) -> dict[str, Any] | None:
    """:func:`cam_core.evaluation.localization_scores` of one class map against the item's mask (cached);
    ``None`` without a mask or with an empty one."""
    from cam_core.evaluation import localization_scores

    mask = item.mask
    if mask is None or mask.empty:
        return None
    key = (model_ref(model).key, method, item.digest, mask.key, class_index)
    return cached("scores", key, lambda: localization_scores(explanation.map_of(class_index), mask.mask))


def display_mask(item: InputImage, size: tuple[int, int]) -> np.ndarray | None:
    """The item's mask at the screen copy's ``size = (W, H)`` (nearest neighbour), or ``None``."""
    from cam_core.evaluation import fit_mask

    if item.mask is None or item.mask.empty:
        return None
    return fit_mask(item.mask.mask, size)[0]


def pointing_lines(scores: dict[str, Any], class_name: str) -> list[str]:
    """Markdown lines of the pointing result: peak in the defect (yes/no), energy share vs area share."""
    hit = "yes" if scores["pointing"] else "no"
    colour = "green" if scores["pointing"] else "red"
    ratio = scores["energy_ratio"]
    ratio_text = f" · **{ratio:.1f}×** the area share" if ratio == ratio else ""  # NaN-safe
    return [
        f"{class_name} map's strongest point on the marked defect: :{colour}[**{hit}**]",
        f"Energy inside the mask: **{scores['energy']:.1%}** of the {class_name} map's positive evidence; the "
        f"mask covers **{scores['mask_share']:.1%}** of the image{ratio_text}",
    ]


def show_mask_panel(container: Any, item: InputImage, scores: dict[str, Any] | None, class_name: str) -> None:
    """Beside the overlays: where the defect is and whether the map points at it."""
    mask = item.mask
    if mask is None:
        return
    container.markdown("**Defect mask**")
    if scores is None:
        container.caption(f"{mask.source} marks no defect pixels: nothing to outline or score.")
    else:
        for line in pointing_lines(scores, class_name):
            container.markdown(line)
        width, height = item.image.size
        peak = scores["peak"]
        where = f" · peak at x={peak[0]}, y={peak[1]}" if peak else " · the map is flat (no peak)"
        container.caption(f"Outline (white): {mask.source}.")
        container.expander("Details").caption(
            f"Pointing tolerance {scores['tolerance_px']:.0f} px (15·max(W, H)/224 on this {width}×{height} image)"
            f"{where}. Chance level for the energy share is the mask's area share.")
    for note in mask.notes:
        container.caption(f"Note: {note}")

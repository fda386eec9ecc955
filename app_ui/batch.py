"""The last explained batch of a session (the Report and Compare pages reuse it) and its downloads."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st
from PIL import Image

from app_ui.drawing import DISPLAY_MAX_SIDE, OUTLINE_WIDTH, map_picture_of, outlined
from app_ui.inputs import InputImage
from app_ui.masks import display_mask
from app_ui.models import MapMethod
from app_ui.widgets import ViewSettings
from cam_core.explain import Verdict, verdict_of

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle
    from cam_core.explain.pipeline import Explanation

LAST_BATCH = "last_batch"


@dataclass
class Batch:
    """The last explained batch of a session (kept for the Report and Compare pages)."""

    model: str
    method: MapMethod
    items: list[InputImage]
    explanations: list[Explanation]
    view: ViewSettings
    selected: int = 0
    created: float = field(default_factory=time.time)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.model, self.method, tuple(i.digest for i in self.items))


def keep_batch(batch: Batch) -> None:
    st.session_state[LAST_BATCH] = batch


def last_batch() -> Batch | None:
    batch = st.session_state.get(LAST_BATCH)
    return batch if isinstance(batch, Batch) else None


def verdicts(explanations: Sequence[Explanation]) -> list[Verdict]:
    return [verdict_of(e) for e in explanations]


def scores_csv(names: Sequence[str], explanations: Sequence[Explanation]) -> bytes:
    """The scores CSV download: :func:`cam_core.explain.export.scores_csv`, the CLI's ``results.csv`` schema."""
    from cam_core.explain import scores_csv as export_csv

    return export_csv(names, explanations).encode("utf-8")


def _full_size_overlays(item: InputImage, explanation: Explanation, view: ViewSettings) -> dict[str, Image.Image]:
    """Every shown map of ``item`` at full resolution, keyed by class name, outlined when it has a mask."""
    from cam_core.explain import shown_classes
    from cam_core.explain.legend import with_legend

    picture = map_picture_of(explanation, item.image, shown_classes(explanation), view)
    overlays = picture.overlays(item.image.convert("RGB"), view.opacity)
    outline = display_mask(item, item.image.size)
    if outline is not None:
        width = max(OUTLINE_WIDTH, round(OUTLINE_WIDTH * max(item.image.size) / DISPLAY_MAX_SIDE))
        overlays = outlined(overlays, outline, width)
    return {explanation.classes[c]: with_legend(im, picture) for c, im in overlays.items()}


def overlays_zip(items: Sequence[InputImage], explanations: Sequence[Explanation], view: ViewSettings) -> bytes:
    """ZIP of full-resolution overlay PNGs: ``<stem>_<class>.png`` for every shown map of every image
    (with the defect outline when the image has a mask), named by :func:`cam_core.explain.export.overlays_zip`."""
    from cam_core.explain import overlays_zip as export_zip

    return export_zip((item.name, explanation, _full_size_overlays(item, explanation, view))
                      for item, explanation in zip(items, explanations))


def scores_json_bytes(names: Sequence[str], explanations: Sequence[Explanation], method: MapMethod | None = None,
                      **context: Any) -> bytes:
    """:func:`cam_core.explain.export.scores_json` with ``context``; ``method`` is written as its core method
    name and its ``flip_average`` flag."""
    from cam_core.explain import scores_json

    if method is not None:
        context = {**context, "method": method.name, "flip_average": method.flip_average}
    return scores_json(names, explanations, **context).encode("utf-8")


def report_html(batch: Batch, title: str, bundle: ModelBundle) -> str:
    """The self-contained HTML report of ``batch`` (:func:`cam_core.report.build_html_report`): every image with
    its verdict, maps drawn with the batch's view settings and the defect outline where it has a mask."""
    from cam_core.report import build_html_report, make_report_items

    view = batch.view
    items = make_report_items([i.name for i in batch.items], [i.image for i in batch.items],
                              batch.explanations, mode=view.mode, opacity=view.opacity,  # type: ignore[arg-type]
                              colormap=view.colormap, value_range=view.value_range,
                              notes=[i.notes for i in batch.items],
                              masks=[display_mask(i, i.image.size) for i in batch.items])
    settings = {"network": batch.model, "method": batch.method.label, **view.as_dict()}
    return build_html_report(items, bundle, title=title, settings=settings, model_name=batch.model)

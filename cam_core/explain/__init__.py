"""Explain: images in, verdicts, maps and exports out.

- :mod:`~cam_core.explain.pipeline`: :class:`Explainer` (one model + one method, thread-safe) and
  :class:`Explanation` (verdict inputs and raw maps of one image);
- :mod:`~cam_core.explain.verdict`: the one verdict rule (called class, defect class, maps shown);
- :mod:`~cam_core.explain.render`: normalisation, colour maps, overlays, colour bars;
- :mod:`~cam_core.explain.export`: the one CSV / JSON / PNG export writer (CLI and app).

Names are imported on first use (:mod:`cam_core.lazy`): the verdict rule and the colour maps load
no network library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from cam_core.explain.export import (
        SCORE_COLUMNS,
        ExportBatch,
        FolderExport,
        image_record,
        overlays_zip,
        png_bytes,
        score_row,
        scores_csv,
        scores_json,
        unique_name,
        unique_stem,
    )
    from cam_core.explain.pipeline import Explainer, Explanation
    from cam_core.explain.render import (
        COLORMAPS,
        DEFAULT_MODE,
        NORMALIZATION_MODES,
        OUTLINE_COLOR,
        NormalizationMode,
        colorize,
        normalize_maps,
        overlay,
    )
    from cam_core.explain.verdict import Verdict, mask_class, overlay_class, shown_classes, verdict_of

_HOMES: dict[str, str] = {
    **dict.fromkeys(("SCORE_COLUMNS", "ExportBatch", "FolderExport", "image_record", "overlays_zip",
                     "png_bytes", "score_row", "scores_csv", "scores_json", "unique_name", "unique_stem"),
                    "cam_core.explain.export"),
    **dict.fromkeys(("Explainer", "Explanation"), "cam_core.explain.pipeline"),
    **dict.fromkeys(("COLORMAPS", "DEFAULT_MODE", "NORMALIZATION_MODES", "OUTLINE_COLOR", "NormalizationMode",
                     "colorize", "normalize_maps", "overlay"),
                    "cam_core.explain.render"),
    **dict.fromkeys(("Verdict", "overlay_class", "mask_class", "shown_classes", "verdict_of"),
                    "cam_core.explain.verdict"),
}

__all__ = [
    "COLORMAPS", "DEFAULT_MODE", "NORMALIZATION_MODES", "OUTLINE_COLOR", "SCORE_COLUMNS", "Explainer", "Explanation",
    "ExportBatch", "FolderExport", "NormalizationMode", "Verdict", "colorize", "image_record", "normalize_maps",
    "mask_class", "overlay", "overlay_class", "overlays_zip", "png_bytes", "score_row", "scores_csv",
    "scores_json", "shown_classes", "unique_name", "unique_stem", "verdict_of",
]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)

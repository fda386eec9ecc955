"""Explain: images in, verdicts, maps and exports out.

- :mod:`~cam_core.explain.pipeline`: :class:`Explainer` (one model + one method, thread-safe) and
  :class:`Explanation` (verdict inputs and raw maps of one image);
- :mod:`~cam_core.explain.verdict`: the one verdict rule (called class, defect class, maps shown);
- :mod:`~cam_core.explain.render`: normalisation, colour maps, overlays, colour bars;
- :mod:`~cam_core.explain.export`: the one CSV / JSON / PNG export writer (CLI and app).
"""

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

__all__ = [
    "COLORMAPS", "DEFAULT_MODE", "NORMALIZATION_MODES", "OUTLINE_COLOR", "SCORE_COLUMNS", "Explainer", "Explanation",
    "ExportBatch", "FolderExport", "NormalizationMode", "Verdict", "colorize", "image_record", "normalize_maps",
    "mask_class", "overlay", "overlay_class", "overlays_zip", "png_bytes", "score_row", "scores_csv",
    "scores_json", "shown_classes", "unique_name", "unique_stem", "verdict_of",
]

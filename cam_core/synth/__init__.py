"""Deterministic synthetic machined parts (OK/NG, with exact defect masks) and a conveyor video.

    from cam_core.synth import render_part, generate_dataset
    sample = render_part(np.random.default_rng(0), kind="nut", defect="random")

Modules: :mod:`~cam_core.synth.raster` (coverage, blurs, noise, strokes), :mod:`~cam_core.synth.shapes`
(pose, plate and nut geometry, metal grain), :mod:`~cam_core.synth.defects` (the five defect types and
their masks), :mod:`~cam_core.synth.render` (one part: :func:`render_part`), :mod:`~cam_core.synth.conveyor`
(:func:`conveyor_frames`) and :mod:`~cam_core.synth.dataset` (folders on disk).
"""

from cam_core.synth.conveyor import conveyor_frames
from cam_core.synth.dataset import (
    MANIFEST_COLUMNS,
    generate_conveyor_dataset,
    generate_dataset,
    is_synthetic_dataset,
)
from cam_core.synth.defects import (
    DEFECT_TYPES,
    MASK_THRESHOLD,
    MAX_DEFECT_AREA,
    MAX_SOFT_DEFECT_AREA,
    MIN_DEFECT_AREA,
)
from cam_core.synth.render import DATA_DESCRIPTION, KINDS, SynthSample, render_part

__all__ = [
    "DATA_DESCRIPTION", "DEFECT_TYPES", "is_synthetic_dataset", "KINDS", "MANIFEST_COLUMNS", "MASK_THRESHOLD", "MAX_DEFECT_AREA",
    "MAX_SOFT_DEFECT_AREA", "MIN_DEFECT_AREA", "SynthSample", "conveyor_frames", "generate_conveyor_dataset",
    "generate_dataset", "render_part",
]

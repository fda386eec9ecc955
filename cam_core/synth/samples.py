"""The built-in samples: synthetic parts with fixed seeds, and the parts of the built-in conveyor clip.

One home for what the app offers as "built-in samples" and what the tests hold every shipped model to:
each sample has a known label, and a shipped model must classify every one correctly
(``tests/test_shipped_models.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cam_core.synth import SynthSample, conveyor_frames, render_part

SAMPLE_SIZE = 384
# label → (part kind, defect type or None, seed)
SAMPLES: dict[str, tuple[str, str | None, int]] = {
    "OK plate": ("plate", None, 11),
    "NG plate (scratch)": ("plate", "scratch", 12),
    "NG plate (crack)": ("plate", "crack", 13),
    "OK nut": ("nut", None, 21),
    "NG nut (pit)": ("nut", "pit", 22),
    "NG nut (stain)": ("nut", "stain", 23),
}
SAMPLE_CLIP_SEED = 0
SAMPLE_CLIP_SECONDS = 4.0
SAMPLE_CLIP_FPS = 15
#: The share of the built-in clip's frames a shipped model must call right (a frame is NG when a defect pixel is in
#: view; the frames where one just enters are hard). Held by ``tests/core/test_shipped_models.py``.
CLIP_FRAMES_RIGHT_MIN = 0.9


def render_sample(label: str, size: int = SAMPLE_SIZE) -> SynthSample:
    """The built-in sample called ``label`` (a key of :data:`SAMPLES`), rendered deterministically."""
    kind, defect, seed = SAMPLES[label]
    return render_part(np.random.default_rng(seed), kind=kind, size=size, defect=defect)


def sample_file_name(label: str) -> str:
    """``"NG plate (scratch)"`` → ``"ng-plate-scratch.png"``."""
    return label.lower().replace(" (", "-").replace(")", "").replace(" ", "-") + ".png"


def sample_clip_frames() -> tuple[list[np.ndarray], list[bool]]:
    """The built-in clip's frames and, for each, whether a defect pixel is in view (the frame's true label)."""
    frames, truth = [], []
    for frame, info in conveyor_frames(seed=SAMPLE_CLIP_SEED, n_frames=round(SAMPLE_CLIP_SECONDS * SAMPLE_CLIP_FPS),
                                       fps=SAMPLE_CLIP_FPS, masks=True):
        frames.append(frame)
        truth.append(bool(info["defect_mask"].any()))
    return frames, truth


@dataclass(frozen=True)
class ClipPart:
    """One part of the built-in conveyor clip, cropped from the frame where it is most centred."""

    part_id: int
    label: str
    defect_type: str
    frame_index: int
    image: Image.Image


def sample_clip_parts(seconds: float = SAMPLE_CLIP_SECONDS, fps: int = SAMPLE_CLIP_FPS,
                      seed: int = SAMPLE_CLIP_SEED) -> Iterator[ClipPart]:
    """Every part that passes fully through the built-in clip, cropped at its tile where it is most centred."""
    best: dict[int, tuple[float, int, np.ndarray, dict]] = {}
    for frame, info in conveyor_frames(seed=seed, n_frames=max(1, round(seconds * fps)), fps=fps):
        width = frame.shape[1]
        for part in info["parts"]:
            x0, y0, x1, y1 = part["bbox"]
            if x0 <= 0 or x1 >= width:          # only partly in view
                continue
            off_centre = abs(part["x"] - width / 2)
            if part["id"] not in best or off_centre < best[part["id"]][0]:
                best[part["id"]] = (off_centre, info["index"], frame[y0:y1, x0:x1].copy(), part)
    for part_id in sorted(best):
        _, index, crop, part = best[part_id]
        yield ClipPart(part_id, part["label"], part["defect_type"], index, Image.fromarray(crop))

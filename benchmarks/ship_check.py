"""Would a model pass the shipped-model test? Every built-in sample, every clip part, and the clip's frames.

    PYTHONPATH=. python benchmarks/ship_check.py MODEL [MODEL ...]

MODEL is a name or a .safetensors/.onnx path. Prints P(class) of each built-in sample, the clip parts it gets
wrong, and the clip's frames as two lines (N: called NG / a defect in view), as
``tests/core/test_shipped_models.py`` judges them (every sample and part right, frames right ≥ 90 %).
Exit status 0 when every model would pass, 1 otherwise.
"""

from __future__ import annotations

import sys

from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model
from cam_core.synth.samples import (
    CLIP_FRAMES_RIGHT_MIN,
    SAMPLES,
    render_sample,
    sample_clip_frames,
    sample_clip_parts,
)


def check(model: str) -> bool:
    wrong = []
    with Explainer(load_model(model, device="cpu")) as explainer:
        for label in SAMPLES:
            result = explainer.explain_one(render_sample(label).image)
            expected = "ok" if label.startswith("OK") else "ng"
            probabilities = " ".join(f"{c} {p:.3f}" for c, p in zip(result.classes, result.probabilities))
            print(f"  {label:22s} {result.predicted_class:3s} ({probabilities})")
            if result.predicted_class != expected:
                wrong.append(label)
        for part in sample_clip_parts():
            if explainer.explain_one(part.image).predicted_class != part.label:
                wrong.append(f"clip part {part.part_id} ({part.label})")
        frames, truth = sample_clip_frames()
        called = [e.predicted_class == "ng" for e in explainer.explain(frames)]
    right = sum(c == t for c, t in zip(called, truth))
    print(f"  called NG  {''.join('N' if c else '.' for c in called)}")
    print(f"  defect     {''.join('N' if t else '.' for t in truth)}")
    passes = not wrong and right >= CLIP_FRAMES_RIGHT_MIN * len(truth)
    print(f"{model}: wrong {wrong or 'none'}; clip frames right {right}/{len(truth)} -> "
          f"{'passes' if passes else 'fails'}")
    return passes


if __name__ == "__main__":
    sys.exit(0 if all([check(m) for m in sys.argv[1:]]) else 1)

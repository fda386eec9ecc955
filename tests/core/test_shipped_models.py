"""Every shipped model passes its own demo: it classifies every built-in sample correctly.

The built-in samples are what a new user sees first (the Explain page's samples, and the parts of the
Video page's conveyor clip). A map that explains a wrong answer is worse than none, so a shipped model
that gets one of them wrong fails here.
"""

from __future__ import annotations

import pytest

from cam_core.checkpoints import (
    DEFAULT_MODEL,
    LEGACY_SYNTHETIC_TEXT,
    SHIPPED_MODELS_DIR,
    list_models,
    read_card,
)
from cam_core.explain.pipeline import Explainer
from cam_core.models import load_model
from cam_core.synth.samples import (
    CLIP_FRAMES_RIGHT_MIN,
    SAMPLES,
    render_sample,
    sample_clip_frames,
    sample_clip_parts,
)

SHIPPED = sorted(p.stem for p in SHIPPED_MODELS_DIR.glob("*.safetensors") if not p.name.startswith("."))


@pytest.fixture(scope="module")
def clip_parts() -> list:
    parts = list(sample_clip_parts())
    assert {p.label for p in parts} == {"ok", "ng"}, "the clip must show OK and NG parts"
    return parts


def test_the_default_model_is_shipped_and_fine_tuned_from_imagenet() -> None:
    assert DEFAULT_MODEL in SHIPPED and DEFAULT_MODEL in list_models()
    card = read_card(SHIPPED_MODELS_DIR / f"{DEFAULT_MODEL}.safetensors")
    assert card["training"]["pretrained"]["used"] is True
    assert "ImageNet" in card["training"]["pretrained"]["source"]


@pytest.mark.parametrize("name", SHIPPED)
def test_card_says_what_the_model_knows(name: str) -> None:
    from cam_core.checkpoints import read_model_card

    path = SHIPPED_MODELS_DIR / f"{name}.safetensors"
    card = read_card(path)
    # cards written before data_kind existed say it by their old sentence only
    assert card.get("data_kind") == "synthetic" or card.get("trained_on") == LEGACY_SYNTHETIC_TEXT
    assert read_model_card(path).synthetic_only   # warned about everywhere
    assert card.get("domain"), "a shipped model carries a domain reference (benchmarks/ship_reference.sh)"


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_built_in_sample_is_classified_right(name: str, clip_parts: list) -> None:
    bundle = load_model(name, device="cpu")
    wrong = []
    with Explainer(bundle) as explainer:
        for label in SAMPLES:
            expected = "ok" if label.startswith("OK") else "ng"
            result = explainer.explain_one(render_sample(label).image)
            if result.predicted_class != expected:
                wrong.append(f"{label}: {result.predicted_class} {max(result.probabilities):.2f}")
        for part in clip_parts:
            result = explainer.explain_one(part.image)
            if result.predicted_class != part.label:
                wrong.append(f"clip part {part.part_id} ({part.label}, frame {part.frame_index}): "
                             f"{result.predicted_class} {max(result.probabilities):.2f}")
    assert not wrong, f"{name} gets built-in samples wrong: {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_the_built_in_clips_frames_are_called_ng_when_a_defect_is_in_view(name: str) -> None:
    frames, truth = sample_clip_frames()
    assert any(truth) and not all(truth)
    with Explainer(load_model(name, device="cpu")) as explainer:
        called = [e.predicted_class == "ng" for e in explainer.explain(frames)]
    right = sum(c == t for c, t in zip(called, truth)) / len(truth)
    assert right >= CLIP_FRAMES_RIGHT_MIN, ("".join("N" if c else "." for c in called), "".join("N" if t else "." for t in truth))

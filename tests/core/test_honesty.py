"""Flags beside evaluation figures, leakage from the training data, and the end-of-training judgement."""

from __future__ import annotations

import numpy as np
import pytest

from cam_core.checkpoints import ModelCard
from cam_core.evaluation import pointing_chance
from cam_core.evaluation.honesty import (
    auroc_flags,
    class_count_flags,
    evaluation_flags,
    leakage,
    localization_flags,
    training_hashes,
)
from cam_core.training.summary import accuracy_margin, training_summary, validation_judgement


def codes(flags) -> list[str]:  # noqa: ANN001
    return [f.code for f in flags]


def test_inverted_ranking_fires_below_one_half() -> None:
    assert codes(auroc_flags(0.149)) == ["ranking_inverted"]
    assert "inverted" in auroc_flags(0.149)[0].text


@pytest.mark.parametrize("value", [0.5, 0.93, None, float("nan")])
def test_inverted_ranking_stays_quiet(value) -> None:  # noqa: ANN001
    assert auroc_flags(value) == []


def test_few_images_fires_per_small_class_and_stays_quiet_at_twenty() -> None:
    assert codes(class_count_flags({"ok": 19, "ng": 40})) == ["few_images"]
    assert "19 images of class ok" in class_count_flags({"ok": 19, "ng": 40})[0].text
    assert class_count_flags({"ok": 20, "ng": 20}) == []


def test_pointing_near_chance_fires_when_masks_make_it_free() -> None:
    overall = {"n": 16, "pointing": 0.889, "pointing_chance": 0.82, "energy_ratio": 3.4}
    assert codes(localization_flags(overall)) == ["pointing_near_chance"]


def test_pointing_well_above_chance_stays_quiet() -> None:
    assert localization_flags({"n": 16, "pointing": 0.889, "pointing_chance": 0.30, "energy_ratio": 3.4}) == []


def test_energy_near_chance_fires_and_stays_quiet() -> None:
    base = {"n": 10, "pointing": 0.9, "pointing_chance": 0.1}
    assert codes(localization_flags({**base, "energy_ratio": 1.2})) == ["energy_near_chance"]
    assert localization_flags({**base, "energy_ratio": 2.5}) == []


def test_no_masks_no_localization_flags() -> None:
    assert localization_flags({"n": 0, "pointing": float("nan"), "energy_ratio": float("nan")}) == []


def test_all_flags_together() -> None:
    flags = evaluation_flags(0.2, {"ok": 5, "ng": 30}, {"n": 3, "pointing": 0.5, "pointing_chance": 0.45,
                                                           "energy_ratio": 1.0})
    assert codes(flags) == ["ranking_inverted", "few_images", "pointing_near_chance", "energy_near_chance"]


def test_pointing_chance_is_the_share_within_the_tolerance() -> None:
    mask = np.zeros((100, 100), bool)
    mask[40:60, 40:60] = True
    assert pointing_chance(mask, 0) == pytest.approx(0.04)
    # a 20×20 square widened by 10 px: 40×40 minus the four rounded corners (4·(100 − π·25) px)
    assert pointing_chance(mask, 10) == pytest.approx((1600 - 4 * (100 - np.pi * 25)) / 10000, abs=0.01)
    assert pointing_chance(np.ones((50, 80), bool), 3) == 1.0
    with pytest.raises(ValueError):
        pointing_chance(np.zeros((5, 5), bool), 1)


def _rows() -> list[dict]:
    rows = []
    for i in range(10):
        label = "ng" if i % 2 else "ok"
        rows.append({"sha256": f"h{i}", "label": label, "predicted": label if i < 8 else "ok",
                     "p_ng": 0.9 if label == "ng" else 0.1})
    return rows


def test_leakage_counts_shared_files_and_scores_the_rest() -> None:
    known = training_hashes(ModelCard(arch="a", classes=("ok", "ng"), input_size=(8, 8),
                                     data_hashes={"train": ["h0", "h1"], "val": ["h2", "h3"]}))
    assert known == {"h0", "h1", "h2", "h3"}
    leak = leakage(_rows(), known, ["ok", "ng"], 1)
    assert leak is not None
    assert (leak["shared"], leak["of"], leak["n_without"]) == (4, 10, 6)
    assert leak["accuracy_without"] == pytest.approx(5 / 6)     # h9 (ng) was called ok
    assert leak["auroc_without"] == pytest.approx(1.0)


def test_no_hashes_no_leakage_figure_and_disjoint_sets_share_nothing() -> None:
    assert leakage(_rows(), training_hashes(ModelCard(arch="a", classes=("ok", "ng"), input_size=(8, 8))), ["ok", "ng"], 1) is None
    leak = leakage(_rows(), {"x", "y"}, ["ok", "ng"], 1)
    assert leak is not None and leak["shared"] == 0 and leak["n_without"] == 10


def test_small_validation_says_so_in_words() -> None:
    small = validation_judgement({"ok": 5, "ng": 3}, 0.625)
    assert small.startswith("too small to judge the model") and "8 validation images" in small
    assert "±0.34" in small
    large = validation_judgement({"ok": 700, "ng": 700}, 0.96)
    assert "too small" not in large and "1400 validation images" in large
    assert accuracy_margin(0.5, 100) == pytest.approx(0.098, abs=1e-3)


def test_training_summary_lines() -> None:
    card = {"validation": {"accuracy": 0.625, "auroc": 0.4, "n_images": 8,
                           "judgement": validation_judgement({"ok": 5, "ng": 3}, 0.625),
                           "flags": [{"code": "few_images", "text": "only 3 validation images of class ng"}]},
            "decision_calibration": {"defect_logit_offset": 0.0, "skipped": "fewer than 10 validation images"}}
    lines = training_summary(ModelCard.from_dict({"arch": "a", "classes": ["ok", "ng"], "input_size": [8, 8], **card}))
    assert lines[0] == "validation: accuracy 0.625, AUROC 0.400 on 8 images"
    assert any(line.startswith("judgement: too small") for line in lines)
    assert "threshold calibration: fewer than 10 validation images" in lines
    assert "FLAG: only 3 validation images of class ng" in lines
    assert lines[-1].startswith("domain reference: none")

"""Group-aware calibration of the domain threshold: distances to the reference rows of other groups, and the
threshold it gives for images of a new group (acquisition run)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cam_core.domain import HELD_OUT_IMAGES, DomainModel, DomainReference, build, knn_distances, normalised
from cam_core.domain.build import MARGIN, QUANTILE, fit_domain
from cam_core.domain.calibration import farthest_group_threshold, group_ids, unseen_group_distances


def _runs(n_runs: int, per_run: int, seed: int, dim: int = 32, between: float = 0.25, within: float = 0.03
          ) -> tuple[torch.Tensor, list[str | None]]:
    """Features of ``n_runs`` acquisition runs: a shared base, one offset per run (sd ``between``) and per-image
    noise (sd ``within``); rows of run ``i`` are named ``run{seed}_{i}``."""
    rng = np.random.default_rng(seed)
    base = np.linspace(0.5, 1.5, dim)
    rows, names = [], []
    for i in range(n_runs):
        centre = base + between * rng.standard_normal(dim)
        rows.append(centre + within * rng.standard_normal((per_run, dim)))
        names += [f"run{seed}_{i}"] * per_run
    return torch.from_numpy(np.concatenate(rows)).float(), list(names)


def test_group_ids_are_shared_across_sets_and_none_is_alone() -> None:
    ref, held = group_ids(["a", "b", None, "a", None], ["b", "c", None])
    assert ref[0] == ref[3] != ref[1] and held[0] == ref[1]
    singles = [ref[2], ref[4], held[2]]
    assert len(set(singles)) == 3 and not set(singles) & {ref[0], ref[1], held[1]}


def test_a_row_is_never_matched_to_its_own_group() -> None:
    reference = normalised(torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.6, 0.8]]))
    ids = np.array([0, 0, 1, 2])
    d = unseen_group_distances(reference, ids, reference, ids, k=1)
    # rows 0 and 1 are identical twins of group 0, yet each must go to the nearest row of groups 1 or 2
    expected = 1.0 - (reference[:2] @ reference[3]).numpy()
    assert d[:2] == pytest.approx(expected, abs=1e-6)
    assert d[2] == pytest.approx(1.0 - 0.8, abs=1e-6)


def test_ungrouped_rows_give_the_leave_one_out_distances() -> None:
    reference = normalised(_runs(3, 10, seed=1)[0])
    ids = group_ids([None] * reference.shape[0])[0]
    d = unseen_group_distances(reference, ids, reference, ids, k=3)
    assert np.allclose(d, knn_distances(reference, reference, 3, exclude_self=True).numpy(), atol=1e-6)


def test_k_shrinks_to_the_rows_of_other_groups_and_one_group_alone_is_refused() -> None:
    reference = normalised(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]]))
    ids = np.array([0, 0, 0, 1])
    d = unseen_group_distances(reference, ids, reference, ids, k=5)      # group 0 has one other row: k' = 1
    assert d[:3] == pytest.approx((1.0 - reference[:3] @ reference[3]).numpy(), abs=1e-6)
    with pytest.raises(ValueError, match="whole reference"):
        unseen_group_distances(reference, np.zeros(4, dtype=np.int64), reference, np.zeros(4, dtype=np.int64), 5)


def _calibrated_on_runs(seed: int) -> tuple[float, float, float, float, DomainModel]:
    """One draw: 8 reference runs (40 images each), 2 held-out runs, 6 new runs. Returns the share of the new
    runs' images flagged by the per-image and by the grouped threshold, the share of new images of the known
    runs and of foreign images flagged by the grouped one, and the grouped model."""
    rows, names = _runs(8, 50, seed=10 * seed)
    first = torch.tensor([i % 50 < 40 for i in range(400)])
    reference, ref_groups = rows[first], [n for n, f in zip(names, first.tolist()) if f]
    known = rows[~first]                                          # new images of the known runs
    val, val_groups = _runs(2, 40, seed=10 * seed + 1)             # two whole runs held out
    new_runs = _runs(6, 40, seed=10 * seed + 2)[0]                 # runs neither fit saw
    foreign = torch.from_numpy(np.r_[np.full(16, 1.5), np.full(16, 0.2)]).float() + 0.03 * torch.randn(
        20, 32, generator=torch.Generator().manual_seed(seed))
    per_image = fit_domain(reference, known, layer="f", source="s")
    grouped = fit_domain(reference, val, layer="f", source="s", reference_groups=ref_groups,
                         held_out_groups=val_groups)

    def flagged(model: DomainModel, rows: torch.Tensor) -> float:
        return float(np.mean(model.distances(rows) > model.reference.threshold))

    return (flagged(per_image, new_runs), flagged(grouped, new_runs), flagged(grouped, known),
            flagged(grouped, foreign), grouped)


def test_grouped_threshold_covers_new_runs_where_the_per_image_one_does_not() -> None:
    draws = [_calibrated_on_runs(seed) for seed in range(12)]
    per_image, grouped, known, foreign = (np.mean([d[i] for d in draws]) for i in range(4))
    assert per_image > 0.5                 # a new run lies beyond the line drawn for new images of known runs
    assert grouped <= 0.05                 # ... and mostly within the line drawn from whole held-out runs
    assert known == 0.0 and foreign == 1.0
    ref = draws[0][4].reference
    assert ref.calibration == ("held-out groups (leave-one-group-out over 8 reference groups, and 80 held-out "
                               "images of 2 groups; the farthest of 10 groups of ≥ 20 images)")
    assert ref.n_calibration == 320 + 80 and ref.n_reference == 320


def test_the_threshold_is_the_margin_times_the_farthest_groups_quantile() -> None:
    reference, ref_groups = _runs(4, 25, seed=3)
    val, val_groups = _runs(1, 12, seed=4)                         # fewer than MIN_CALIBRATION: pooled only
    model = fit_domain(reference, val, layer="f", source="s", reference_groups=ref_groups, held_out_groups=val_groups)
    ref_ids, val_ids = group_ids(ref_groups, val_groups)
    own = unseen_group_distances(model.vectors, ref_ids, model.vectors, ref_ids, model.reference.k)
    held = unseen_group_distances(normalised(val), val_ids, model.vectors, ref_ids, model.reference.k)
    lines = [np.quantile(np.r_[own, held], QUANTILE)] + [np.quantile(own[ref_ids == g], QUANTILE)
                                                         for g in np.unique(ref_ids)]
    assert model.reference.threshold == pytest.approx(MARGIN * float(max(lines)), rel=1e-6)
    assert model.reference.quantile == QUANTILE and model.reference.margin == MARGIN
    assert model.reference.calibration.endswith("the farthest of 4 groups of ≥ 20 images)")


def test_a_far_group_is_not_outvoted_by_many_close_ones_and_a_tiny_one_sets_no_line() -> None:
    rng = np.random.default_rng(0)
    close = [rng.uniform(0.005, 0.01, 100) for _ in range(30)]
    distances = np.concatenate([*close, np.full(20, 0.05), np.full(5, 0.5)])
    ids = np.repeat(np.arange(32), [100] * 30 + [20, 5])
    pooled = MARGIN * np.quantile(distances, QUANTILE)
    line, n_large = farthest_group_threshold(distances, ids, QUANTILE, MARGIN, n_min=20)
    assert pooled < 0.011 * MARGIN                   # the far group is 0.6 % of the rows: below the pooled 99 %
    assert line == pytest.approx(0.05 * MARGIN) and n_large == 31


def test_one_named_group_keeps_the_per_image_calibration() -> None:
    reference, _ = _runs(1, 30, seed=5)
    val, _ = _runs(1, 25, seed=5)
    plain = fit_domain(reference, val, layer="f", source="s")
    one = fit_domain(reference, val, layer="f", source="s", reference_groups=["a"] * 30, held_out_groups=["b"] * 25)
    assert one.reference == plain.reference and one.reference.calibration == HELD_OUT_IMAGES


def test_groups_stay_with_their_rows_when_the_reference_is_subsampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "MAX_REFERENCE", 30)
    near, far = torch.ones(40, 8), -torch.ones(40, 8)
    noise = 0.01 * torch.randn(80, 8, generator=torch.Generator().manual_seed(0))
    reference = torch.cat([near, far]) + noise
    model = fit_domain(reference, torch.zeros(0, 8), layer="f", source="s",
                       reference_groups=["near"] * 40 + ["far"] * 40, held_out_groups=[])
    # each row's only other group is the opposite cluster: cosine distance ≈ 2 for every calibration row
    assert model.reference.n_reference == 30 and model.reference.threshold > 1.9 * MARGIN


def test_group_counts_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match="one group per"):
        fit_domain(torch.ones(4, 3), torch.ones(2, 3), layer="f", source="s", reference_groups=["a", "b"])


def test_cards_without_the_field_read_as_held_out_images() -> None:
    rows, names = _runs(2, 10, seed=6)
    raw = fit_domain(rows, rows[:3], layer="f", source="s").reference.to_dict()
    del raw["calibration"]
    assert DomainReference.from_dict(raw).calibration == HELD_OUT_IMAGES
    grouped = fit_domain(rows, torch.zeros(0, 32), layer="f", source="s", reference_groups=names,
                         held_out_groups=[]).reference
    assert grouped.calibration.startswith("held-out groups") and DomainReference.from_dict(grouped.to_dict()) == grouped

"""Making a domain reference from in-domain images: :func:`fit_domain` (features → reference + threshold) and
:func:`reference_from_folder` (a folder of images → a model's reference, for ``reference`` and ``import --reference``).

The threshold: the reference vectors are fitted on one part of the in-domain images, the distances of the
other part (held out: the validation split in training, a random share of the folder otherwise) are the
in-domain distances, and

    threshold = MARGIN × quantile_{QUANTILE}(calibration distances)

With QUANTILE = 0.99 about 1 % of new in-domain images would lie past the quantile itself; MARGIN = 1.1 leaves
room for the quantile's own sampling error (a few hundred distances) and for float16 reference vectors.

Which distances calibrate it: when the images come in named groups (acquisition runs: training with
``--group-pattern``) and the reference holds at least two, those of whole groups to a reference without them
(:mod:`cam_core.domain.calibration`: leave-one-group-out over the reference groups, with the held-out groups
against the reference), so that the line is drawn for "an image of a new run", not "a new image of a known run";
the quantile is then taken per group and the farthest group's sets the line:
``MARGIN × max(quantile(all), max_g quantile(group g))``, groups of at least :data:`MIN_CALIBRATION` images.
Otherwise those of the held-out images against the reference (with fewer than :data:`MIN_CALIBRATION` of them,
the reference's own leave-one-out distances join). The reference vectors are always all the reference images
(up to :data:`MAX_REFERENCE`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cam_core.domain.calibration import (
    farthest_group_threshold,
    group_ids,
    named_groups,
    unseen_group_distances,
)
from cam_core.domain.features import FEATURES_KIND
from cam_core.domain.reference import HELD_OUT_IMAGES, DomainReference
from cam_core.domain.scorer import DomainModel, calibrated_threshold, knn_distances, normalised
from cam_core.errors import InputError

__all__ = ["CALIBRATION_SHARE", "K_NEAREST", "MARGIN", "MAX_REFERENCE", "MIN_CALIBRATION", "QUANTILE", "fit_domain",
           "image_features", "reference_from_folder"]

K_NEAREST = 5
QUANTILE = 0.99
MARGIN = 1.1               # 10 % above the held-out quantile: a new in-domain image is rarely past it
MAX_REFERENCE = 1000       # reference vectors kept (a random subset beyond): ≤ 5 MB of float16 for 2560 features
MIN_CALIBRATION = 20       # fewer held-out images: the reference's own leave-one-out distances join them
CALIBRATION_SHARE = 0.25   # share of a folder held out for the threshold (reference_from_folder)


def fit_domain(reference: Tensor, held_out: Tensor, *, layer: str, source: str, seed: int = 0,
               measured: dict[str, Any] | None = None, reference_groups: Sequence[str | None] | None = None,
               held_out_groups: Sequence[str | None] | None = None) -> DomainModel:
    """The domain model of ``reference`` features (R×D raw) with its threshold from ``held_out`` (H×D raw).

    At most :data:`MAX_REFERENCE` reference vectors are kept (a seeded random subset). ``reference_groups`` and
    ``held_out_groups`` (one name or ``None`` per row): with two or more named groups among the kept reference
    rows, the threshold is calibrated on whole held-out groups (module docstring); else on the held-out images,
    and with fewer than :data:`MIN_CALIBRATION` of them the reference's leave-one-out distances join theirs."""
    if reference.shape[0] < 2:
        raise InputError("a domain reference needs at least 2 in-domain images")
    ref_groups = list(reference_groups) if reference_groups is not None else [None] * reference.shape[0]
    held_groups = list(held_out_groups) if held_out_groups is not None else [None] * held_out.shape[0]
    if len(ref_groups) != reference.shape[0] or len(held_groups) != held_out.shape[0]:
        raise ValueError("one group per reference and held-out row is needed")
    if reference.shape[0] > MAX_REFERENCE:
        keep = torch.randperm(reference.shape[0], generator=torch.Generator().manual_seed(seed))[:MAX_REFERENCE]
        reference = reference[keep]
        ref_groups = [ref_groups[i] for i in keep.tolist()]
    k = min(K_NEAREST, reference.shape[0] - 1)
    record = DomainReference(layer=layer, features=FEATURES_KIND, k=k, threshold=0.0,
                             n_reference=int(reference.shape[0]), n_calibration=0,
                             quantile=QUANTILE, margin=MARGIN, source=source, measured=measured)
    model = DomainModel.fit(reference, record)
    if len(named_groups(ref_groups)) >= 2:
        distances, threshold, calibration = _group_calibration(model, held_out, ref_groups, held_groups)
    else:
        distances, calibration = _image_distances(model, held_out)
        threshold = calibrated_threshold(distances, QUANTILE, MARGIN)
    record = replace(record, n_calibration=int(distances.shape[0]), calibration=calibration, threshold=threshold)
    return replace(model, reference=record)


def _image_distances(model: DomainModel, held_out: Tensor) -> tuple[np.ndarray, str]:
    """The held-out images' distances (and the reference's leave-one-out ones when they are too few)."""
    distances = model.distances(held_out) if held_out.shape[0] else np.zeros(0)
    if held_out.shape[0] >= MIN_CALIBRATION:
        return distances, HELD_OUT_IMAGES
    own = knn_distances(model.vectors, model.vectors, model.reference.k, exclude_self=True).numpy()
    return np.concatenate([distances, own]), f"{HELD_OUT_IMAGES} and the reference's leave-one-out distances"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _group_calibration(model: DomainModel, held_out: Tensor, ref_groups: Sequence[str | None],
                       held_groups: Sequence[str | None]) -> tuple[np.ndarray, float, str]:
    """(leave-one-group-out distances of the reference rows with the held-out rows' distances to the reference
    rows of other groups, the farthest group's threshold, the words for the card)."""
    ref_ids, held_ids = group_ids(ref_groups, held_groups)
    k = model.reference.k
    own = unseen_group_distances(model.vectors, ref_ids, model.vectors, ref_ids, k)
    held = unseen_group_distances(normalised(held_out), held_ids, model.vectors, ref_ids, k)
    distances = np.concatenate([own, held])
    threshold, n_large = farthest_group_threshold(distances, np.concatenate([ref_ids, held_ids]), QUANTILE, MARGIN,
                                                  MIN_CALIBRATION)
    words = f"held-out groups (leave-one-group-out over {_count(len(named_groups(ref_groups)), 'reference group')}"
    if held.shape[0]:
        words += f", and {held.shape[0]} held-out images of {_count(len(named_groups(held_groups)), 'group')}"
    words += (f"; the farthest of {_count(n_large, 'group')} of ≥ {MIN_CALIBRATION} images)" if n_large else
              f"; pooled, no group of ≥ {MIN_CALIBRATION} images)")
    return distances, threshold, words


def image_features(bundle: Any, images: Iterable[Any], batch_size: int = 16) -> tuple[Tensor, str]:
    """``(N×D features, layer)`` of ``images`` (PIL or arrays) with ``bundle``'s CAM extractor: one pass each,
    batched by input size as the Explainer does."""
    from cam_core.explain.pipeline import make_model_extractor

    extractor = make_model_extractor(bundle, "cam", domain=True)
    rows: list[Tensor] = []
    layer = ""
    try:
        pending: dict[tuple[int, int], list[Any]] = {}

        def flush(size: tuple[int, int]) -> None:
            nonlocal layer
            out = extractor(bundle.preprocess(pending.pop(size), size))
            if out.features is None:
                raise InputError(f"{bundle.name}: its CAM head gives no domain features")
            rows.append(out.features.cpu())
            layer = out.features_layer or ""

        for image in images:
            size = bundle.input_size_for(image)
            pending.setdefault(size, []).append(image)
            if len(pending[size]) >= batch_size:
                flush(size)
        for size in list(pending):
            flush(size)
    finally:
        extractor.close()
    if not rows:
        raise InputError("no readable images to make a domain reference from")
    return torch.cat(rows), layer


def _load_all(paths: Sequence[Path], skipped: list[str]) -> Iterable[Any]:
    from cam_core.data.imaging import load_image

    for path in paths:
        try:
            yield load_image(path).image
        except InputError as exc:
            skipped.append(f"{path.name}: {exc}")


def reference_from_folder(bundle: Any, folder: str | Path, *, seed: int = 0,
                          progress: Callable[[str], None] | None = None) -> tuple[DomainModel, list[str]]:
    """The domain model of ``bundle`` from the images in ``folder`` (recursively; ``masks/`` folders skipped):
    a random :data:`CALIBRATION_SHARE` is held out for the threshold. Returns it and the skipped files."""
    from cam_core.data.dataset import is_masks_folder
    from cam_core.data.imaging import iter_image_files

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    paths = sorted(p for p in iter_image_files([folder]) if not any(is_masks_folder(q) for q in p.relative_to(folder).parts[:-1]))
    if len(paths) < 10:
        raise InputError(f"{folder} holds {len(paths)} images; a domain reference needs at least 10")
    order = np.random.default_rng(seed).permutation(len(paths))
    n_held = max(1, int(round(CALIBRATION_SHARE * len(paths))))
    held_paths = [paths[i] for i in order[:n_held]]
    ref_paths = [paths[i] for i in order[n_held:]]
    skipped: list[str] = []
    say = progress or (lambda _: None)
    say(f"features of {len(ref_paths)} reference images")
    ref, layer = image_features(bundle, _load_all(ref_paths, skipped))
    say(f"features of {len(held_paths)} held-out images")
    held, _ = image_features(bundle, _load_all(held_paths, skipped))
    model = fit_domain(ref, held, layer=layer, source=str(folder), seed=seed)
    return model, skipped
